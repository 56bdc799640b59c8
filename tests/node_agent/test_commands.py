"""Only commands the controller signed for this node, unexpired and never seen before, are
obeyed; everything else is refused with a stable code and the agent stays up."""

from __future__ import annotations

import json
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa.protocol import MAX_PAYLOAD_BYTES, NodePing, SchedulePut
from tests.node_agent.harness import item, media_blob, soon, wait_online
from tests.support.net import wait_until


def test_refuses_forged_wrong_node_expired_replayed_and_garbage(node_factory, controller, media):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    content = media.content(media_blob("x"), duration_s=0.2)
    put = SchedulePut(items=[item(9, content, soon(2.5))])

    forged = controller.command(
        "schedule.put", node.node_id, put, sign_with=Ed25519PrivateKey.generate()
    )
    wrong = controller.command("schedule.put", "someone-else", put)
    expired = controller.command("schedule.put", node.node_id, put, ttl=-5)
    tampered = dict(controller.command("schedule.put", node.node_id, put))
    tampered["body"] = SchedulePut(items=[item(10, content, soon(2.5))]).model_dump(mode="json")
    for env in (forged, wrong, expired, tampered):
        controller.publish(node.node_id, env)
    controller.publish(node.node_id, b"{not json")
    controller.publish(node.node_id, b'["an", "array"]')
    huge = json.dumps({"id": "huge-1", "pad": "x" * (MAX_PAYLOAD_BYTES + 10)}).encode()
    controller.publish(node.node_id, huge)
    unsigned = dict(controller.command("node.ping", node.node_id, NodePing()))
    del unsigned["sig"]
    controller.publish(node.node_id, unsigned)

    assert controller.ack(forged["id"])["code"] == "bad_signature"
    assert controller.ack(expired["id"])["code"] == "expired"
    assert controller.ack(tampered["id"])["code"] == "bad_signature"
    assert controller.ack("huge-1")["code"] == "too_large"
    assert controller.ack(unsigned["id"])["code"] == "bad_signature"
    # the wrong-node command is validly signed, so it is refused for its node id
    assert controller.ack(wrong["id"])["code"] == "wrong_node"
    for code in ("bad_signature", "wrong_node", "expired", "too_large"):
        assert all(
            a["body"]["ok"] is False
            for a in controller.reports(type_="ack")
            if a["body"]["code"] == code
        )

    good = controller.send("schedule.put", node.node_id, put)
    assert controller.ack(good["id"])["ok"] is True
    controller.publish(node.node_id, good)  # the same command again: a replay

    def replays() -> list[dict]:
        return [
            a
            for a in controller.reports(type_="ack")
            if a["body"]["cmd_id"] == good["id"] and not a["body"]["ok"]
        ]

    [replay] = wait_until(replays, 10, what="replay refused")
    assert replay["body"]["code"] == "replayed"
    controller.finished(node.node_id, 9)
    time.sleep(0.5)
    assert [p["broadcast"] for p in node.plays()] == [9], "only the good command played, once"
    assert node.alive


def test_replay_cache_survives_restart(node_factory, controller):
    node = node_factory().start()
    wait_online(controller, node.node_id)
    ping = controller.send("node.ping", node.node_id, NodePing())
    assert controller.ack(ping["id"])["ok"]
    node.stop()
    node.start()
    wait_online(controller, node.node_id)
    controller.publish(node.node_id, ping)
    refused = wait_until(
        lambda: [
            a
            for a in controller.reports(type_="ack")
            if a["body"]["cmd_id"] == ping["id"] and a["body"]["code"] == "replayed"
        ],
        10,
        what="replayed after restart",
    )
    assert refused
