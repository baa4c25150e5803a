import pytest
import torch

from ichigo.chat_template import Message, tokenize_chat
from ichigo.errors import InputError
from ichigo.model import load_pretrained, stream_generate


def greedy_without_cache(model, prompt, n):
    ids = list(prompt)
    out = []
    with torch.no_grad():
        for _ in range(n):
            nxt = int(model(torch.tensor([ids]))[0, -1].argmax())
            out.append(nxt)
            ids.append(nxt)
    return out


def test_kv_cache_generation_matches_full_recompute(tiny_llm_dir):
    lm = load_pretrained(tiny_llm_dir)
    prompt = tokenize_chat([Message("user", "what is the capital of france")], lm.tokenizer,
                           add_generation_prompt=True).ids
    got = list(stream_generate(lm.model, prompt, 10, stop_ids=set()))
    assert got == greedy_without_cache(lm.model, prompt, 10)
    # the model is usable for plain forwards again afterwards (caches removed)
    assert not lm.model.caches_are_enabled()


def test_sampling_is_seeded_and_limits_are_enforced(tiny_llm_dir):
    lm = load_pretrained(tiny_llm_dir)
    a = list(stream_generate(lm.model, [1, 2, 3], 8, set(), temperature=1.0, top_k=20, seed=3))
    b = list(stream_generate(lm.model, [1, 2, 3], 8, set(), temperature=1.0, top_k=20, seed=3))
    assert a == b
    with pytest.raises(InputError, match="exceeds"):
        list(stream_generate(lm.model, [1] * lm.model.max_seq_len, 4, set()))
    with pytest.raises(InputError, match="empty"):
        list(stream_generate(lm.model, [], 4, set()))
