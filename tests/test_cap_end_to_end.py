"""A CAP alert on real parts (issue 16): pushed to a controller process with a source's token,
or listed in a feed it polls, it sounds on the node-agent processes whose clusters lie inside
its polygon, not on the one outside, and the alert's Cancel stops it mid-play.
Real Mosquitto, real SQLite, real espeak-ng and ffmpeg, three node agents."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.domain import cap
from controller.domain.cap import Area, Info, Reference
from tests.controller.test_cap_sources import FeedServer
from tests.support.broker import Mosquitto
from tests.support.net import wait_until
from tests.support.system import Commune

pytestmark = pytest.mark.slow

SENDER = "canhbao@kttvttb.vn"
#: Over the coast: Lạc Xuân and Lạc Bình inside, Đồng Thạnh (inland) outside.
COAST = ((15.80, 108.25), (15.80, 108.45), (16.00, 108.45), (16.00, 108.25), (15.80, 108.25))
POSITIONS = {
    "lac-xuan-1": (15.88, 108.33),
    "lac-binh-1": (15.93, 108.40),
    "dong-thanh-1": (16.20, 108.05),
}
INSIDE = {"lac-xuan-1", "lac-binh-1"}


@pytest.fixture
def commune(tmp_path: Path, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path, mosquitto.url)
    for node_id, (lat, lon) in POSITIONS.items():
        c.store.db.execute("UPDATE nodes SET lat = ?, lon = ? WHERE id = ?", [lat, lon, node_id])
    try:
        yield c
    finally:
        c.stop()
        print(c.logs())


def _typhoon(identifier: str, msg_type: str = "Alert", refs: tuple[Reference, ...] = ()) -> bytes:
    now = datetime.now(UTC).replace(microsecond=0)
    return cap.write(
        identifier=identifier,
        sender=SENDER,
        sent=now,
        status="Actual",
        msg_type=msg_type,
        references=refs,
        infos=(
            Info(
                language="vi-VN",
                categories=("Met",),
                event="Bão",
                urgency="Immediate",
                severity="Extreme",
                certainty="Observed",
                headline="Bão số 6 đổ bộ vùng ven biển",
                description=(
                    "Bão số 6 đang đổ bộ vào vùng ven biển các xã phía đông, gió mạnh cấp 12, "
                    "giật cấp 14, nước biển dâng cao từ hai đến ba mét, sóng biển cao năm mét. "
                    "Mưa rất to kéo dài, nguy cơ ngập lụt vùng trũng và sạt lở đất ven sông."
                ),
                instruction=(
                    "Người dân vùng ven biển khẩn trương di chuyển đến nơi trú ẩn an toàn, "
                    "không ra khơi, không ở lại trên tàu thuyền và lồng bè, chằng chống nhà cửa."
                ),
                expires=now + timedelta(hours=6),
                areas=(Area("Ven biển", polygons=(COAST,)),),
            ),
        ),
    )


def _broadcast(api: Any, broadcast_id: int) -> dict[str, Any]:
    return dict(api.get(f"/api/v1/broadcasts/{broadcast_id}").json())


def test_a_pushed_alert_plays_inside_its_area_only_and_its_cancel_stops_it(commune: Commune):
    commune.start_controller()
    commune.start_nodes()
    commune.wait_nodes_online()
    with commune.api() as admin:
        made = admin.post("/api/v1/cap/sources", json={"name": "Đài KTTV", "kind": "push"})
        assert made.status_code == 201, made.text
        token = made.json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/cap+xml"}
        pushed = admin.post("/api/v1/cap", content=_typhoon("BAO06-E2E-1"), headers=headers)
        assert pushed.status_code == 200, pushed.text
        alert = pushed.json()
        assert alert["outcome"] == "emergency" and alert["node_count"] == 2, alert
        broadcast_id = alert["broadcast_id"]
        assert {d["node_id"] for d in _broadcast(admin, broadcast_id)["dispatches"]} == INSIDE

        def playing() -> bool:
            states = {d["state"] for d in _broadcast(admin, broadcast_id)["dispatches"]}
            return states == {"playing"}

        wait_until(playing, timeout=20, interval=0.1, what="the clusters inside playing it")
        cancel = admin.post(
            "/api/v1/cap",
            content=_typhoon(
                "BAO06-E2E-2",
                "Cancel",
                (Reference(SENDER, "BAO06-E2E-1", datetime.now(UTC).replace(microsecond=0)),),
            ),
            headers=headers,
        )
        assert cancel.status_code == 200, cancel.text
        assert cancel.json()["outcome"] == "cancelled"
        cancelled_at = datetime.now(UTC)
        assert _broadcast(admin, broadcast_id)["status"] == "cancelled"
    wait_until(
        lambda: all(commune.plays(n) for n in INSIDE),
        timeout=15,
        what="the clusters inside recording the stopped play",
    )
    for node_id in INSIDE:
        (play,) = commune.plays(node_id)
        assert play["broadcast"] == broadcast_id
        assert play["result"] != "played", play  # stopped before its end
        finished = datetime.fromisoformat(play["finished_at"])
        assert (finished - cancelled_at).total_seconds() < 5, "the cancel stops it at once"
    assert commune.plays("dong-thanh-1") == []  # outside the polygon: never sounded


def test_an_alert_in_a_polled_feed_plays_inside_its_area_only(commune: Commune):
    server = FeedServer()
    try:
        server.files["/cap/BAO06-FEED.xml"] = ("application/cap+xml", _typhoon("BAO06-FEED"))
        server.index(["BAO06-FEED"])
        commune.start_controller()
        commune.start_nodes()
        commune.wait_nodes_online()
        with commune.api() as admin:
            made = admin.post(
                "/api/v1/cap/sources",
                json={"name": "Đài tỉnh", "url": f"{server.url}/feed.atom", "interval_s": 30},
            )
            assert made.status_code == 201, made.text

            def received() -> list[dict[str, Any]]:
                """The alerts applied (``received`` is one being applied)."""
                alerts = admin.get("/api/v1/cap/alerts").json()
                return [a for a in alerts if a["outcome"] != "received"]

            wait_until(received, timeout=15, interval=0.2, what="the feed polled and applied")
            (alert,) = received()
            assert alert["outcome"] == "emergency" and set(alert["node_ids"]) == INSIDE
            source = admin.get(f"/api/v1/cap/sources/{made.json()['id']}").json()
            assert source["last_ok_at"] and source["etag"]

            def started() -> bool:
                dispatches = _broadcast(admin, alert["broadcast_id"])["dispatches"]
                return {d["state"] for d in dispatches} <= {"playing", "played"}

            wait_until(started, timeout=20, interval=0.2, what="the clusters inside playing it")
            dispatches = _broadcast(admin, alert["broadcast_id"])["dispatches"]
            assert {d["node_id"] for d in dispatches} == INSIDE
            assert all(d["started_at"] for d in dispatches)
        assert commune.plays("dong-thanh-1") == []
    finally:
        server.server.shutdown()
        server.server.server_close()
