"""`serving.front_end: cascade`: the speech deployment answers with Whisper's transcript, which the
ingress hands to the same LLM as a typed question (the paper's cascade baseline)."""

import asyncio

import pytest

from tests.conftest import need_binary


@pytest.mark.slow
def test_cascade_deployment_transcribes(tiny_package):
    need_binary("espeak-ng")
    from ichigo.audio import wav_bytes
    from ichigo.config import load_profile
    from ichigo.tts import EspeakTTS
    from serving.models import SpeechTokenizerDeployment

    wav = wav_bytes(EspeakTTS().synthesize(["What is the capital of France?"], "en-us")[0])
    cascade = SpeechTokenizerDeployment(load_profile("local", {"serving": {"front_end": "cascade"}}),
                                        str(tiny_package), follow=False)
    out = asyncio.run(cascade.encode(wav))
    assert "codes" not in out and "capital of france" in out["text"].lower()
    # the profile's window, not Whisper's 30 s (50 encoder positions per second)
    assert cascade.slot.value.model.dims.n_audio_ctx == 50 * cascade.profile.serving.cascade_window_seconds
    fusion = SpeechTokenizerDeployment(load_profile("local"), str(tiny_package), follow=False)
    assert "text" not in (codes := asyncio.run(fusion.encode(wav))) and len(codes["codes"]) > 25


def test_cli_flag_selects_the_cascade():
    from serving.cli import parse_args

    assert parse_args(["--cascade"]).cascade and not parse_args([]).cascade


@pytest.mark.parametrize("seconds", [0.5, 31])
def test_cascade_window_outside_whispers_is_a_config_error(seconds):
    from ichigo.config import load_profile
    from ichigo.errors import ConfigError

    with pytest.raises(ConfigError, match="cascade_window_seconds"):
        load_profile("local", {"serving": {"cascade_window_seconds": seconds}})
