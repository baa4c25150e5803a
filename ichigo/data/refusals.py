"""Refusal answers for inaudible inputs from a teacher LLM (OpenAI-compatible endpoint), falling
back to the offline bank in `ichigo.refusal` (labelled as such in the stage manifest).

The teacher's answer is cached on disk keyed by endpoint, model and prompt, so a rebuild gets the
same refusals (sampling at temperature > 0 would otherwise change the data on every run)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from ichigo.refusal import OFFLINE_REFUSALS

@dataclass
class RefusalSet:
    texts: list[str]
    source: str  # "teacher" | "offline" | "offline (teacher failed: ...)"


PROMPT = ("Write {n} different short replies (one per line, no numbering) that a voice assistant "
          "gives when the user's audio was inaudible or only noise. Vary the wording; be polite; "
          "ask the user to repeat.")


def teacher_refusals(endpoint: str, n: int = 24, model: str = "teacher", timeout: float = 30.0,
                     retries: int = 3, transport: httpx.BaseTransport | None = None) -> list[str]:
    """Ask an OpenAI-compatible /chat/completions endpoint; retries with backoff on errors."""
    url = endpoint.rstrip("/") + ("" if endpoint.rstrip("/").endswith("/chat/completions") else "/chat/completions")
    body = {"model": model, "temperature": 0.9,
            "messages": [{"role": "user", "content": PROMPT.format(n=n)}]}
    last: Exception | None = None
    with httpx.Client(timeout=timeout, transport=transport) as client:
        for attempt in range(retries):
            try:
                r = client.post(url, json=body)
                r.raise_for_status()
                content = r.json()["choices"][0]["message"]["content"]
                lines = [re.sub(r"^\s*(\d+[.)]|[-*])\s*", "", ln).strip().strip('"')
                         for ln in content.splitlines()]
                texts = list(dict.fromkeys(ln for ln in lines if 8 <= len(ln) <= 200))
                if texts:
                    return texts
                last = ValueError("teacher returned no usable lines")
            except (httpx.HTTPError, KeyError, IndexError, ValueError) as e:
                last = e
            time.sleep(min(4.0, 0.25 * 2 ** attempt))
    raise RuntimeError(f"teacher at {url} failed after {retries} tries: {last}")


def teacher_cache_dir() -> Path:
    return Path(os.environ.get("ICHIGO_CACHE_DIR", Path.home() / ".cache" / "ichigo")).resolve() / "teacher"


def get_refusals(endpoint: str | None, transport: httpx.BaseTransport | None = None, n: int = 24,
                 model: str = "teacher", cache_dir: str | Path | None = None) -> RefusalSet:
    if not endpoint:
        return RefusalSet(list(OFFLINE_REFUSALS), "offline")
    key = hashlib.sha256(json.dumps([endpoint, model, PROMPT.format(n=n)]).encode()).hexdigest()[:16]
    cached = Path(cache_dir or teacher_cache_dir()) / f"refusals-{key}.json"
    if cached.is_file():
        return RefusalSet(json.loads(cached.read_text()), "teacher")
    try:
        texts = teacher_refusals(endpoint, n=n, model=model, transport=transport)
    except RuntimeError as e:  # the build goes on; the manifest says why the bank was used
        return RefusalSet(list(OFFLINE_REFUSALS), f"offline (teacher failed: {e})"[:300])
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(texts))
    os.replace(tmp, cached)
    return RefusalSet(texts, "teacher")
