"""Speech QA: answers to spoken questions scored 0-5 against reference answers (AudioBench style).

The same generations give the false-refusal rate (refusals to audible questions), see
`ichigo.eval.inaudible`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ichigo.errors import InputError
from ichigo.eval.generation import audio_prompt, reply_all
from ichigo.eval.judge import Judge
from ichigo.eval.offline_scorer import exact_match


@dataclass
class SpeechQAResult:
    score: float  # mean 0-5
    exact: float  # fraction of normalised exact matches
    n: int
    judge: str
    predictions: list[dict] = field(default_factory=list)


def score_answers(questions: list[str], references: list[str], answers: list[str], judge: Judge,
                  ids: list[str] | None = None) -> list[float]:
    """One 0-5 score per answer (the judge raises rather than guessing)."""
    ids = ids or [str(i) for i in range(len(answers))]
    return [judge.score(q, r, a, i).score for q, r, a, i in zip(questions, references, answers, ids)]


def speech_qa(lm, items: list, judge: Judge, max_new_tokens: int, cache=None,
              batch_size: int = 32, judge_concurrency: int = 1, make_prompt=None,
              desc: str = "speech QA") -> SpeechQAResult:
    """`items`: EvalItems of kind "qa" (codes of the spoken question, reference `answer`).
    `make_prompt(item) -> ids` replaces the sound-token prompt (the cascade baseline)."""
    if not items:
        raise InputError("the speech QA set is empty: the eval set needs spoken questions (kind 'qa')")
    bad = [it.id for it in items if not it.answer.strip() or not it.codes]
    if bad:
        raise InputError(f"speech QA items without a reference answer or sound codes: {bad[:5]}")

    def finish(it, answer: str) -> dict:
        j = judge.score(it.text, it.answer, answer, it.id)
        return {"question": it.text, "reference": it.answer, "prediction": answer,
                "score": j.score, "exact": exact_match(answer, it.answer), "judge": judge.name,
                "judge_raw": j.raw[:300], "parsed": j.parsed}

    def finish_batch(its: list, answers: list[str]) -> list[dict]:
        # a remote judge is network-bound: score a batch concurrently (a JudgeError still stops all)
        if judge_concurrency <= 1 or len(its) == 1:
            return [finish(it, a) for it, a in zip(its, answers)]
        with ThreadPoolExecutor(min(judge_concurrency, len(its))) as pool:
            return list(pool.map(finish, its, answers))

    def prompt(it) -> list[int]:  # AudioBench items may send a text instruction with the audio
        return audio_prompt(lm, it.codes, getattr(it, "instruction", "") or None)

    recs = reply_all(lm, items, make_prompt or prompt, max_new_tokens, cache=cache,
                     desc=desc, batch_size=batch_size, finish_batch=finish_batch)
    n = len(recs)
    # the judge's name is read after scoring: a fallback judge renames itself when it falls back
    return SpeechQAResult(sum(r["score"] for r in recs) / n, sum(bool(r["exact"]) for r in recs) / n,
                          n, judge.name, recs)
