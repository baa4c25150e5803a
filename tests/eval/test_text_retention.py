import pytest
import torch

from ichigo.errors import ConfigError, InputError
from ichigo.eval.cache import ItemCache
from tests.eval.eval_helpers import embedded_mc_set
from ichigo.eval.mc import MCItem
from ichigo.eval.scoring import continuation_logprobs, next_token_logprobs
from ichigo.eval.text_retention import build_context, letter_ids, relative_drop, text_retention
from ichigo.model.checkpoint import load_pretrained


class AlwaysSays(torch.nn.Module):
    """A stand-in decoder whose next token is always `token_id` (for hand-computable accuracy)."""

    def __init__(self, vocab: int, token_id: int):
        super().__init__()
        self.vocab, self.token_id, self.max_seq_len = vocab, token_id, 4096
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.calls = 0

    def forward(self, tokens):
        self.calls += 1
        logits = torch.zeros(*tokens.shape, self.vocab)
        logits[..., self.token_id] = 5.0
        return logits


@pytest.fixture(scope="module")
def lm(tiny_llm_dir):
    return load_pretrained(tiny_llm_dir)


def test_answer_letters_are_single_tokens_with_the_leading_space(lm):
    ids = letter_ids(lm.tokenizer)
    assert len(set(ids)) == 4
    assert [lm.tokenizer.decode([i]) for i in ids] == [" A", " B", " C", " D"]


def test_accuracy_by_hand_with_a_model_that_always_answers_b(lm):
    shots, items = embedded_mc_set(40, 3)
    model = AlwaysSays(lm.tokenizer.vocab_size, letter_ids(lm.tokenizer)[1])
    res = text_retention(model, lm.tokenizer, items, shots, 3, batch_size=8)
    expected = sum(it.answer == 1 for it in items) / len(items)
    assert 0 < expected < 1 and res.accuracy == pytest.approx(expected)
    assert all(p["pred"] == "B" for p in res.predictions) and res.n == 40


def test_right_padding_does_not_change_scores(lm):
    shots, items = embedded_mc_set(6, 3)
    ctx = [build_context(it, shots, k, lm.tokenizer, 1024) for it, k in zip(items, (0, 3, 1, 2, 0, 3))]
    cands = letter_ids(lm.tokenizer)
    alone = torch.cat([next_token_logprobs(lm.model, [c], cands, 0) for c in ctx])
    batched = next_token_logprobs(lm.model, ctx, cands, 0, batch_size=6)
    assert torch.allclose(alone, batched, atol=1e-4)


def test_last_position_logits_match_the_full_forward(lm):
    shots, items = embedded_mc_set(3, 2)
    ctx = [build_context(it, shots, 2, lm.tokenizer, 1024) for it in items]
    cands = letter_ids(lm.tokenizer)
    with torch.inference_mode():
        full = torch.stack([torch.log_softmax(lm.model(torch.tensor([c]))[0, -1], -1)[cands] for c in ctx])
    assert torch.allclose(next_token_logprobs(lm.model, ctx, cands, 0, batch_size=3), full, atol=1e-4)


def test_shots_are_dropped_to_fit_the_context_and_too_long_fails(lm):
    shots, items = embedded_mc_set(1, 5)
    full = build_context(items[0], shots, 5, lm.tokenizer, 4096)
    zero = build_context(items[0], shots, 0, lm.tokenizer, 4096)
    fitted = build_context(items[0], shots, 5, lm.tokenizer, len(full) - 1)
    assert len(zero) < len(fitted) < len(full)
    with pytest.raises(InputError, match="even with 0 shots"):
        build_context(items[0], shots, 5, lm.tokenizer, len(zero) - 1)


def test_resumes_from_the_cache(lm, tmp_path):
    shots, items = embedded_mc_set(10, 2)
    model = AlwaysSays(lm.tokenizer.vocab_size, letter_ids(lm.tokenizer)[2])
    first = text_retention(model, lm.tokenizer, items[:6], shots, 2, cache=ItemCache(tmp_path / "c.jsonl", "fp"))
    model.calls = 0
    again = text_retention(model, lm.tokenizer, items, shots, 2, cache=ItemCache(tmp_path / "c.jsonl", "fp"))
    assert again.predictions[:6] == first.predictions and model.calls == 1  # only the 4 new items


