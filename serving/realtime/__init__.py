"""`/v1/realtime`: the OpenAI Realtime protocol over a WebSocket on the ingress (server VAD,
barge-in, multi-turn sessions). protocol.py (events), config.py (session.update), conversation.py
(items and context), session.py (one connection's loop and responses), backend.py (the model
calls), limits.py (API keys, session cap, metrics)."""
