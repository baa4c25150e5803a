"""The cascade baseline on the same held-out spoken questions: ASR -> the same LLM on text.

Scored exactly like early-fusion speech QA (same judge, same token budget), so the report can set
the two side by side, as the paper does (first token 111 ms early fusion vs 453 ms cascade).
"""

from __future__ import annotations

import numpy as np

from ichigo.audio import load_16k
from ichigo.chat_template import tokenize_chat
from ichigo.eval.judge import Judge
from ichigo.eval.speech_qa import SpeechQAResult, speech_qa
from ichigo.frontends import Cascade, Transcriber


def transcripts(asr: Transcriber, items: list, batch_size: int = 16) -> dict[str, str]:
    """Item id -> what the ASR heard in its audio."""
    out: dict[str, str] = {}
    for s in range(0, len(items), batch_size):
        chunk = items[s:s + batch_size]
        waves = [np.concatenate(load_16k(it.audio_wav)) for it in chunk]
        out.update(zip((it.id for it in chunk), asr.transcribe_batch(waves)))
    return out


def cascade_speech_qa(lm, asr: Transcriber, items: list, judge: Judge, max_new_tokens: int,
                      cache=None, batch_size: int = 32) -> tuple[SpeechQAResult, dict[str, str]]:
    heard = transcripts(asr, items)

    def prompt(it) -> list[int]:
        return tokenize_chat([Cascade.turn(heard[it.id])], lm.tokenizer, add_generation_prompt=True).ids

    res = speech_qa(lm, items, judge, max_new_tokens, cache, batch_size, make_prompt=prompt,
                    desc="speech QA (cascade)")
    for r in res.predictions:
        r["heard"] = heard[r["id"]]
    return res, heard
