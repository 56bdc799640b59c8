"""A live broadcast's session follows its broadcast: cancelling the broadcast ends the session,
so no official speaks on into speakers that were told to stop."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from controller.domain.seed import SeededCommune


def test_cancelling_a_live_broadcast_ends_its_session(client: TestClient, commune: SeededCommune):
    made = client.post("/api/v1/live", json={"zone_ids": [commune.commune_id]})
    assert made.status_code == 201, made.text
    live = made.json()["broadcast_id"]
    assert client.get(f"/api/v1/live/{live}").json()["ended_at"] is None

    cancelled = client.post(f"/api/v1/broadcasts/{live}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    deadline = time.monotonic() + 15
    while (status := client.get(f"/api/v1/live/{live}").json())["ended_at"] is None:
        assert time.monotonic() < deadline, "the session is still open"
        time.sleep(0.05)
    assert status["end_reason"] == "cancelled"
    # the microphone can no longer be connected to it
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect(f"/api/v1/live/{live}/ws"),
    ):
        pass
    assert (refused.value.code, refused.value.reason) == (4404, "live_not_found")
