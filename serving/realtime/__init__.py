"""`/v1/realtime`: the OpenAI Realtime protocol over a WebSocket on the ingress (server VAD,
barge-in, multi-turn sessions). protocol.py (events), config.py (session.update), beta.py (the
beta dialect), input_audio.py (the input buffer + VAD), conversation.py (items and context),
session.py (one connection's loop and responses), backend.py (the model calls), limits.py (API
keys, session cap, metrics), endpoint.py (the WebSocket handler the ingress mounts)."""
