"""Held-out voice families: never trained on, each reported on its own."""

import re

import pytest
from pydantic import ValidationError

from ichigo.config import TTSConfig, load_profile
from ichigo.tts.families import derived_family, family_of

FAMS = {"caribbean": ["en-029"], "scottish": ["en-gb-scotland+f2"], "variants": ["en-us+m2"],
        "neural": ["piper:joe"]}


def test_families_fill_heldout_voices_and_name_each_voice():
    t = TTSConfig(train_voices=["en-us+m1", "en-gb-scotland+m3"], heldout_families=FAMS)
    assert sorted(t.heldout_voices) == sorted(["en-029", "en-gb-scotland+f2", "en-us+m2", "piper:joe"])
    assert family_of("en-029+f3:s160:p50", t) == "caribbean"  # a bare accent covers every variant
    assert family_of("en-029:s140:p35", t) == "caribbean"
    assert family_of("en-gb-scotland+f2:s160:p50", t) == "scottish"
    assert family_of("en-gb-scotland+m3:s160:p50", t) == "en-gb-scotland"  # a trained variant
    assert family_of("piper:joe:s100", t) == "neural"
    assert family_of("en-us+m1:s160:p50", t) == "en-us"
    assert family_of("noise:white:1.00", t) == family_of("source", t) == ""
    assert derived_family("piper:joe:s90") == "piper-joe"
    # a round trip through model_dump (how components receive the profile) validates again
    assert TTSConfig.model_validate(t.model_dump()) == t


@pytest.mark.parametrize("train, clash", [
    (["en-us+m2:s160:p50"], "en-us+m2"),  # the same voice at another speed
    (["en-029+m1"], "en-029"),  # a variant of a held-out accent
    (["piper:joe:s110"], "piper:joe"),  # a held-out synthesizer voice
])
def test_training_on_a_heldout_voice_is_rejected(train, clash):
    with pytest.raises(ValidationError, match=rf"tts.train_voices: .*is held out \('{re.escape(clash)}', family"):
        TTSConfig(train_voices=train, heldout_families=FAMS)


def test_legacy_heldout_voices_overlap_is_rejected_too():
    with pytest.raises(ValidationError, match="held out"):
        TTSConfig(train_voices=["en-us+m2"], heldout_voices=["en-us+m2:s140:p50"])
    TTSConfig(train_voices=["en-us+m1"], heldout_voices=["en-us+m2"])  # another variant is fine


def test_bad_family_definitions():
    with pytest.raises(ValidationError, match="lists no voices"):
        TTSConfig(heldout_families={"empty": []})
    with pytest.raises(ValidationError, match="metric names"):
        TTSConfig(heldout_families={"Bad Name": ["en-029"]})
    with pytest.raises(ValidationError, match="disagree"):
        TTSConfig(heldout_families={"a": ["en-029"]}, heldout_voices=["en-us+m2"])


@pytest.mark.parametrize("name", ["local", "smoke"])
def test_embedded_profiles_hold_out_at_least_four_families_and_train_on_piper(name):
    t = load_profile(name).tts
    assert len(t.heldout_families) >= 4
    assert any(v.startswith("piper:") for v in t.train_voices)
    for fam, voices in t.heldout_families.items():
        for v in voices:
            assert family_of(v, t) == fam
    assert not {family_of(v, t) for v in t.train_voices} & set(t.heldout_families)
