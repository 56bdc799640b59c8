"""Prometheus metrics: counters kept as things happen, gauges read from the database at scrape.

Process-wide counters and histograms live in prometheus-client's default registry (one
controller per process). What the database knows (nodes online, dispatches by state, open
alerts) and the ingest queue depth are read when ``/metrics`` is scraped, by a collector bound
to the app's runtime, so they are always true after a restart.

Names: ``loa_nodes{status}``, ``loa_dispatches{state}``, ``loa_alerts_open{kind}``,
``loa_ingest_queue_depth``, ``loa_ingest_batch_size``, ``loa_ingest_batch_seconds``,
``loa_mqtt_messages_received_total{kind}``, ``loa_commands_published_total{type,result}``,
``loa_render_seconds``, ``loa_node_status_changes_total{status,reason}``,
``loa_alert_events_total{kind,event}``, ``loa_webhook_deliveries_total{result}``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.core.errors import ApiError

if TYPE_CHECKING:
    from controller.services.runtime import Runtime

MQTT_MESSAGES = Counter(
    "loa_mqtt_messages_received", "MQTT messages received from nodes, by topic kind", ["kind"]
)
COMMANDS = Counter(
    "loa_commands_published", "Signed commands handed to the broker", ["type", "result"]
)
INGEST_BATCH = Histogram(
    "loa_ingest_batch_size",
    "Node messages applied per database transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
INGEST_SECONDS = Histogram(
    "loa_ingest_batch_seconds",
    "Time to apply one batch of node messages",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
RENDER_SECONDS = Histogram(
    "loa_render_seconds",
    "Text-to-speech rendering time of an announcement",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
NODE_STATUS_CHANGES = Counter(
    "loa_node_status_changes", "Node status changes written to the history", ["status", "reason"]
)
ALERT_EVENTS = Counter("loa_alert_events", "Alerts opened and closed", ["kind", "event"])
NODE_MESSAGES_DROPPED = Counter(
    "loa_node_messages_dropped",
    "Node messages dropped: their warnings are rate-limited, this counts every one",
    ["reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "loa_webhook_deliveries", "Alert webhook attempts, by outcome", ["result"]
)

_KINDS = {"state", "telemetry", "report"}


def count_message(topic: str) -> None:
    """Count one message from a node by its topic kind (``loa/v1/node/{id}/{kind}``)."""
    kind = topic.rsplit("/", 1)[-1]
    MQTT_MESSAGES.labels(kind if kind in _KINDS else "other").inc()


def counting_publisher(publish: Callable[[str, bytes], bool]) -> Callable[[str, bytes], bool]:
    """Wrap the dispatcher's publisher to count commands by type and outcome."""

    def counted(topic: str, payload: bytes) -> bool:
        ok = publish(topic, payload)
        try:
            type_ = str(json.loads(payload).get("type", "unknown"))
        except (ValueError, AttributeError):
            type_ = "unknown"
        COMMANDS.labels(type_, "published" if ok else "not_connected").inc()
        return ok

    return counted


class RuntimeCollector(Collector):
    """Gauges read from the database and the ingest queue at scrape time."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        from controller.domain import fleet
        from loa.protocol import utcnow

        rt = self.runtime
        db = rt.store.db
        now = utcnow()
        online = offline = 0
        for row in db.query("SELECT online, last_seen, heartbeat_s FROM nodes WHERE revoked = 0"):
            if fleet.is_online(row, now, rt.settings.missed_heartbeats):
                online += 1
            else:
                offline += 1
        nodes = GaugeMetricFamily("loa_nodes", "Nodes (not revoked) by status", labels=["status"])
        nodes.add_metric(["online"], online)
        nodes.add_metric(["offline"], offline)
        yield nodes

        dispatches = GaugeMetricFamily(
            "loa_dispatches", "Dispatch rows (the play log) by state", labels=["state"]
        )
        for state, count in db.execute("SELECT state, COUNT(*) FROM dispatches GROUP BY state"):
            dispatches.add_metric([state], count)
        yield dispatches

        alerts = GaugeMetricFamily("loa_alerts_open", "Open alerts by kind", labels=["kind"])
        for kind, count in db.execute(
            "SELECT kind, COUNT(*) FROM alerts WHERE closed_at IS NULL GROUP BY kind"
        ):
            alerts.add_metric([kind], count)
        yield alerts

        yield GaugeMetricFamily(
            "loa_ingest_queue_depth",
            "Node messages received and not yet applied",
            value=rt.ingest_depth(),
        )


class _Combined(Collector):
    def __init__(self, runtime: Runtime):
        self.own = RuntimeCollector(runtime)

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self.own.collect()


def registry_for(runtime: Runtime) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Combined(runtime))
    return registry


router = APIRouter()


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Prometheus text format. With ``metrics_token`` set, a matching bearer token is needed."""
    runtime = request.app.state.runtime
    expected = runtime.settings.metrics_token
    if expected:
        header = request.headers.get("authorization", "")
        if header != f"Bearer {expected}":
            raise ApiError(401, "unauthorized")
    registry: Any = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = registry_for(runtime)
        request.app.state.metrics_registry = registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
