"""Every hostile file is refused from its header or a capped decode: a 4xx in well under a
second, never a 5xx (issue 17: a 1 Hz WAV header gave 500 MemoryError, an 8 Hz one 24 s of CPU)."""

import pytest

from ichigo.audio import AudioError, load_16k, read_audio
from tests.data import hostile_audio as H


@pytest.mark.parametrize("name", [n for n in H.CASES if "baseline" not in n])
def test_hostile_file_is_a_fast_4xx(name):
    data = H.CASES[name]()
    status, kind, secs = H.answer(data)
    assert 400 <= status < 500, (name, status, kind)
    assert secs < 1.0, (name, secs)


def test_baseline_still_decodes():
    assert H.answer(H.good_wav())[0] == 200


@pytest.mark.parametrize("make,reason", [(H.wav_1hz, "bad_rate"), (H.wav_8hz, "bad_rate"),
                                         (H.wav_many_channels, "bad_channels"),
                                         (H.wav_huge_declared, "too_long"), (H.flac_bomb, "too_long"),
                                         (H.flac_bomb_unknown_length, "too_long"),
                                         (H.opus_bomb, "too_long")])
def test_reason_names_the_limit(make, reason):
    with pytest.raises(AudioError) as e:
        load_16k(make(), max_seconds=H.MAX_SECONDS)
    assert e.value.reason == reason


def test_chunk_mode_and_batch_reads_keep_a_ceiling():
    # no max_seconds (batch jobs) still decodes real-length audio, and chunking is unaffected
    wave, sr = read_audio(H.wav_long())
    assert sr == 16000 and len(wave) == 960_000
    assert len(load_16k(H.wav_long(), max_seconds=10, too_long="chunk")) == 6


def test_unknown_magic_is_refused_before_any_decoder_runs():
    # libsndfile's probing of unknown bytes costs ~1 s of CPU per 200 KB: never let it start
    with pytest.raises(AudioError) as e:
        read_audio(b"\x00\x01junk" * 20_000)
    assert e.value.reason == "corrupt" and "magic bytes" in str(e.value)
