"""The embedded world reads like text people write, and its eval phrasing is held out."""

import random

from ichigo.data import world


def test_questions_are_written_naturally():
    facts = {(f.kind, f.subject): f for f in world.all_facts()}
    assert facts[("capital", "Japan")].question() == "What is the capital of Japan?"
    assert facts[("capital", "Japan")].answer == "Tokyo"
    assert facts[("color", "banana")].statement() == "The banana is yellow."
    assert facts[("sum", "three+four")].question(2) == "Add three and four."


def test_eval_phrasing_never_trains():
    rng = random.Random(0)
    for f in world.all_facts():
        train = {f.train_question(rng) for _ in range(50)}
        assert f.eval_question() not in train
        assert len(train) == world.TRAIN_PHRASINGS


def test_typed_forms_cover_casing_and_punctuation():
    rng = random.Random(1)
    forms = {world.typed_form("What is the capital of Japan?", rng) for _ in range(400)}
    assert {"What is the capital of Japan?", "what is the capital of japan?",
            "What is the capital of Japan", "what is the capital of japan",
            "WHAT IS THE CAPITAL OF JAPAN?"} == forms


def test_small_talk_has_replies_that_are_not_facts():
    answers = {f.answer.lower() for f in world.all_facts()}
    pairs = world.small_talk_pairs()
    assert ("Hello, who are you?", "Hello! I am Ichigo, a voice assistant. Ask me a question.") in pairs
    assert all(reply.lower() not in answers for _, reply in pairs)
