"""What a source yields: ASR rows (audio file bytes + transcript) or chat rows (messages), and the
per-source tally of rows used and skipped by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AsrRow:
    id: str  # "<source>/<id in the dataset>", unique across sources
    index: int  # position in the source's stream (the resume point is the last index + 1)
    audio: bytes  # the audio file as stored (flac, opus, wav, ...), decodable by ichigo.audio
    text: str
    speaker: str
    language: str
    seconds: float


@dataclass(frozen=True)
class ChatRow:
    id: str
    index: int
    messages: list[dict]  # [{"role": "system"|"user"|"assistant", "content": str}, ...]
    language: str

    @property
    def user_turns(self) -> int:
        return sum(m["role"] == "user" for m in self.messages)


@dataclass
class SourceStats:
    name: str
    kind: str
    used: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> rows

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1

    def as_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "used": self.used,
                "skipped": dict(sorted(self.skipped.items()))}

    def merge(self, other: "SourceStats | dict") -> None:
        d = other.as_dict() if isinstance(other, SourceStats) else other
        self.used += d["used"]
        self.skipped.update(d["skipped"])