def test_empty_set_and_unscorable_tokenizer(lm):
    with pytest.raises(InputError, match="empty"):
        text_retention(lm.model, lm.tokenizer, [], [], 0)

    class Splitter:
        def encode_text(self, text):
            return list(text.encode())

    with pytest.raises(ConfigError, match="one token per answer letter"):
        letter_ids(Splitter())


def test_relative_drop_is_the_papers_measure():
    assert relative_drop(0.638, 0.694) == pytest.approx((0.694 - 0.638) / 0.694)  # ~8%
    assert relative_drop(0.421, 0.694) == pytest.approx(0.3934, abs=1e-4)
    assert relative_drop(0.6, 0.5) == pytest.approx(-0.2)  # better than base
    assert relative_drop(0.3, 0.0) == 0.0


def test_cloze_continuation_scores_match_the_full_forward_and_ignore_padding(lm):
    tok = lm.tokenizer
    shots, items = embedded_mc_set(3, 2)
    ctx = [build_context(it, shots, k, tok, 1024, "cloze") for it, k in zip(items, (0, 2, 1))]
    cont = [tok.encode_text(" " + it.choices[0]) for it in items]
    with torch.inference_mode():
        full = []
        for c, x in zip(ctx, cont):
            lp = torch.log_softmax(lm.model(torch.tensor([c + x]))[0], -1)
            full.append(sum(lp[len(c) - 1 + j, t].item() for j, t in enumerate(x)))
    batched = continuation_logprobs(lm.model, ctx, cont, 0, batch_size=3)
    alone = [continuation_logprobs(lm.model, [c], [x], 0)[0] for c, x in zip(ctx, cont)]
    assert batched == pytest.approx(full, abs=1e-3) and alone == pytest.approx(full, abs=1e-3)
    with pytest.raises(ValueError, match="at least one token"):
        continuation_logprobs(lm.model, [ctx[0]], [[]], 0)


def test_cloze_prompt_hides_the_options_and_picks_the_likeliest_text(lm):
    shots, items = embedded_mc_set(1, 1)
    text = lm.tokenizer.decode(build_context(items[0], shots, 1, lm.tokenizer, 1024, "cloze"))
    assert text.endswith(f"Question: {items[0].question}\nAnswer:")
    assert "A. " not in text and f"Answer: {shots[0].choices[shots[0].answer]}" in text

    class LovesToken(torch.nn.Module):
        """Every position predicts `token_id`: the choice made of that token wins the cloze."""

        def __init__(self, vocab, token_id):
            super().__init__()
            self.vocab, self.token_id, self.max_seq_len = vocab, token_id, 4096
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, tokens):
            logits = torch.zeros(*tokens.shape, self.vocab)
            logits[..., self.token_id] = 8.0
            return logits

    tok = lm.tokenizer
    word = next(w for w in ("yellow", "red", "green", "blue") if len(tok.encode_text(" " + w)) == 1)
    item = MCItem("x", "what color is the sun?", ("purple haze", word, "dark green", "brown"), answer=1)
    model = LovesToken(tok.vocab_size, tok.encode_text(" " + word)[0])
    res = text_retention(model, tok, [item, MCItem("y", item.question, item.choices, 0)], [], 0, fmt="cloze")
    assert [p["pred"] for p in res.predictions] == ["B", "B"] and res.accuracy == 0.5
    with pytest.raises(ConfigError, match="formulation"):
        text_retention(model, tok, [item], [], 0, fmt="mcf")


def test_chat_formulation_asks_in_a_user_turn_and_scores_the_assistant_reply(lm):
    from ichigo.chat_template import Message, tokenize_chat

    tok = lm.tokenizer
    shots, items = embedded_mc_set(2, 1)
    ctx = build_context(items[0], shots, 1, tok, 1024, "chat")
    want = tokenize_chat([Message("user", shots[0].question),
                          Message("assistant", shots[0].choices[shots[0].answer]),
                          Message("user", items[0].question)], tok, add_generation_prompt=True).ids
    assert ctx == want
    assert len(build_context(items[0], shots, 1, tok, len(want) - 1, "chat")) < len(want)  # shot dropped
    res = text_retention(lm.model, tok, items, shots, 1, fmt="chat")
    # the reply is scored bare (no leading space), exactly as the chat turns were trained
    cont = [tok.encode_text(c) for c in items[0].choices]
    lps = continuation_logprobs(lm.model, [ctx] * len(cont), cont, 0)
    per_char = [lp / len(c) for lp, c in zip(lps, items[0].choices)]
    assert res.predictions[0]["logprobs"] == [round(x, 4) for x in per_char]
