"""The one chat template shared by training, evaluation and serving.

The original Ichigo used three slightly different prompt layouts (training, eval, demo); here
every caller goes through `tokenize_chat`, which works at the token level so that text is never
re-tokenized across a boundary differently in two places. `render_chat` gives the same
conversation as a string (Llama-3 layout) for logs, model cards and OpenAI-style clients;
`decode(tokenize_chat(m).ids) == render_chat(m)` is a tested invariant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Literal, Protocol, Sequence, Union

from ichigo.sound_tokens import NUM_SOUND_TOKENS, SOUND_END, SOUND_START, SoundVocab, format_sound

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"
SPECIAL_TOKENS: tuple[str, ...] = (BEGIN_OF_TEXT, END_OF_TEXT, START_HEADER, END_HEADER, EOT, PAD)

Role = Literal["system", "user", "assistant"]
IGNORE_INDEX = -100  # label value that the loss skips


@dataclass(frozen=True)
class Sound:
    """An utterance as sound codes (0..512)."""

    codes: tuple[int, ...]

    def __init__(self, codes: Iterable[int]):
        object.__setattr__(self, "codes", tuple(int(c) for c in codes))


Part = Union[str, Sound]


@dataclass(frozen=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    def __init__(self, role: Role, content: Part | Sequence[Part]):
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"unknown role {role!r}: use system, user or assistant")
        parts = (content,) if isinstance(content, (str, Sound)) else tuple(content)
        if role != "user" and any(isinstance(p, Sound) for p in parts):
            raise ValueError(f"only user turns may hold sound, not {role}")
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "parts", parts)

    @property
    def text(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))


class ChatTokenizer(Protocol):
    """What the template needs from a tokenizer (see ichigo.model.tokenizer)."""

    sound: SoundVocab

    def encode_text(self, text: str) -> list[int]: ...

    def special_id(self, token: str) -> int: ...


@dataclass
class TokenizedChat:
    ids: list[int] = field(default_factory=list)
    # True where the token belongs to an assistant reply (incl. its <|eot_id|>): the "output".
    is_output: list[bool] = field(default_factory=list)

    def labels(self, train_on_input: bool) -> list[int]:
        """Next-token targets aligned with `ids` (shifting happens in the loss)."""
        if train_on_input:
            return list(self.ids)
        return [t if out else IGNORE_INDEX for t, out in zip(self.ids, self.is_output)]

    def _add(self, ids: Sequence[int], output: bool) -> None:
        self.ids.extend(ids)
        self.is_output.extend([output] * len(ids))


def _header(role: str) -> str:
    return f"{START_HEADER}{role}{END_HEADER}\n\n"


def render_chat(messages: Sequence[Message], add_generation_prompt: bool = False) -> str:
    out = [BEGIN_OF_TEXT]
    for m in messages:
        body = "".join(format_sound(p.codes) if isinstance(p, Sound) else p for p in m.parts)
        out.append(_header(m.role) + body + EOT)
    if add_generation_prompt:
        out.append(_header("assistant"))
    return "".join(out)


def tokenize_chat(
    messages: Sequence[Message], tok: ChatTokenizer, add_generation_prompt: bool = False
) -> TokenizedChat:
    """Messages -> token ids, with every sound code as exactly one id."""
    if not messages:
        raise ValueError("a chat needs at least one message")
    res = TokenizedChat()
    res._add([tok.special_id(BEGIN_OF_TEXT)], False)
    header_ids = {r: _header_ids(r, tok) for r in ("system", "user", "assistant")}
    for m in messages:
        res._add(header_ids[m.role], False)
        is_out = m.role == "assistant"
        for p in m.parts:
            res._add(tok.sound.ids(p.codes) if isinstance(p, Sound) else tok.encode_text(p), is_out)
        res._add([tok.special_id(EOT)], is_out)
    if add_generation_prompt:
        res._add(header_ids["assistant"], False)
    return res


def _header_ids(role: str, tok: ChatTokenizer) -> list[int]:
    return [tok.special_id(START_HEADER), *tok.encode_text(role), tok.special_id(END_HEADER),
            *tok.encode_text("\n\n")]


def sound_only_ids(codes: Sequence[int], tok: ChatTokenizer) -> list[int]:
    """Stage-1 row: `[BOS, sound_start, codes..., sound_end, EOS]` (no chat layout)."""
    return [tok.special_id(BEGIN_OF_TEXT), *tok.sound.ids(codes), tok.special_id(END_OF_TEXT)]


def user_audio(codes: Sequence[int], prompt: str | None = None) -> Message:
    """A user turn holding speech, optionally preceded by an instruction (e.g. transcription)."""
    parts: list[Part] = [prompt + "\n"] if prompt else []
    parts.append(Sound(codes))
    return Message("user", parts)


__all__ = [
    "BEGIN_OF_TEXT", "END_OF_TEXT", "EOT", "PAD", "SPECIAL_TOKENS", "SOUND_START", "SOUND_END",
    "IGNORE_INDEX", "Message", "Sound", "TokenizedChat", "render_chat", "tokenize_chat",
    "sound_only_ids", "user_audio", "messages_to_json", "messages_from_json",
]


def messages_to_json(messages: Sequence[Message]) -> list[dict]:
    """Plain-data form used in dataset shards and HTTP bodies."""
    return [{"role": m.role, "content": [
        {"type": "sound", "codes": list(p.codes)} if isinstance(p, Sound) else {"type": "text", "text": p}
        for p in m.parts]} for m in messages]


def _sound(codes: object, i: int) -> Sound:
    """Client-sent codes: whole numbers in 0..512 (anything else would fail inside the LLM)."""
    if not isinstance(codes, list) or not all(type(c) is int and 0 <= c < NUM_SOUND_TOKENS for c in codes):
        raise ValueError(f"message {i}: sound codes must be a list of integers 0..{NUM_SOUND_TOKENS - 1}")
    return Sound(codes)


def messages_from_json(data: Sequence[dict]) -> list[Message]:
    out = []
    for i, m in enumerate(data):
        try:
            content = m["content"]
            if isinstance(content, str):
                parts: list[Part] = [content]
            else:
                parts = [_sound(p["codes"], i) if p["type"] == "sound" else str(p["text"]) for p in content]
            out.append(Message(m["role"], parts))
        except (KeyError, TypeError) as e:
            raise ValueError(f"message {i} is malformed ({e!r}): expected "
                             "{'role': ..., 'content': [{'type': 'text'|'sound', ...}]}") from None
    return out
