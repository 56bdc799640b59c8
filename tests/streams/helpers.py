"""Talking to a running commune about streams, and reading what node sinks received."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.net import wait_until
from tests.support.system import APPROVER_TOKEN, Commune


def add_source(commune: Commune, url: str, name: str = "VOV1") -> dict[str, Any]:
    with commune.api() as api:
        r = api.post("/api/v1/stream-sources", json={"name": name, "url": url})
        assert r.status_code == 201, r.text
        return r.json()


def schedule_relay(
    commune: Commune, source_id: int, seconds_ahead: float, window_s: float, **extra: Any
) -> dict[str, Any]:
    with commune.api(APPROVER_TOKEN) as api:
        r = api.post(
            "/api/v1/relays",
            json={
                "stream_source_id": source_id,
                "zone_ids": [commune.seeded.commune_id],
                "starts_at": (datetime.now(UTC) + timedelta(seconds=seconds_ahead)).isoformat(),
                "window_s": window_s,
                **extra,
            },
        )
        assert r.status_code == 201, r.text
        return r.json()


def broadcast(commune: Commune, broadcast_id: int) -> dict[str, Any]:
    with commune.api() as api:
        return api.get(f"/api/v1/broadcasts/{broadcast_id}").json()


def wait_final(commune: Commune, broadcast_id: int, timeout: float) -> dict[str, Any]:
    final = ("played", "interrupted", "failed", "missed", "cancelled")

    def done() -> dict[str, Any] | None:
        b = broadcast(commune, broadcast_id)
        states = {d["state"] for d in b["dispatches"]}
        return b if b["dispatches"] and states <= set(final) else None

    return wait_until(done, timeout=timeout, interval=0.25, what=f"broadcast {broadcast_id} done")


def sink_play(commune: Commune, node_id: str, broadcast_id: int) -> dict[str, Any]:
    plays = [p for p in commune.plays(node_id) if p["broadcast"] == broadcast_id]
    assert len(plays) == 1, (node_id, commune.plays(node_id))
    return plays[0]


def stream_files(commune: Commune, node_id: str, play: dict[str, Any]) -> tuple[Path, Path]:
    label = f"{play['broadcast']}-{play['occurrence']}"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)
    folder = commune.node_dir(node_id) / "streams"
    return folder / f"{safe}.audio", folder / f"{safe}.times"


def timeline(times_path: Path) -> list[tuple[float, int]]:
    """(wall time, bytes received so far) per chunk the node's sink wrote."""
    out = []
    for line in times_path.read_text().splitlines():
        t, n = line.split()
        out.append((float(t), int(n)))
    return out


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False)
