"""The one chat template shared by training, evaluation and serving.

The original Ichigo used three slightly different prompt layouts (training, eval, demo); here
every caller goes through `tokenize_chat`, which works at the token level so that text is never
re-tokenized across a boundary differently in two places. `render_chat` gives the same
conversation as a string for logs, model cards and OpenAI-style clients;
`decode(tokenize_chat(m).ids) == render_chat(m, fmt=tok.chat_format)` is a tested invariant.

The layout follows the base model (`ChatFormat`): Llama-3 headers for Llama-3 bases, ChatML for
SmolLM2-style bases. The tokenizer carries its format; the sound span format is the same in both.
Callers name control tokens by their Llama-3 role names (BEGIN_OF_TEXT, END_OF_TEXT, EOT, PAD);
the tokenizer maps each to the base's own token (see `ChatFormat.roles`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping, Protocol, Sequence, Union

from ichigo.errors import InputError
from ichigo.sound_tokens import NUM_SOUND_TOKENS, SOUND_END, SOUND_START, SoundVocab, format_sound

BEGIN_OF_TEXT = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
EOT = "<|eot_id|>"
PAD = "<|finetune_right_pad_id|>"
SPECIAL_TOKENS: tuple[str, ...] = (BEGIN_OF_TEXT, END_OF_TEXT, START_HEADER, END_HEADER, EOT, PAD)

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
CHATML_EOS = "<|endoftext|>"


@dataclass(frozen=True)
class ChatFormat:
    """How a base model lays out a chat. `roles` maps the Llama-3 role names that callers use to
    this base's tokens; `bos` is what starts a chat (None: nothing, as in ChatML)."""

    name: Literal["llama3", "chatml"]
    roles: Mapping[str, str]  # BEGIN_OF_TEXT/END_OF_TEXT/EOT/PAD -> this base's token
    bos: str | None
    turn_start: str  # before the role name
    role_end: str  # between role name and content (a token in Llama-3, text in ChatML)
    after_eot: str  # plain text after the end-of-turn token (not part of the reply)
    default_system: str | None = None  # inserted when a chat has no system turn (the base's own)

    @property
    def required_tokens(self) -> tuple[str, ...]:
        toks = {self.turn_start, *self.roles.values()}
        if self.name == "llama3":
            toks.add(END_HEADER)
        return tuple(sorted(toks))

    def header(self, role: str) -> str:
        return f"{self.turn_start}{role}{self.role_end}"


LLAMA3 = ChatFormat(
    name="llama3", roles={BEGIN_OF_TEXT: BEGIN_OF_TEXT, END_OF_TEXT: END_OF_TEXT, EOT: EOT, PAD: PAD},
    bos=BEGIN_OF_TEXT, turn_start=START_HEADER, role_end=END_HEADER + "\n\n", after_eot="")
# ChatML has no separate document-start or pad token: a document starts after <|endoftext|>, and
# the pad must be a token that never occurs in a prompt (batched generation treats every pad id as
# padding), so an unused control token of the base is taken (`chatml_format`).
CHATML_PAD_CANDIDATES = ("<empty_output>", "<|fim_pad|>", "<pad>", "<|pad|>")
SUPPORTED_FORMATS = ("llama3 (<|start_header_id|> headers)", "chatml (<|im_start|> turns)")


def chatml_format(vocab: Mapping[str, int], default_system: str | None = None) -> ChatFormat:
    pad = next((t for t in CHATML_PAD_CANDIDATES if t in vocab), None)
    if pad is None:
        raise InputError(f"a ChatML tokenizer needs an unused control token as pad; none of "
                         f"{list(CHATML_PAD_CANDIDATES)} is in the vocabulary")
    return ChatFormat(name="chatml", roles={BEGIN_OF_TEXT: CHATML_EOS, END_OF_TEXT: CHATML_EOS,
                                            EOT: IM_END, PAD: pad},
                      bos=None, turn_start=IM_START, role_end="\n", after_eot="\n",
                      default_system=default_system)


_DEFAULT_SYSTEM_RE = re.compile(r"<\|im_start\|>system\n(.+?)<\|im_end\|>", re.S)


