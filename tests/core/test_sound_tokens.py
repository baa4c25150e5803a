import pytest

from ichigo.sound_tokens import (NEW_TOKENS, NUM_SOUND_TOKENS, PAD_CODE, SOUND_END, SOUND_START,
                                 SoundVocab, format_sound, parse_sound, sound_spans, sound_token)


def test_vocabulary_layout_matches_llama31_ids():
    v = SoundVocab(128256)
    assert (v.start_id, v.end_id) == (128256, 128257)
    assert v.code_id(0) == 128258 and v.code_id(PAD_CODE) == 128770
    assert v.vocab_size == 128771
    assert len(NEW_TOKENS) == 515 and NUM_SOUND_TOKENS == 513
    assert NEW_TOKENS[:3] == (SOUND_START, SOUND_END, "<|sound_0000|>")
    assert NEW_TOKENS[-1] == "<|sound_0512|>"


def test_format_parse_roundtrip_and_spans():
    codes = [0, 7, 511, 512]
    s = format_sound(codes)
    assert s.startswith(SOUND_START) and s.endswith(SOUND_END)
    assert parse_sound(s) == codes
    assert sound_spans("x" + s + " y " + format_sound([3])) == [codes, [3]]
    assert sound_spans("<|sound_start|><|sound_0001|>") == []  # unterminated span is not a span


@pytest.mark.parametrize("bad", [-1, 513, 10_000])
def test_out_of_range_codes_are_rejected(bad):
    with pytest.raises(ValueError, match="out of range"):
        sound_token(bad)
    with pytest.raises(ValueError):
        SoundVocab(100).code_id(bad)


def test_code_of_inverts_code_id():
    v = SoundVocab(1000)
    assert all(v.code_of(v.code_id(c)) == c for c in range(NUM_SOUND_TOKENS))
    assert v.ids([5]) == [1000, 1002 + 5, 1001]
    with pytest.raises(ValueError):
        v.code_of(v.start_id)
