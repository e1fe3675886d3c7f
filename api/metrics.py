"""Prometheus metrics of one app (its own registry, so that several apps in one process, as in
the tests, do not collide), served at GET /metrics in the text format."""
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily


class Metrics:
    def __init__(self, admission, cache, models):
        self.registry = CollectorRegistry()
        self.requests = Counter("stylize_requests_total", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("stylize_request_seconds", "HTTP request latency by route", ["route"],
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
                                 registry=self.registry)
        self.in_flight = Gauge("stylize_requests_in_flight", "HTTP requests being handled", registry=self.registry)
        self.rejections = Counter("stylize_rejections_total", "Requests refused, by reason", ["reason"],
                                  registry=self.registry)
        self.streams = Gauge("stylize_stream_sessions", "Live camera sessions open (each holds a slot)",
                             registry=self.registry)
        self.stream_frames = Counter("stylize_stream_frames_total", "Camera frames of closed sessions, sent back "
                                     "or dropped for a newer one", ["result"], registry=self.registry)
        self.registry.register(_LiveState(admission, cache, models))

    def observe(self, route, method, status, seconds):
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def reject(self, reason):
        self.rejections.labels(reason).inc()


class _LiveState:
    """Read at scrape time: the admission queue, the style cache's counters, model load times."""

    def __init__(self, admission, cache, models):
        self.admission, self.cache, self.models = admission, cache, models

    def collect(self):
        load = GaugeMetricFamily("stylize_model_load_seconds", "Time to load each model at startup", labels=["model"])
        for model, seconds in self.models.load_seconds.items():
            load.add_metric([model], seconds)
        yield load
        yield GaugeMetricFamily("stylize_queue_depth", "Admitted requests waiting for a slot",
                                value=self.admission.queued)
        yield GaugeMetricFamily("stylize_running", "Stylisations running", value=self.admission.running)
        stats = self.cache.stats()
        for name in ("hits", "misses"):
            yield CounterMetricFamily(f"stylize_style_cache_{name}", f"Style cache {name}", value=stats[name])
        yield GaugeMetricFamily("stylize_style_cache_entries", "Encoded styles in the cache", value=stats["entries"])
