"""The API's Prometheus metrics, on a registry of its own (one per application, so tests and
several apps in one process do not share counters)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["KNOWN_METHODS", "ApiMetrics"]

# Other methods are counted as OTHER: a label value per made-up method would grow without end.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ApiMetrics:
    """``xgate_api_requests_total{method, route, status, scope}`` (``route`` is the route's
    template, ``unmatched`` when none matched; ``scope`` the calling API key's highest scope,
    ``none`` without an authenticated key) and ``xgate_api_request_duration_seconds{method, route}``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter(
            "xgate_api_requests",
            "HTTP requests answered, by method, route template, status and scope",
            ["method", "route", "status", "scope"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "xgate_api_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, scope: str, seconds: float) -> None:
        method = method if method in KNOWN_METHODS else "OTHER"
        self.requests.labels(method, route, str(status), scope).inc()
        self.latency.labels(method, route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
