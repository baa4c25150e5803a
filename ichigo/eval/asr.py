"""ASR: WER and CER of transcriptions the model writes when asked in natural language.

Each utterance gets one of the recipe's eight transcription prompts (defined once, with the
training data, in `ichigo.prompts.TRANSCRIBE_PROMPTS`), rotating by item index so every
phrasing is exercised. Texts are normalised before scoring as the ASR gate's are
(`ichigo.transcripts`: lower case, numbers spelled out, punctuation and apostrophes removed).
WER/CER are corpus-level (total edits / total reference words or characters), so they may
exceed 1 when the model babbles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import jiwer

from ichigo.errors import InputError
from ichigo.eval.generation import audio_prompt, reply_all
from ichigo.prompts import TRANSCRIBE_PROMPTS
from ichigo.transcripts import normalize_transcript


def transcription_prompt(i: int) -> str:
    return TRANSCRIBE_PROMPTS[i % len(TRANSCRIBE_PROMPTS)]


def wer_cer(references: list[str], hypotheses: list[str]) -> tuple[float, float]:
    """Corpus WER and CER after normalisation. Empty hypotheses count as deletions; empty
    references are an input error (WER is undefined for them)."""
    if len(references) != len(hypotheses):
        raise InputError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise InputError("no transcriptions to score")
    refs = [normalize_transcript(r) for r in references]
    empty = [i for i, r in enumerate(refs) if not r]
    if empty:
        raise InputError(f"references {empty[:5]} are empty after normalisation: WER needs words")
    hyps = [normalize_transcript(h) for h in hypotheses]
    return float(jiwer.wer(refs, hyps)), float(jiwer.cer(refs, hyps))


@dataclass
class ASRResult:
    wer: float
    cer: float
    n: int
    predictions: list[dict] = field(default_factory=list)


def transcription_eval(lm, items: list, max_new_tokens: int, cache=None, batch_size: int = 32) -> ASRResult:
    """`items`: EvalItems whose `text` is what was spoken."""
    if not items:
        raise InputError("the ASR set is empty: the eval set needs spoken items with their text")
    index = {it.id: i for i, it in enumerate(items)}

    def make_prompt(it) -> list[int]:
        return audio_prompt(lm, it.codes, transcription_prompt(index[it.id]))

    def finish(it, reply: str) -> dict:
        return {"prompt": transcription_prompt(index[it.id]), "reference": it.text, "prediction": reply}

    recs = reply_all(lm, items, make_prompt, max_new_tokens, finish, cache, "ASR", batch_size)
    wer, cer = wer_cer([r["reference"] for r in recs], [r["prediction"] for r in recs])
    return ASRResult(wer, cer, len(recs), recs)
