import pytest

from ichigo.errors import InputError
from ichigo.eval.asr import transcription_prompt, wer_cer
from ichigo.prompts import TRANSCRIBE_PROMPTS
from ichigo.transcripts import normalize_transcript


def test_wer_cer_by_hand():
    # sentence 1: one substitution (sat -> sit); sentence 2: one deletion (world)
    # WER = 2 edits / 5 reference words; CER: 1 char substitution + 6 deleted chars (" world")
    # over 11 + 11 reference characters
    wer, cer = wer_cer(["the cat sat", "hello world"], ["the cat sit", "hello"])
    assert wer == pytest.approx(2 / 5)
    assert cer == pytest.approx(7 / 22)


def test_normalisation_ignores_case_and_punctuation():
    assert normalize_transcript("  The cat, SAT!  ") == "the cat sat"
    assert normalize_transcript("don't stop") == "dont stop"
    assert wer_cer(["What is the capital of France?"], ["what is the capital of france"]) == (0.0, 0.0)
    # a Whisper transcript writes digits where the world's texts write words
    assert wer_cer(["Please add thirteen and one."], ["Please add 13 and 1."]) == (0.0, 0.0)


def test_empty_hypothesis_counts_as_deletions_and_babble_exceeds_one():
    assert wer_cer(["one two three"], [""])[0] == 1.0
    assert wer_cer(["one"], ["one two three four"])[0] == pytest.approx(3.0)


@pytest.mark.parametrize("refs,hyps,msg", [
    ([], [], "no transcriptions"),
    (["a"], ["a", "b"], "1 references but 2"),
    (["ok", "?!"], ["ok", "x"], "empty after normalisation"),
])
def test_bad_inputs(refs, hyps, msg):
    with pytest.raises(InputError, match=msg):
        wer_cer(refs, hyps)


def test_prompts_are_the_recipes_eight_from_the_data_step():
    assert len(TRANSCRIBE_PROMPTS) == 8 and len(set(TRANSCRIBE_PROMPTS)) == 8
    assert [transcription_prompt(i) for i in range(8)] == list(TRANSCRIBE_PROMPTS)
    assert transcription_prompt(8) == TRANSCRIBE_PROMPTS[0]
