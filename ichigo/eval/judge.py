"""Speech-QA judges: an LLM behind an OpenAI-compatible endpoint, grading the model's answer
against the reference on AudioBench's 0-5 scale, or the offline rule scorer.

The HTTP judge never passes silently:
- timeouts, transport errors and 429/5xx are retried with exponential backoff; when the
  attempts run out it raises `JudgeUnreachable` naming the URL (the eval step fails, unless
  `eval.judge.offline_fallback` lets `FallbackJudge` switch to the offline scorer, which every
  report then says);
- another 4xx (wrong URL, model or key) raises `JudgeError` at once;
- a reply without a parsable 0-5 rating is asked again; after the last attempt the verdict is
  counted as unparseable and scores 0 (so garbage can only lower the mean, never raise it).
Verdicts are cached by (judge model, question, reference, answer): a rerun or another stage's
model that gives the same answer costs no request.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import httpx

from ichigo.errors import IchigoError
from ichigo.eval.offline_scorer import offline_score

API_KEY_ENV = "ICHIGO_JUDGE_API_KEY"  # default env var of eval.judge.api_key_env
OFFLINE_NAME = "offline scorer"

SYSTEM_PROMPT = "You are a strict, consistent grader of an assistant's answers."
# AudioBench's open-ended rubric (reference answer vs model answer, 0-5), in our own words
JUDGE_PROMPT = """Grade the model's answer to a user's question against the reference answer.

[Question]
{question}

[Reference answer]
{reference}

[Model answer]
{answer}

Score on this scale:
0 - no answer, a refusal, or unrelated to the question
1 - barely related to the reference; mostly wrong or irrelevant
2 - some overlap with the reference, but with major errors or key points missing
3 - in line with the reference overall, yet imprecise or missing detail
4 - accurate and relevant, close to the reference, with at most minor slips
5 - fully accurate and complete: matches the reference in meaning

