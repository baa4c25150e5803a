"""The beta dialect of the Realtime protocol (`OpenAI-Beta: realtime=v1`, what
`client.beta.realtime.connect()` sends): the same events under their beta names and shapes.
Sessions speak GA internally; events are renamed on the way out. Client events need no mapping:
config.apply_update accepts the beta session fields (modalities, voice, input_audio_format,
turn_detection) and the beta client events have the GA names."""

from __future__ import annotations

NAMES = {
    "response.output_text.delta": "response.text.delta", "response.output_text.done": "response.text.done",
    "response.output_audio.delta": "response.audio.delta", "response.output_audio.done": "response.audio.done",
    "response.output_audio_transcript.delta": "response.audio_transcript.delta",
    "response.output_audio_transcript.done": "response.audio_transcript.done",
    "conversation.item.added": "conversation.item.created",
}
PARTS = {"output_audio": "audio", "output_text": "text"}


def _item(item: dict) -> dict:
    return {**item, "content": [_part(p) for p in item.get("content", [])]}


def _part(p: dict) -> dict:
    return {**p, "type": PARTS.get(p.get("type"), p.get("type"))}


def _session(s: dict) -> dict:
    a = s.get("audio", {})
    return {"id": s.get("id"), "object": "realtime.session", "model": s.get("model"),
            "modalities": ["text", "audio"] if "audio" in s.get("output_modalities", []) else ["text"],
            "instructions": s.get("instructions"), "voice": a.get("output", {}).get("voice"),
            "input_audio_format": "pcm16", "output_audio_format": "pcm16",
            "input_audio_transcription": a.get("input", {}).get("transcription"),
            "turn_detection": a.get("input", {}).get("turn_detection"), "tools": [], "tool_choice": "auto",
            "temperature": 0.8, "max_response_output_tokens": s.get("max_output_tokens")}


def to_beta(ev: dict) -> dict | None:
    """A GA server event in the beta dialect (None: the event has no beta counterpart)."""
    t = ev["type"]
    if t == "conversation.item.done":
        return None
    ev = {**ev, "type": NAMES.get(t, t)}
    if "item" in ev:
        ev["item"] = _item(ev["item"])
    if "part" in ev:
        ev["part"] = _part(ev["part"])
    if "session" in ev:
        ev["session"] = _session(ev["session"])
    if "response" in ev and isinstance(ev["response"], dict):
        r = ev["response"]
        ev["response"] = {**r, "output": [_item(i) for i in r.get("output") or []],
                          "modalities": ["text", "audio"] if "audio" in r.get("output_modalities", []) else ["text"]}
    return ev


__all__ = ["to_beta"]
