import random

import pytest

from ichigo.eval.generation import audio_prompt, generate_batch
from ichigo.eval.inaudible import random_code_items
from ichigo.model.checkpoint import load_pretrained
from ichigo.model.generate import generate_text
from ichigo.errors import InputError


@pytest.mark.slow  # needs the trained healthy model
def test_batched_greedy_equals_the_serving_decoder(healthy_llm_dir, eval_set):
    lm = load_pretrained(healthy_llm_dir)
    qa = eval_set["qa"][:6]
    prompts = [audio_prompt(lm, it.codes) for it in qa]
    prompts += [audio_prompt(lm, it.codes, "Transcribe the following audio clip:") for it in qa[:3]]
    prompts += [audio_prompt(lm, it.codes) for it in random_code_items([20, 90], 3, seed=5)]
    random.Random(0).shuffle(prompts)
    assert len({len(p) for p in prompts}) > 3  # really mixed lengths: left padding is exercised
    batched = generate_batch(lm, prompts, 24)
    one_by_one = [generate_text(lm.model, lm.tokenizer, p, 24) for p in prompts]
    assert batched == one_by_one
    assert sum(bool(b.strip()) for b in batched) == len(prompts)  # real answers, not empty strings


def test_context_overflow_is_an_input_error(tiny_llm_dir):
    lm = load_pretrained(tiny_llm_dir)
    with pytest.raises(InputError, match="exceeds the model's context"):
        generate_batch(lm, [audio_prompt(lm, [1] * 1000)], 64)
