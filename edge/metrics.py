"""Prometheus metrics: request duration by route and status, inference time by model, active bundles by name,
and counts of events a plugin reports (``count_event``).

Under gunicorn, ``storefront-edge serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` so that ``/metrics`` adds
up every worker; without it each app has its own registry.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The node's metric objects, in a registry of their own."""

    def __init__(self):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "storefront_edge_request_duration_seconds", "HTTP request duration",
            ["route", "method", "status"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.inference = Histogram(
            "storefront_edge_inference_seconds", "Model inference time", ["model"],
            buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.bundle = Gauge(
            "storefront_edge_bundle_active", "1 for each bundle name and version this worker serves",
            ["name", "version"], registry=self.registry, multiprocess_mode="livemax",
        )
        self.plugin_events = Counter(
            "storefront_edge_plugin_events", "Events a plugin counts (for example fraud payments scored again)",
            ["plugin", "event"], registry=self.registry,
        )
        self._bundle_labels: set = set()

    def observe_inference(self, model: str, seconds: float) -> None:
        self.inference.labels(model).observe(seconds)

    def count_event(self, plugin: str, event: str, amount: int = 1) -> None:
        """Add ``amount`` to ``storefront_edge_plugin_events_total{plugin, event}`` (summed over workers)."""
        self.plugin_events.labels(plugin, event).inc(amount)

    def event_count(self, plugin: str, event: str) -> float:
        """This worker's count of ``event`` from ``plugin`` (:meth:`count_event`), 0 before the first."""
        labels = {"plugin": plugin, "event": event}
        return self.registry.get_sample_value("storefront_edge_plugin_events_total", labels) or 0.0

    def set_bundle(self, active) -> None:
        """Mark every bundle of ``active`` (an ``ActiveSet``) as served by this worker; versions it left drop to 0."""
        labels = {(b.name, b.version) for b in active.bundles.values()}
        for gone in self._bundle_labels - labels:
            self.bundle.labels(*gone).set(0)
        for served in labels:
            self.bundle.labels(*served).set(1)
        self._bundle_labels = labels

    def exposition(self) -> bytes:
        """The text exposition: every worker's under multiprocess mode, else this registry's."""
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess

        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)

    def init_app(self, app: Flask) -> None:
        """Time every request."""

        @app.before_request
        def _start_timer():
            g._started = time.perf_counter()

        @app.after_request
        def _observe(response):
            started = g.pop("_started", None)
            if started is not None:
                route = request.url_rule.rule if request.url_rule else "<unmatched>"
                self.requests.labels(route, request.method, str(response.status_code)).observe(time.perf_counter() - started)
            return response

    def response(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(self.exposition(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
