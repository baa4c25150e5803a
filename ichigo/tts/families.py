"""Which voice family a voice belongs to: the unit that held-out evaluation reports on.

Held-out voices take the family name the profile gives them (`tts.heldout_families`). Every other
voice gets a family derived from what it is: the espeak accent without its variant (`en-us` for
`en-us+f3:s160:p50`) or the Piper voice (`piper-joe`). Noise and source rows have none.
"""

from __future__ import annotations

from ichigo.config import TTSConfig
from ichigo.tts.base import VoiceSpec


def derived_family(voice: str) -> str:
    if not voice or voice == "source" or voice.startswith("noise:"):
        return ""
    try:
        v = VoiceSpec.parse(voice)
    except ValueError:
        return ""
    return f"piper-{v.name}" if v.engine == "piper" else v.name.split("+")[0]


def family_of(voice: str, tts: TTSConfig) -> str:
    """The profile's family name for a held-out voice, else the derived family."""
    if not voice or voice == "source" or voice.startswith("noise:"):
        return ""
    try:
        base = VoiceSpec.parse(voice).base
    except ValueError:
        return ""
    for fam, voices in tts.heldout_families.items():
        for h in voices:
            hb = VoiceSpec.parse(h).base
            if hb == base or ("+" not in hb and ":" not in hb and base.split("+")[0] == hb):
                return fam
    return derived_family(voice)
