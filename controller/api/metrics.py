"""``/metrics``: prometheus-client's registry (controller/core/metrics.py) and the gauges read
from the database and the ingest queue at scrape time, bound to the app's runtime."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controller.core.errors import ApiError
from controller.domain import fleet, reports
from controller.services.runtime import Runtime
from loa.protocol import utcnow


class RuntimeCollector(Collector):
    """Gauges read from the database and the ingest queue at scrape time."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        rt = self.runtime
        db = rt.store.db
        now = utcnow()
        online, offline = fleet.online_offline(db, now, rt.settings.missed_heartbeats)
        nodes = GaugeMetricFamily("loa_nodes", "Nodes (not revoked) by status", labels=["status"])
        nodes.add_metric(["online"], online)
        nodes.add_metric(["offline"], offline)
        yield nodes

        dispatches = GaugeMetricFamily(
            "loa_dispatches", "Dispatch rows (the play log) by state", labels=["state"]
        )
        for state, count in reports.dispatches_by_state(db):
            dispatches.add_metric([state], count)
        yield dispatches

        alerts = GaugeMetricFamily("loa_alerts_open", "Open alerts by kind", labels=["kind"])
        for kind, count in fleet.open_alerts_by_kind(db):
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
