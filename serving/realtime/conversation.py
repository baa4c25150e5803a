"""A session's conversation: user turns as sound tokens (or text), replies as text, kept within the
model's context by dropping the oldest items whole.

Token counts are upper bounds the ingress can compute without the tokenizer (which lives in the
LLM replica): a sound turn is exactly its codes + the two sound markers; text is at most one token
per UTF-8 byte (the tokenizers are byte-level BPE); a reply's count is what the LLM reported
generating. Each message adds its chat-template header and end-of-turn tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ichigo.chat_template import Message, Sound

MESSAGE_OVERHEAD = 16  # <|start_header_id|> role <|end_header_id|> "\n\n" ... <|eot_id|>, bounded


def text_tokens(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass
class Item:
    id: str
    role: str  # user | assistant | system
    parts: list = field(default_factory=list)  # str | Sound
    status: str = "completed"
    kind: str = "audio"  # how the client gave it: audio | text (for the item's JSON content type)
    tokens: int | None = None  # exact count when known (a reply: what was generated)
    audio_ms: int = 0  # length of the item's audio (user speech or the reply's speech)
    transcript: str | None = None

    def token_bound(self) -> int:
        if self.tokens is not None:
            return self.tokens + MESSAGE_OVERHEAD
        n = sum(len(p.codes) + 2 if isinstance(p, Sound) else text_tokens(p) for p in self.parts)
        return n + MESSAGE_OVERHEAD

    def text(self) -> str:
        return "".join(p for p in self.parts if isinstance(p, str))

    def message(self) -> Message | None:
        parts = [p for p in self.parts if isinstance(p, Sound) or p.strip()]
        return Message(self.role, parts) if parts else None

    def to_json(self) -> dict:
        content = []
        for p in self.parts:
            if isinstance(p, Sound):
                content.append({"type": "input_audio", "transcript": self.transcript})
            elif self.role == "assistant":
                content.append({"type": "output_audio" if self.kind == "audio" else "output_text",
                                **({"transcript": p} if self.kind == "audio" else {"text": p})})
            else:
                content.append({"type": "input_text", "text": p})
        return {"id": self.id, "object": "realtime.item", "type": "message", "status": self.status,
                "role": self.role, "content": content}


class Conversation:
    def __init__(self):
        self.items: list[Item] = []

    def add(self, item: Item) -> str | None:
        """Append; returns the previous item's id (the protocol's `previous_item_id`)."""
        prev = self.items[-1].id if self.items else None
        self.items.append(item)
        return prev

    def get(self, item_id: str) -> Item | None:
        return next((i for i in self.items if i.id == item_id), None)

    def delete(self, item_id: str) -> bool:
        n = len(self.items)
        self.items = [i for i in self.items if i.id != item_id]
        return len(self.items) < n

    def fit(self, budget: int) -> list[Item]:
        """Drop the oldest items whole until the rest fits `budget` tokens; returns the dropped.
        The newest item is never dropped (the caller refuses a single turn that cannot fit), and a
        reply is not kept without the user turn before it being dropped too (orphan replies would
        answer nothing)."""
        dropped: list[Item] = []
        while len(self.items) > 1 and sum(i.token_bound() for i in self.items) > budget:
            dropped.append(self.items.pop(0))
            while len(self.items) > 1 and self.items[0].role == "assistant":
                dropped.append(self.items.pop(0))
        return dropped

    def messages(self, instructions: str | None) -> list[Message]:
        msgs = [Message("system", instructions)] if instructions and instructions.strip() else []
        for item in self.items:
            m = item.message()
            if m is None:
                continue
            if m.role == "system":  # a client-added system item: the template allows one, first
                msgs = [Message("system", "\n".join(filter(None, [msgs[0].parts[0] if msgs else "",
                                                                   item.text()])))] + msgs[1:]
                continue
            if msgs and msgs[-1].role == m.role:  # two user turns in a row (text + audio): one message
                msgs[-1] = Message(m.role, list(msgs[-1].parts) + ["\n"] + list(m.parts))
            else:
                msgs.append(m)
        return msgs


__all__ = ["Conversation", "Item", "MESSAGE_OVERHEAD", "text_tokens"]
