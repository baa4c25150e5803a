"""Readers for instruction and conversation datasets (JSONL or Parquet), normalised to OpenAI-style
messages. Schemas:
- alpaca: `instruction`, optional `input`, `output` -> [user(instruction + input), assistant(output)];
- messages: `messages` = [{role, content}] (OpenAI; content may be a list of text parts);
- sharegpt: `conversations` = [{from, value}] with from human/gpt/system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from ichigo.config.sections import SourceSpec
from ichigo.data.sources.files import data_files, jsonl_records, missing_column, parquet_records

ROLES = {"user": "user", "human": "user", "assistant": "assistant", "gpt": "assistant",
         "bot": "assistant", "model": "assistant", "system": "system"}


@dataclass
class RawChat:
    raw_id: str
    messages: list[dict] | None
    reason: str = ""


def _records(spec: SourceSpec, required: list[str], optional: list[str]) -> Iterator[tuple[str, dict | None]]:
    """(default id, record) from every JSONL/Parquet file; the first record of each JSONL file must
    carry the required column, so a wrong format or mapping fails on load."""
    for f in data_files(spec, (".jsonl", ".json", ".parquet")):
        if f.suffix == ".parquet":
            for n, rec in enumerate(parquet_records(spec, f, required, optional)):
                yield f"{f.stem}-{n}", rec
            continue
        checked = False
        for n, rec in jsonl_records(spec, f):
            if rec is not None and not checked:
                for c in required:
                    if c not in rec:
                        raise missing_column(spec, f, c, rec.keys())
                checked = True
            yield f"{f.stem}-{n}", rec


def _text(value) -> str | None:
    """A message content as text; None for a wrong type."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) for p in value):  # OpenAI content parts
        texts = [p.get("text") for p in value if p.get("type") == "text"]
        return "".join(texts) if all(isinstance(t, str) for t in texts) else None
    return None


def _alpaca(spec: SourceSpec, rec: dict) -> tuple[list[dict] | None, str]:
    vals = [rec.get(spec.column(k)) for k in ("instruction", "input", "output")]
    if any(v is not None and not isinstance(v, str) for v in vals):
        return None, "wrong_type"
    instruction, extra, output = ((v or "").strip() for v in vals)
    if not instruction or not output:
        return None, "empty_text"
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}], ""


def _conversation(spec: SourceSpec, rec: dict) -> tuple[list[dict] | None, str]:
    turns = rec.get(spec.column("messages"))
    if not isinstance(turns, list) or not all(isinstance(t, dict) for t in turns):
        return None, "wrong_type"
    out = []
    for t in turns:
        role, content = ROLES.get(str(t.get(spec.column("role"))).lower()), _text(t.get(spec.column("content")))
        if role is None:
            return None, "bad_role"
        if content is None:
            return None, "wrong_type"
        if not content.strip():
            return None, "empty_text"
        out.append({"role": role, "content": content.strip()})
    # a usable conversation has a user turn answered by the assistant, and ends on an answer
    body = [m for m in out if m["role"] != "system"]
    if not body or body[0]["role"] != "user" or body[-1]["role"] != "assistant" or any(
            a["role"] == b["role"] for a, b in zip(body, body[1:])):
        return None, "no_exchange"
    return out, ""


def read_chat(spec: SourceSpec) -> Iterator[RawChat]:
    if spec.format == "alpaca":
        required, parse = [spec.column("instruction"), spec.column("output")], _alpaca
        optional = [spec.column("input"), spec.column("id")]
    else:
        required, parse = [spec.column("messages")], _conversation
        optional = [spec.column("id")]
    for default_id, rec in _records(spec, required, optional):
        if rec is None:
            yield RawChat(default_id, None, "invalid_json")
            continue
        messages, reason = parse(spec, rec)
        raw_id = rec.get(spec.column("id"))
        yield RawChat(str(raw_id) if isinstance(raw_id, (str, int)) and raw_id != "" else default_id,
                      messages, reason)
