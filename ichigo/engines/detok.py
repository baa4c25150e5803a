"""Incremental detokenisation: token ids arrive one by one, text leaves as deltas.

Byte-level BPE can split one UTF-8 character across tokens; decoding such a prefix yields U+FFFD.
We hold text back while the decoded tail is an incomplete character and re-decode a short window
(`prefix`..end) rather than the whole reply, so cost stays linear.
"""

from __future__ import annotations

from ichigo.model.tokenizer import IchigoTokenizer

REPLACEMENT = "\ufffd"


class IncrementalDecoder:
    def __init__(self, tokenizer: IchigoTokenizer):
        self.tok = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # window start (ids before it are already emitted as text)
        self._read = 0  # ids up to here are emitted
        self.text = ""

    def _decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special=True)

    def push(self, token_id: int) -> str:
        self.ids.append(int(token_id))
        done = self._decode(self.ids[self._prefix:self._read])
        now = self._decode(self.ids[self._prefix:])
        if len(now) > len(done) and not now.endswith(REPLACEMENT):
            delta = now[len(done):]
            self._prefix, self._read = self._read, len(self.ids)
            self.text += delta
            return delta
        return ""

    def flush(self) -> str:
        """At the end of the stream: whatever is left (an invalid tail stays as U+FFFD)."""
        done = self._decode(self.ids[self._prefix:self._read])
        now = self._decode(self.ids[self._prefix:])
        delta = now[len(done):] if now.startswith(done) else ""
        self._prefix = self._read = len(self.ids)
        self.text += delta
        return delta
