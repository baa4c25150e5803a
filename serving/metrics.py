"""Prometheus metrics of the ingress (requests, errors, latency, time to first token/audio)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401 - re-exported for the route

_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ichigo_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.errors = Counter("ichigo_request_errors", "Failed requests by route and error type",
                              ["route", "type"], registry=r)
        self.latency = Histogram("ichigo_request_latency_seconds", "End-to-end latency (last byte)",
                                 ["route"], buckets=_BUCKETS, registry=r)
        self.ttft = Histogram("ichigo_time_to_first_token_seconds", "Request start to first text delta",
                              ["route"], buckets=_BUCKETS, registry=r)
        self.ttfa = Histogram("ichigo_time_to_first_audio_seconds", "Request start to first audio chunk",
                              ["route"], buckets=_BUCKETS, registry=r)
        self.in_flight = Gauge("ichigo_requests_in_flight", "Requests being served", registry=r)
        self.failovers = Counter("ichigo_llm_failovers", "LLM streams resumed on another replica",
                                 registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)
