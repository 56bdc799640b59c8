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
from collections.abc import Callable

from prometheus_client import (
    Counter,
    Histogram,
)

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
