"""Admission for realtime sessions: the per-replica session cap and metrics (API keys are checked
for every /v1 route, this WebSocket included, by serving/access.py).

Affinity: a realtime session is one WebSocket, so every event of a session reaches the replica
that accepted it (HAProxy / a Kubernetes ingress forward the upgraded TCP connection as a whole;
no cookie is needed). State lives only there: a dropped connection ends the session, as at
OpenAI, and a reconnect starts a new one on any replica. Every proxy in front must allow
long-lived upgraded connections: Ray Serve's HAProxy cuts a tunnel after its client timeout
(RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S, 3600 s by default: keep it >= serving.realtime.max_session_s),
and a Kubernetes ingress controller in front needs the same (e.g. nginx `proxy-read-timeout` /
`proxy-send-timeout`), at least serving.realtime.idle_timeout_s.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

class RealtimeMetrics:
    def __init__(self, registry: CollectorRegistry):
        r = registry
        self.sessions = Gauge("ichigo_realtime_sessions", "Open realtime sessions", registry=r)
        self.generating = Gauge("ichigo_realtime_generations", "Realtime responses being generated",
                                registry=r)
        self.refused = Counter("ichigo_realtime_refused", "Sessions refused (cap or key)", ["reason"],
                               registry=r)
        self.responses = Counter("ichigo_realtime_responses", "Responses by final status", ["status"],
                                 registry=r)
        self.first_audio = Histogram("ichigo_realtime_first_audio_seconds",
                                     "End of user speech (speech_stopped) to the first audio delta",
                                     buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5), registry=r)
        self.barge_in = Histogram("ichigo_realtime_barge_in_seconds",
                                  "Speech start detected to the response's generation stopped",
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1), registry=r)


class SessionSlots:
    """At most `limit` sessions on this replica."""

    def __init__(self, limit: int, metrics: RealtimeMetrics):
        self.limit, self.open, self.metrics = limit, 0, metrics

    def try_acquire(self) -> bool:
        if self.open >= self.limit:
            self.metrics.refused.labels("session_limit").inc()
            return False
        self.open += 1
        self.metrics.sessions.set(self.open)
        return True

    def release(self) -> None:
        self.open -= 1
        self.metrics.sessions.set(self.open)


__all__ = ["RealtimeMetrics", "SessionSlots"]
