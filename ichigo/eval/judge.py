"""Speech-QA judges: an LLM behind an OpenAI-compatible endpoint (AudioBench style, 0-5 against a
reference answer), or the offline scorer when no endpoint is configured.

The HTTP judge never passes silently: timeouts, transport errors, 429/5xx and replies without a
parsable 0-5 rating are retried with exponential backoff; when the attempts run out, or the
endpoint answers another 4xx (wrong URL, auth), it raises `JudgeError` naming the item.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import httpx

from ichigo.errors import IchigoError
from ichigo.eval.offline_scorer import offline_score

API_KEY_ENV = "ICHIGO_JUDGE_API_KEY"  # sent as a Bearer token when set

SYSTEM_PROMPT = "You grade a voice assistant's answers strictly and consistently."
JUDGE_PROMPT = """Rate how well the assistant's answer to a spoken question matches the reference answer.

Question (what the user said): {question}
Reference answer: {reference}
Assistant's answer: {answer}

Scale:
0 - no answer, off-topic, a refusal, or wrong
1 - mostly wrong; only a small relevant part
2 - partly right, but key content of the reference is missing or contradicted
3 - right in substance, with notable errors or omissions
4 - right and complete, with minor slips in wording or detail
5 - fully right: the meaning of the reference and nothing wrong added

Judge meaning, not wording. Reply with one line of the form "Rating: N", N an integer from 0 to 5."""

_RATING = re.compile(r"rating\s*[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE = re.compile(r"^\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*$")


class JudgeError(IchigoError):
    """The judge gave no usable score: the evaluation must stop rather than guess."""


@dataclass(frozen=True)
class Judgement:
    score: float  # 0..5
    raw: str  # the judge's reply (or the rule used, offline)
    attempts: int = 1


class Judge(Protocol):
    name: str

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement: ...


def parse_rating(text: str) -> float | None:
    """The 0-5 rating in a judge reply ("Rating: 4", "**Rating:** 3", or a bare "5"), else None."""
    if not text:
        return None
    m = _RATING.findall(text)
    raw = m[-1] if m else (_BARE.match(text).group(1) if _BARE.match(text) else None)
    if raw is None:
        return None
    value = float(raw)
    return value if 0 <= value <= 5 else None


class OfflineJudge:
    name = "offline"

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement:
        return Judgement(float(offline_score(answer, reference)), "offline-rules")


class HTTPJudge:
    def __init__(self, endpoint: str, model: str, timeout_s: float = 60.0, max_attempts: int = 4,
                 backoff_s: float = 1.0, api_key: str | None = None,
                 sleep: Callable[[float], None] = time.sleep):
        base = endpoint.rstrip("/")
        self.url = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self.name = f"llm:{model}"
        self.model = model
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self._sleep = sleep
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(timeout=httpx.Timeout(timeout_s), headers=headers)

    def close(self) -> None:
        self._client.close()

    def _request(self, question: str, reference: str, answer: str) -> dict:
        return {"model": self.model, "temperature": 0, "max_tokens": 256, "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": JUDGE_PROMPT.format(question=question, reference=reference,
                                                            answer=answer or "(no answer)")}]}

    def score(self, question: str, reference: str, answer: str, item_id: str = "") -> Judgement:
        body = self._request(question, reference, answer)
        last = ""
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
                                     f" ({r.text[:200]!r}); check eval.judge_endpoint, eval.judge_model "
                                     f"and {API_KEY_ENV}")
                else:
                    content = _content(r)
                    rating = parse_rating(content)
                    if rating is not None:
                        return Judgement(rating, content, attempt)
                    last = f"no 0-5 rating in the reply {content[:200]!r}"
            if attempt < self.max_attempts:
                self._sleep(min(wait, 60.0))
        raise JudgeError(f"judge {self.url} gave no usable score for item {item_id!r} after "
                         f"{self.max_attempts} attempts; last problem: {last}")


def _content(r: httpx.Response) -> str:
    try:
        return str(r.json()["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError):
        return r.text[:500]


def make_judge(eval_config) -> Judge:
    """The judge an `EvalConfig` asks for: HTTP when `judge_endpoint` is set, else offline."""
    if not eval_config.judge_endpoint:
        return OfflineJudge()
    return HTTPJudge(eval_config.judge_endpoint, eval_config.judge_model,
                     timeout_s=eval_config.judge_timeout_s, max_attempts=eval_config.judge_max_attempts)