Judge meaning, not wording or length. First give a one-sentence explanation, then end with a
line of the form "Rating: N", N an integer from 0 to 5."""

_RATING = re.compile(r"rating\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE = re.compile(r"^\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*$")


class JudgeError(IchigoError):
    """The judge cannot be used as configured: the evaluation must stop rather than guess."""


class JudgeUnreachable(JudgeError):
    """Transport errors, timeouts or 5xx on every attempt."""


@dataclass(frozen=True)
class Judgement:
    score: float  # 0..5
    raw: str  # the judge's reply (or the rule used, offline)
    attempts: int = 1
    parsed: bool = True  # False: no rating after every attempt (scored 0, counted)
    cached: bool = False


class Judge(Protocol):
    name: str

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement: ...


def parse_rating(text: str) -> float | None:
    """The 0-5 rating in a judge reply ("Rating: 4", "**Rating:** 3", or a bare "5"), else None.
    With several "Rating:" lines the last one counts (the verdict follows the reasoning)."""
    if not text:
        return None
    m = _RATING.findall(text)
    raw = m[-1] if m else (_BARE.match(text).group(1) if _BARE.match(text) else None)
    if raw is None:
        return None
    value = float(raw)
    return value if 0 <= value <= 5 else None


class OfflineJudge:
    name = OFFLINE_NAME

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement:
        return Judgement(float(offline_score(answer, reference)), "offline-rules")


class VerdictCache:
    """JSONL of verdicts keyed by (judge model, question, reference, answer); thread-safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._d: dict[str, dict] = {}
        if self.path.is_file():
            for line in self.path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                    self._d[rec["key"]] = rec
                except (json.JSONDecodeError, KeyError, TypeError):
                    continue  # a line cut by a kill: that verdict is asked again

    @staticmethod
    def key(model: str, question: str, reference: str, answer: str) -> str:
        return hashlib.sha256(json.dumps([model, question, reference, answer]).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        return self._d.get(key)

    def put(self, key: str, j: Judgement) -> None:
        rec = {"key": key, "score": j.score, "raw": j.raw[:500], "parsed": j.parsed}
        with self._lock:
            self._d[key] = rec
            with self.path.open("a") as f:
                f.write(json.dumps(rec) + "\n")


def read_api_key(env: str = API_KEY_ENV, file: str | None = None) -> str | None:
    """The judge's key from the env var, else the mounted Secret file; None if neither."""
    key = os.environ.get(env)
    if key:
        return key.strip()
    if file and Path(file).is_file():
        return Path(file).read_text().strip() or None
    return None


class HTTPJudge:
    def __init__(self, endpoint: str, model: str, timeout_s: float = 60.0, max_attempts: int = 4,
                 backoff_s: float = 1.0, api_key: str | None = None, max_tokens: int = 256,
                 cache: VerdictCache | None = None, sleep: Callable[[float], None] = time.sleep):
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.name = f"llm:{model}"
        self.model = model
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_tokens = max_tokens
        self.cache = cache
        self._sleep = sleep
        key = api_key if api_key is not None else read_api_key()
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)

    def close(self) -> None:
        self._client.close()

    def _request(self, question: str, reference: str, answer: str) -> dict:
        return {"model": self.model, "temperature": 0, "max_tokens": self.max_tokens, "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": JUDGE_PROMPT.format(question=question, reference=reference,
                                                            answer=answer or "(no answer)")}]}

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement:
        key = VerdictCache.key(self.model, question, reference, answer)
        hit = self.cache.get(key) if self.cache is not None else None
        if hit is not None:
            return Judgement(float(hit["score"]), hit["raw"], 0, bool(hit["parsed"]), cached=True)
        j = self._ask(question, reference, answer, item_id)
        if self.cache is not None:
            self.cache.put(key, j)
        return j

    def _ask(self, question: str, reference: str, answer: str, item_id: str) -> Judgement:
        body = self._request(question, reference, answer)
        last, garbage = "", ""
        for attempt in range(1, self.max_attempts + 1):
            wait = self.backoff_s * 2 ** (attempt - 1)
            try:
                r = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                last = f"timed out after {self._client.timeout.read}s"
            except httpx.TransportError as e:
                last = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 429 or r.status_code >= 500:
                    last = f"HTTP {r.status_code}: {r.text[:200]}"
                    retry_after = r.headers.get("retry-after", "")
                    if retry_after.isdigit():
                        wait = max(wait, min(float(retry_after), 60.0))
                elif r.status_code >= 400:
                    raise JudgeError(f"judge {self.url} refused item {item_id!r} with HTTP {r.status_code}"
                                     f" ({r.text[:200]!r}); check eval.judge.base_url, eval.judge.model "
                                     "and the API key (eval.judge.api_key_env / api_key_file)")
                else:
                    content = _content(r)
                    rating = parse_rating(content)
                    if rating is not None:
                        return Judgement(rating, content, attempt)
                    garbage = content
                    last = f"no 0-5 rating in the reply {content[:200]!r}"
            if attempt < self.max_attempts:
                self._sleep(min(wait, 60.0))
        if garbage:  # the endpoint works, this verdict does not: count it rather than stop
            return Judgement(0.0, garbage, self.max_attempts, parsed=False)
        raise JudgeUnreachable(f"judge {self.url} gave no usable score for item {item_id!r} after "
                               f"{self.max_attempts} attempts; last problem: {last}")


def _content(r: httpx.Response) -> str:
    try:
        return str(r.json()["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError):
        return r.text[:500]


class FallbackJudge:
    """The HTTP judge, and the offline scorer from the first unreachable call on
    (`eval.judge.offline_fallback: true`). `fell_back` says why, for every report."""

    def __init__(self, primary: HTTPJudge):
        self.primary, self.offline = primary, OfflineJudge()
        self.fell_back: str | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"{OFFLINE_NAME} (fallback: {self.primary.url} unreachable)" if self.fell_back else self.primary.name

    def close(self) -> None:
        self.primary.close()

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement:
        if self.fell_back is None:
            try:
                return self.primary.score(question, reference, answer, item_id)
            except JudgeUnreachable as e:
                with self._lock:
                    self.fell_back = self.fell_back or str(e)
        return self.offline.score(question, reference, answer, item_id)


def make_judge(judge_config, cache_path: str | Path | None = None) -> Judge:
    """The judge `eval.judge` asks for: HTTP when `base_url` is set, else the offline scorer."""
    if not judge_config.base_url:
        return OfflineJudge()
    j = HTTPJudge(judge_config.base_url, judge_config.model, timeout_s=judge_config.timeout_s,
                  max_attempts=judge_config.max_attempts, max_tokens=judge_config.max_tokens,
                  api_key=read_api_key(judge_config.api_key_env, judge_config.api_key_file) or "",
                  cache=VerdictCache(cache_path) if cache_path else None)
    return FallbackJudge(j) if judge_config.offline_fallback else j
