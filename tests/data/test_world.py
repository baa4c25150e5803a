"""The embedded world reads like text people write, and its eval phrasing is held out."""

import random

import pytest

from ichigo import world


def test_questions_are_written_naturally():
    facts = {(f.kind, f.subject): f for f in world.all_facts()}
    assert facts[("capital", "Japan")].question() == "What is the capital of Japan?"
    assert facts[("capital", "Japan")].answer == "Tokyo"
    assert facts[("color", "banana")].statement() == "The banana is yellow."
    assert facts[("sum", "three+four")].question(2) == "Add three and four."


def test_eval_phrasing_never_trains():
    rng = random.Random(0)
    for f in world.all_facts():
        train = {f.train_question(rng) for _ in range(200)}
        assert f.eval_question() not in train
        assert train == set(f.train_questions())
        # many sentence shapes per fact: three taught the model the shapes, not the question
        assert len(train) >= 8


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


def test_spoken_texts_vary_but_never_use_the_eval_phrasing():
    """The ASR corpus says each fact many ways (statements, paraphrases, training questions) and
    covers the everyday words between facts, but never speaks an eval question."""
    from ichigo.eval.heldout import normalize_question

    rng = random.Random(2)
    facts = world.all_facts()
    evals = {normalize_question(f.eval_question()) for f in facts}
    for f in facts:
        texts = {f.spoken_text(rng) for _ in range(200)}
        assert f.statement() in texts and f.question(0) in texts
        questions = set(f.train_questions())
        assert len(texts) >= 1 + len(world.PARAPHRASES[f.kind]) + len(questions) - 1
        assert all(f.answer.lower() in t.lower() for t in texts - questions)  # statements state it
        assert not {normalize_question(t) for t in texts} & evals
    assert not {normalize_question(t) for t in world.EVERYDAY} & evals
    words = {w for t in world.EVERYDAY for w in normalize_question(t).split()}
    assert {"what", "do", "you", "get", "when", "city", "word", "noise"} <= words


def test_mixed_questions_put_shapes_around_subjects_they_are_not_about():
    """Transcription sentences whose last words cannot be guessed from their first: many, all
    questions (no false statement), never an eval question, never a fact's own training question."""
    from ichigo.eval.heldout import normalize_question

    rng = random.Random(3)
    facts = world.all_facts()
    texts = [world.mixed_question(rng, facts) for _ in range(500)]
    assert len(set(texts)) > 400
    trained = {q for f in facts for q in f.train_questions()}
    evals = {normalize_question(f.eval_question()) for f in facts}
    assert not {normalize_question(t) for t in texts} & evals
    assert sum(t in trained for t in texts) < 25  # new pairings (a sum of two small numbers may be one)
    assert not any(f.statement() in texts for f in facts)
    assert any("color" in t and any(c.title() in t for c in world.CAPITALS) for t in texts)


def test_asr_test_sentences_are_new_sentences_of_the_corpus_kinds():
    """The world's ASR test split (LibriSpeech test-clean's part): distinct, deterministic, and
    never a text any training row speaks or writes."""
    from ichigo.config import load_profile
    from ichigo.data.world_datasets import _asr_corpus, asr_test_sentences, world_questions

    profile = load_profile("local")
    got = asr_test_sentences(profile, 150)
    assert got == asr_test_sentences(profile, 150) and len(set(got)) == 150
    corpus = {text for *_, text, _ in _asr_corpus(profile, random.Random(profile.data.seed))}
    trained = corpus | {q for _, q, _ in world_questions()} | set(world.EVERYDAY)
    evals = {f.eval_question() for f in world.all_facts()}
    assert not set(got) & (trained | evals)
    statements = [s for s in got if not s.endswith("?")]
    assert 0.3 < len(statements) / len(got) < 0.7  # paraphrased statements and mixed questions
    # the test sentences use the corpus's words: a test of listening, not of vocabulary
    words = {w for t in corpus for w in t.lower().replace(",", "").rstrip(".?!").split()}
    unknown = {w for t in got for w in t.lower().replace(",", "").rstrip(".?!").split()} - words
    assert len(unknown) < 10, unknown


def test_unheard_sentence_fails_when_every_sentence_was_heard(monkeypatch):
    banana = world.Fact("color", "banana", "yellow")
    monkeypatch.setattr(world, "mixed_question", lambda rng, facts: "Which color is the Japan?")
    heard = {banana.statement(k) for k in range(len(world.PARAPHRASES["color"]))} | {"Which color is the Japan?"}
    with pytest.raises(ValueError, match="no ASR test sentence left"):
        world.unheard_sentence(random.Random(0), [banana], heard)
    heard.remove("Which color is the Japan?")
    assert world.unheard_sentence(random.Random(0), [banana], heard) == "Which color is the Japan?"
