"""Typed-QA items cover every form once per distinct question; scoring counts exact answers."""

from ichigo.eval.typed_qa import FORMS, typed_items, typed_qa
from ichigo.records import EvalItem


def _items():
    return [EvalItem("a", "qa", "What is the capital of Japan?", "Tokyo", "v", [1, 2], b""),
            EvalItem("b", "qa", "What is the capital of Japan?", "Tokyo", "w", [3], b""),
            EvalItem("c", "qa", "What color is the banana?", "yellow", "v", [4], b"")]


def test_one_item_per_question_and_form():
    items = typed_items(_items())
    assert len(items) == 2 * len(FORMS)
    texts = {it.text for it in items}
    assert {"what is the capital of japan", "WHAT IS THE CAPITAL OF JAPAN?",
            "What color is the banana"} <= texts


def test_scores_exact_answers_per_form(tiny_llm_dir, tmp_path):
    from ichigo.model.checkpoint import load_pretrained
    from tests.conftest import teach_reply

    # a model that says "Tokyo" to anything is right on the Japan question in every form, and
    # wrong on the banana
    lm = load_pretrained(teach_reply(tiny_llm_dir, tmp_path / "tokyo", "Tokyo", steps=60))
    res = typed_qa(lm, _items(), max_new_tokens=4, batch_size=4)
    assert res.n == 2 * len(FORMS)
    assert res.by_form == {f: 0.5 for f in FORMS}
    assert res.exact == 0.5
