"""Protocol 2 (issue 17): zone topics, the zone command envelope and its checks on the node."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loa import protocol
from loa.protocol import NodeConfig, PlayStop, ProtocolError, QuietHours
from loa.signing import PublicKey, load_public_key_b64, public_key_b64, sign, verify_zone_command

KEY = Ed25519PrivateKey.generate()
PUBLIC: PublicKey = load_public_key_b64(public_key_b64(KEY))
NOW = datetime.now(UTC)


def _zone_command(zone: int = 7, **changes: object) -> dict:
    envelope = protocol.new_zone_command(
        "play.stop", zone, PlayStop(broadcast=3), ttl=timedelta(minutes=1), now=NOW
    )
    return sign({**envelope, **changes}, KEY)


def test_zone_topics_round_trip_and_refuse_anything_else():
    assert protocol.zone_topic(12) == "loa/v1/zone/12/cmd"
    assert protocol.zone_id_from_topic("loa/v1/zone/12/cmd") == 12
    for topic in (
        "loa/v1/zone/012/cmd",
        "loa/v1/zone/0/cmd",
        "loa/v1/zone/x/cmd",
        "loa/v1/zone/12/state",
        "loa/v1/node/12/cmd",
        "loa/v1/zone/12/cmd/x",
    ):
        assert protocol.zone_id_from_topic(topic) is None, topic


def test_a_zone_command_is_obeyed_by_the_zones_nodes_once_and_only_while_valid():
    cmd = verify_zone_command(_zone_command(), PUBLIC, [9, 7, 1], NOW)
    assert cmd.zone == 7 and cmd.type == "play.stop"
    with pytest.raises(ProtocolError) as refused:
        verify_zone_command(_zone_command(zone=8), PUBLIC, [9, 7, 1], NOW)
    assert refused.value.code == "wrong_zone"
    # on the node's own topic (the controller's re-send to that node) no zone check
    verify_zone_command(_zone_command(zone=8), PUBLIC, [9], NOW, own_topic=True)
    forged = {**_zone_command(), "zone": 9}  # moved to another zone after signing
    with pytest.raises(ProtocolError) as refused:
        verify_zone_command(forged, PUBLIC, [9], NOW)
    assert refused.value.code == "bad_signature"
    with pytest.raises(ProtocolError) as refused:
        verify_zone_command(_zone_command(), PUBLIC, [7], NOW + timedelta(minutes=2))
    assert refused.value.code == "expired"
    seen = {_zone_command()["id"]}
    again = _zone_command(id=next(iter(seen)))
    with pytest.raises(ProtocolError) as refused:
        verify_zone_command(again, PUBLIC, [7], NOW, seen)
    assert refused.value.code == "replayed"


def test_schedules_are_never_sent_to_a_zone_and_old_nodes_refuse_v2():
    with pytest.raises(ValueError):
        protocol.new_zone_command(
            "schedule.put",  # type: ignore[arg-type]
            7,
            protocol.SchedulePut(items=[]),
            ttl=timedelta(minutes=1),
        )
    with pytest.raises(ProtocolError) as refused:
        protocol.parse_model(protocol.Command, _zone_command())
    assert refused.value.code == "malformed"


def test_node_config_carries_only_the_settings_given():
    """A null clears that setting on the node: setting the volume (or the zones) must not
    clear the quiet hours."""
    body = protocol.new_command(
        "node.config", "n1", NodeConfig(volume=40), ttl=timedelta(minutes=1)
    )["body"]
    assert body == {"volume": 40}
    body = protocol.new_command(
        "node.config", "n1", NodeConfig(zones=[3, 1]), ttl=timedelta(minutes=1)
    )["body"]
    assert body == {"zones": [3, 1]}
    cleared = protocol.new_command(
        "node.config", "n1", NodeConfig(quiet_hours=None), ttl=timedelta(minutes=1)
    )["body"]
    assert cleared == {"quiet_hours": None}
    kept = NodeConfig(quiet_hours=QuietHours(start="22:00", end="05:00"))
    assert protocol.new_command("node.config", "n1", kept, ttl=timedelta(minutes=1))["body"] == {
        "quiet_hours": {"start": "22:00", "end": "05:00"}
    }