def chat_format_for(template: str | None, vocab: Mapping[str, int], source: str) -> ChatFormat:
    """The layout a tokenizer's chat template (jinja text, as in tokenizer_config.json or GGUF
    metadata) describes. Without a template, a vocabulary holding the Llama-3 header tokens is
    taken as Llama-3 (checkpoints this platform wrote before templates were stored)."""
    if template:
        if START_HEADER in template and END_HEADER in template:
            fmt = LLAMA3
        elif IM_START in template and IM_END in template:
            m = _DEFAULT_SYSTEM_RE.search(template)
            fmt = chatml_format(vocab, m.group(1) if m else None)
        else:
            raise InputError(f"{source}: the chat template is neither of the supported layouts "
                             f"{list(SUPPORTED_FORMATS)}; it begins {template[:80]!r}")
    elif START_HEADER in vocab and END_HEADER in vocab:
        fmt = LLAMA3
    else:
        raise InputError(f"{source}: the tokenizer has no chat template (no chat_template in its "
                         f"metadata and no Llama-3 header tokens); supported: {list(SUPPORTED_FORMATS)}")
    missing = [t for t in fmt.required_tokens if t not in vocab]
    if missing:
        raise InputError(f"{source}: the {fmt.name} chat template needs the tokens {missing}, "
                         "which the vocabulary lacks")
    return fmt


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
    chat_format: ChatFormat

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


def _with_default_system(messages: Sequence[Message], fmt: ChatFormat) -> Sequence[Message]:
    if fmt.default_system and messages and messages[0].role != "system":
        return [Message("system", fmt.default_system), *messages]
    return messages


def render_chat(messages: Sequence[Message], add_generation_prompt: bool = False,
                fmt: ChatFormat = LLAMA3) -> str:
    out = [fmt.bos or ""]
    for m in _with_default_system(messages, fmt):
        body = "".join(format_sound(p.codes) if isinstance(p, Sound) else p for p in m.parts)
        out.append(fmt.header(m.role) + body + fmt.roles[EOT] + fmt.after_eot)
    if add_generation_prompt:
        out.append(fmt.header("assistant"))
    return "".join(out)


def tokenize_chat(
    messages: Sequence[Message], tok: ChatTokenizer, add_generation_prompt: bool = False
) -> TokenizedChat:
    """Messages -> token ids, with every sound code as exactly one id."""
    if not messages:
        raise ValueError("a chat needs at least one message")
    fmt = tok.chat_format
    res = TokenizedChat()
    if fmt.bos:
        res._add([tok.special_id(fmt.bos)], False)
    header_ids = {r: _header_ids(r, tok) for r in ("system", "user", "assistant")}
    after = tok.encode_text(fmt.after_eot) if fmt.after_eot else []
    for m in _with_default_system(messages, fmt):
        res._add(header_ids[m.role], False)
        is_out = m.role == "assistant"
        for p in m.parts:
            res._add(tok.sound.ids(p.codes) if isinstance(p, Sound) else tok.encode_text(p), is_out)
        res._add([tok.special_id(EOT)], is_out)
        res._add(after, False)
    if add_generation_prompt:
        res._add(header_ids["assistant"], False)
    return res


def _header_ids(role: str, tok: ChatTokenizer) -> list[int]:
    fmt = tok.chat_format
    if fmt.name == "llama3":
        return [tok.special_id(START_HEADER), *tok.encode_text(role), tok.special_id(END_HEADER),
                *tok.encode_text("\n\n")]
    return [tok.special_id(fmt.turn_start), *tok.encode_text(role + fmt.role_end)]


def sound_only_ids(codes: Sequence[int], tok: ChatTokenizer) -> list[int]:
    """Stage-1 row: `[BOS, sound_start, codes..., sound_end, EOS]` (no chat layout; on a ChatML
    base both ends are its document separator)."""
    return [tok.special_id(BEGIN_OF_TEXT), *tok.sound.ids(codes), tok.special_id(END_OF_TEXT)]


def user_audio(codes: Sequence[int], prompt: str | None = None) -> Message:
    """A user turn holding speech, optionally preceded by an instruction (e.g. transcription)."""
    parts: list[Part] = [prompt + "\n"] if prompt else []
    parts.append(Sound(codes))
    return Message("user", parts)


__all__ = [
    "BEGIN_OF_TEXT", "END_OF_TEXT", "EOT", "PAD", "SPECIAL_TOKENS", "SOUND_START", "SOUND_END",
    "ChatFormat", "LLAMA3", "chatml_format", "chat_format_for",
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
