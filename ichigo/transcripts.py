"""One normalisation for every word error rate the platform computes (the ASR gate, the eval's
WER / CER, the cascade's): lower case, numbers spelled out, hyphens and punctuation gone,
apostrophes dropped ("it's" -> "its"), accents folded, whitespace collapsed.

Numbers are compared spelled out on both sides, as Whisper's text normalisers compare them, so
that "42" and "forty-two" agree: a Whisper transcript writes digits where the world's texts
(and the model trained on them) write words, and neither should be charged for it.
"""

from __future__ import annotations

import re
import unicodedata

from ichigo.speakable import number_words, ordinal_words

_NUM = re.compile(r"(\d[\d,]*)(st|nd|rd|th)?\b")


def _spell(m: re.Match) -> str:
    digits = m.group(1).replace(",", "")
    if not digits or len(digits) > 12:
        return m.group(0)
    n = int(digits)
    return " " + (ordinal_words(n) if m.group(2) else number_words(n)) + " "


def normalize_transcript(text: str) -> str:
    t = unicodedata.normalize("NFKD", text or "")
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = _NUM.sub(_spell, t)
    t = t.replace("'", "").replace("\u2019", "")
    t = re.sub(r"[^\w\s]|_", " ", t)
    return " ".join(t.split())


__all__ = ["normalize_transcript"]
