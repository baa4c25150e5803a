"""Hostile-audio table: file class -> HTTP status serving answers, error type, time.

    .venv/bin/python benchmarks/bench_hostile_audio.py

Each file goes through the same decode call (`ichigo.assistant.decode_audio` with the default
`serving.max_audio_seconds` 10 s and `max_upload_bytes` 5 MB) and exception mapping
(`serving.errors.from_exception`) as a `/v1/speech` upload; the baseline row is a valid 2 s WAV.
Target: every hostile row a 4xx in < 1 s.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.data.hostile_audio import table  # noqa: E402


def main() -> int:
    rows = table()
    print(f"| {'file class':<32} | {'bytes':>9} | status | {'type':<26} | time ms |")
    print(f"| {'-' * 32} | {'-' * 9} | ------ | {'-' * 26} | ------- |")
    for name, size, status, kind, secs in rows:
        print(f"| {name:<32} | {size:>9} | {status:>6} | {kind:<26} | {1000 * secs:7.1f} |")
    bad = [r for r in rows[1:] if not (400 <= r[2] < 500 and r[4] < 1.0)]
    print("all hostile rows 4xx in < 1 s" if not bad else f"FAILED: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
