import pytest

from ichigo.eval.offline_scorer import exact_match, normalize_answer, offline_score, token_f1


@pytest.mark.parametrize("prediction,reference,score", [
    ("Paris.", "paris", 5),  # normalised exact match
    ("The yellow", "yellow", 5),  # articles dropped
    ("it is paris", "paris", 4),  # reference inside the answer
    ("new delhi city", "new delhi", 4),
    ("new york", "new delhi", 2),  # F1 = 0.5
    ("cock a doodle", "cock a doodle doo", 3),  # F1 = 2*1*0.75/1.75 = 0.857
    ("red fire engine", "fire truck", 1),  # P 1/3, R 1/2: F1 = 0.4
    ("blue", "yellow", 0),
    ("", "yellow", 0),
    ("I cannot hear you clearly.", "hear", 0),  # a refusal never scores
])
def test_mapping(prediction, reference, score):
    assert offline_score(prediction, reference) == score


def test_token_f1_by_hand():
    assert token_f1("red fire engine", "fire truck") == pytest.approx(0.4)
    assert token_f1("new york", "new delhi") == pytest.approx(0.5)


def test_exact_match_and_normalisation():
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert exact_match("Yellow!", "yellow")
    assert not exact_match("it is yellow", "yellow")
    assert not exact_match("", "")
