import json

import pytest

import torch
from tokenizers import AddedToken, Tokenizer, models

from ichigo.chat_template import SPECIAL_TOKENS
from ichigo.model import ModelArgs, build_model, extend_vocab, load_pretrained, save_pretrained
from ichigo.model.base_model import init_weights
from ichigo.model.tokenizer import IchigoTokenizer
from ichigo.sound_tokens import NEW_TOKENS


def llama31_sized_tokenizer() -> IchigoTokenizer:
    """A tokenizer with exactly Llama-3.1's 128256 ids (128250 words + 6 specials)."""
    vocab = {f"w{i}": i for i in range(128250 - 1)}
    vocab["[UNK]"] = 128249
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    assert tk.get_vocab_size(with_added_tokens=True) == 128256
    return IchigoTokenizer(tk)


def assert_new_rows_spread_like_old(weight: torch.Tensor, base_vocab: int) -> None:
    """New rows are distinct tokens drawn around the old rows' mean with their per-dim spread (all at
    the mean, the network could not tell one sound code from another)."""
    old, new = weight[:base_vocab].detach().float(), weight[base_vocab:].detach().float()
    assert torch.cdist(new, new).add(torch.eye(len(new)) * 1e9).min() > 0.1 * old.std(0).norm()
    tol = 4 * old.std(0) / len(new) ** 0.5  # the sample mean of len(new) draws, ~4 sigma
    assert ((new.mean(0) - old.mean(0)).abs() < tol).all()
    ratio = new.std(0) / old.std(0)
    assert ((ratio > 0.8) & (ratio < 1.2)).all(), ratio


def test_new_rows_are_distinct_and_the_same_on_every_run():
    args = ModelArgs(vocab_size=64, embed_dim=16, num_layers=1, num_heads=2, num_kv_heads=1,
                     intermediate_dim=32, max_seq_len=32)
    vocab = {f"w{i}": i for i in range(64 - len(SPECIAL_TOKENS))}
    rows = []
    for _ in range(2):
        tk = Tokenizer(models.WordLevel(vocab, unk_token="w0"))
        tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
        torch.manual_seed(1)
        model = build_model(args)
        init_weights(model)
        torch.manual_seed(2)  # the global RNG does not decide the new rows
        model, _, _ = extend_vocab(model, IchigoTokenizer(tk), args)
        rows.append(model.tok_embeddings.weight[64:].detach().clone())
    torch.testing.assert_close(rows[0], rows[1], rtol=0, atol=0)
    assert_new_rows_spread_like_old(model.tok_embeddings.weight, 64)


@pytest.mark.slow
def test_extension_on_a_128256_base_gives_the_llama31_ids(tmp_path):
    tok = llama31_sized_tokenizer()
    args = ModelArgs(vocab_size=128256, embed_dim=16, num_layers=1, num_heads=2, num_kv_heads=1,
                     intermediate_dim=32, max_seq_len=64)
    torch.manual_seed(0)
    model = build_model(args)
    init_weights(model)
    x = torch.randint(0, 128256, (2, 12))
    with torch.no_grad():
        before = model(x)
    model, tok2, args2 = extend_vocab(model, tok, args)
    vocab = tok2.tk.get_vocab(with_added_tokens=True)
    assert vocab["<|sound_start|>"] == 128256 and vocab["<|sound_end|>"] == 128257
    assert [vocab[f"<|sound_{c:04d}|>"] for c in (0, 512)] == [128258, 128770]
    assert args2.vocab_size == tok2.vocab_size == 128771
    with torch.no_grad():
        after = model(x)
    # old-token logits are unchanged
    torch.testing.assert_close(after[..., :128256], before, rtol=0, atol=0)
    assert_new_rows_spread_like_old(model.tok_embeddings.weight, 128256)
    assert_new_rows_spread_like_old(model.output.weight, 128256)
    save_pretrained(model, tok2, args2, tmp_path / "m")
    assert json.loads((tmp_path / "m/config.json").read_text())["vocab_size"] == 128771
    lm = load_pretrained(tmp_path / "m")
    assert lm.tokenizer.sound.start_id == 128256
    with torch.no_grad():
        torch.testing.assert_close(lm.model(x), after)


def test_every_sound_token_is_one_id_in_the_saved_tokenizer(tiny_llm_dir):
    tok = IchigoTokenizer.load(tiny_llm_dir)
    base = tok.sound.start_id
    for i, t in enumerate(NEW_TOKENS):
        assert tok.encode(t) == [base + i]
    assert tok.encode("<|sound_start|><|sound_0007|><|sound_end|>") == [base, base + 2 + 7, base + 1]


def test_extending_twice_or_mismatched_pairs_fails(tiny_llm_dir):
    import pytest

    lm = load_pretrained(tiny_llm_dir)
    with pytest.raises(ValueError, match="already has sound tokens"):
        lm.tokenizer.with_sound_tokens()
    with pytest.raises(ValueError, match="differ"):
        extend_vocab(lm.model, lm.tokenizer, lm.args.with_vocab(10))
