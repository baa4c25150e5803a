"""Prometheus metrics of the ingress (requests, errors, latency, time to first token/audio), and
`RouteCall`: how one request's outcome is counted in them."""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: F401 - re-exported for the route

from serving.errors import ApiError, from_exception

log = logging.getLogger("ichigo.serving")

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


class RouteCall:
    """One request on `route`, from its arrival (`t0`, perf_counter): counted once, by how it ended."""

    def __init__(self, metrics: Metrics, route: str):
        self.metrics, self.route, self.t0 = metrics, route, time.perf_counter()

    def ok(self, status: int = 200) -> None:
        self.metrics.requests.labels(self.route, str(status)).inc()
        self.metrics.latency.labels(self.route).observe(time.perf_counter() - self.t0)

    def failed(self, e: BaseException) -> ApiError:
        """The error response for `e` before any byte was sent: bad input as its 4xx, anything
        else a logged 500 that names only the exception's type."""
        err = from_exception(e)
        if err is None:
            log.exception("internal error on %s", self.route, exc_info=e)
            err = ApiError(500, f"internal error ({type(e).__name__}); see the server log", "server_error")
        self.metrics.requests.labels(self.route, str(err.status)).inc()
        self.metrics.errors.labels(self.route, err.type).inc()
        self.metrics.latency.labels(self.route).observe(time.perf_counter() - self.t0)
        return err

    def broke(self, e: BaseException) -> ApiError:
        """A stream that broke after its 200 was sent: the error goes in-band, the replica serves on."""
        err = from_exception(e) or ApiError(500, f"stream failed ({type(e).__name__})", "server_error")
        if err.status >= 500:
            log.exception("stream failed on %s", self.route, exc_info=e)
        self.metrics.requests.labels(self.route, "stream_error").inc()
        self.metrics.errors.labels(self.route, err.type).inc()
        return err

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.metrics.in_flight.dec()
