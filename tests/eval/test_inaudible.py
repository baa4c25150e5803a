import pytest

from ichigo.errors import InputError
from ichigo.eval.inaudible import random_code_items, refusal_rate
from ichigo.refusal import OFFLINE_REFUSALS, is_refusal
from ichigo.sound_tokens import NUM_SOUND_TOKENS


def test_random_inputs_follow_the_real_query_lengths():
    lengths = [30, 45, 60]
    items = random_code_items(lengths, 200, seed=3)
    assert len(items) == 200 and {len(i.codes) for i in items} == set(lengths)
    codes = [c for i in items for c in i.codes]
    assert min(codes) >= 0 and max(codes) == NUM_SOUND_TOKENS - 1  # all 513 codes, as the recipe
    assert random_code_items(lengths, 5, seed=3) == items[:5]
    assert random_code_items(lengths, 5, seed=4) != items[:5]
    with pytest.raises(InputError):
        random_code_items([], 5)


def test_refusal_rate_by_hand():
    answers = ["I cannot hear you clearly.", "Paris", "Sorry, I only heard noise.", "yellow"]
    assert refusal_rate(answers) == 0.5
    with pytest.raises(InputError):
        refusal_rate([])


@pytest.mark.parametrize("text", OFFLINE_REFUSALS + ("I cannot hear you clearly.",))
def test_every_refusal_the_training_data_can_hold_is_recognised(text):
    # the stage-3 builder trains on this bank: eval must count every one of them as a refusal
    assert is_refusal(text)


@pytest.mark.parametrize("text", ["paris", "the sky is blue", "twelve", "a cow says moo", "hot"])
def test_answers_are_not_refusals(text):
    assert not is_refusal(text)
