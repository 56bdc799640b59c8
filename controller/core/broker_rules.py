"""Who may read and write which MQTT topic: the one rule table for every broker.

Mosquitto's ACL file (``broker_files.acl_text``) is rendered from ``RULES``, and the HTTP
authorization that an MQTT cluster asks (``controller/api/broker_auth.py``: EMQX's HTTP
authorizer, mosquitto-go-auth's HTTP backend) evaluates the same ``RULES``; a test checks that
both answer alike for users × topics × actions.

A rule is who (every node, or the controller's own user), an access (read, write or both) and a
topic filter with placeholders:

- ``{node}``: the node's id (Mosquitto's ``%u``: every node's user name is its id);
- ``{zone}``: each zone of the node's chain, its own zone and every zone above it (protocol 2's
  zone-addressed commands, ``loa/v1/zone/{id}/cmd``). Mosquitto has no placeholder for that, so
  the file lists those topics under a ``user`` section per node.

To give nodes or the controller another topic, add a rule here: the file, the HTTP check and
their agreement test all follow.

Reading and subscribing differ between brokers. Mosquitto's file ACL lets any subscription
through and checks ``read`` on every message it delivers; EMQX checks only the subscription.
So the HTTP check allows a subscription only when *every* topic its filter can match is
readable (``loa/v1/node/+/cmd`` is refused to a node, which could otherwise read every node's
commands), and allows reading a message by the same rules as the file.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlite_utils

from loa.protocol import TOPIC_ROOT


class Access(enum.IntFlag):
    """Mosquitto's access bits (``MOSQ_ACL_READ``, ``MOSQ_ACL_WRITE``), as its file spells them."""

    READ = 1
    WRITE = 2
    READWRITE = 3

    @property
    def word(self) -> str:
        return {1: "read", 2: "write", 3: "readwrite"}[int(self)]


class Action(enum.Enum):
    """What a client asks to do: publish to a topic, receive a message on one, subscribe to a
    filter (which may hold wildcards)."""

    PUBLISH = "publish"
    READ = "read"
    SUBSCRIBE = "subscribe"


Who = Literal["node", "controller"]


@dataclass(frozen=True)
class Rule:
    who: Who
    access: Access
    #: An MQTT topic filter; ``{node}`` and ``{zone}`` as the module says.
    topic: str


RULES: tuple[Rule, ...] = (
    Rule("node", Access.READ, f"{TOPIC_ROOT}/node/{{node}}/cmd"),
    Rule("node", Access.READ, f"{TOPIC_ROOT}/zone/{{zone}}/cmd"),
    Rule("node", Access.WRITE, f"{TOPIC_ROOT}/node/{{node}}/state"),
    Rule("node", Access.WRITE, f"{TOPIC_ROOT}/node/{{node}}/telemetry"),
    Rule("node", Access.WRITE, f"{TOPIC_ROOT}/node/{{node}}/report"),
    Rule("controller", Access.READWRITE, f"{TOPIC_ROOT}/#"),
)

#: A name with these is never put into a topic: Mosquitto refuses ``%u`` patterns for them too.
UNSAFE_IN_NAME = frozenset("/+#\x00")
#: As protocol 2's ``node.config`` (``zones`` has at most 16).
MAX_ZONE_DEPTH = 16


@dataclass(frozen=True)
class Account:
    """Who asks: the controller's user, or a node (not revoked) with its zone chain."""

    who: Who
    username: str
    zones: tuple[int, ...] = ()


def topics_for(account: Account, access: Access, rules: Sequence[Rule] = RULES) -> list[str]:
    """The topic filters this account may use with ``access`` (read or write)."""
    found: list[str] = []
    if account.who == "node" and UNSAFE_IN_NAME & set(account.username):
        return found
    for rule in rules:
        if rule.who != account.who or not rule.access & access:
            continue
        topic = rule.topic.replace("{node}", account.username)
        if "{zone}" in topic:
            found += [topic.replace("{zone}", str(zone)) for zone in account.zones]
        else:
            found.append(topic)
    return found


def _levels(topic: str) -> list[str]:
    return topic.split("/")


def topic_matches(filter_: str, topic: str) -> bool:
    """MQTT matching of a concrete topic by a filter (``+`` one level, ``#`` the rest,
    including the parent level; a first level starting with ``$`` is never matched by a
    wildcard)."""
    if not topic or "+" in topic or "#" in topic:
        return False
    f, t = _levels(filter_), _levels(topic)
    if t[0].startswith("$") and f[0] in ("+", "#"):
        return False
    for i, level in enumerate(f):
        if level == "#":
            return True
        if i >= len(t):
            return False
        if level != "+" and level != t[i]:
            return False
    return len(f) == len(t)


def filter_within(filter_: str, pattern: str) -> bool:
    """True when every topic ``filter_`` can match is matched by ``pattern``."""
    f, p = _levels(filter_), _levels(pattern)
    if f[0].startswith("$") and p[0] in ("+", "#"):
        return False
    for i, level in enumerate(p):
        if level == "#":
            return True
        if i >= len(f):
            return False
        if f[i] == "#":
            return False
        if level == "+":
            continue
        if f[i] == "+" or f[i] != level:
            return False
    return len(f) == len(p)


def valid_filter(filter_: str) -> bool:
    """MQTT 3.1.1's rules for a subscription filter: ``#`` last and alone in its level, ``+``
    alone in its level, not empty."""
    if not filter_ or "\x00" in filter_:
        return False
    levels = _levels(filter_)
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            return False
        if "+" in level and level != "+":
            return False
    return True


def allowed(
    account: Account | None, action: Action, topic: str, rules: Sequence[Rule] = RULES
) -> bool:
    """Whether the account may do this; None (unknown, revoked) may do nothing."""
    if account is None or not topic or len(topic.encode()) > 65535:
        return False
    if action is Action.SUBSCRIBE:
        if not valid_filter(topic):
            return False
        return any(filter_within(topic, f) for f in topics_for(account, Access.READ, rules))
    access = Access.WRITE if action is Action.PUBLISH else Access.READ
    return any(topic_matches(f, topic) for f in topics_for(account, access, rules))


# --- the zone chains ----------------------------------------------------------------------------


def zone_chain(db: sqlite_utils.Database, zone_id: int | None) -> tuple[int, ...]:
    """A zone and every zone above it, nearest first (at most ``MAX_ZONE_DEPTH``)."""
    if zone_id is None:
        return ()
    rows = db.execute(
        """
        WITH RECURSIVE up(id, parent_id, depth) AS (
          SELECT id, parent_id, 0 FROM zones WHERE id = ?
          UNION ALL SELECT z.id, z.parent_id, up.depth + 1 FROM zones z
            JOIN up ON z.id = up.parent_id WHERE up.depth + 1 < ?
        ) SELECT id FROM up ORDER BY depth
        """,
        [zone_id, MAX_ZONE_DEPTH],
    ).fetchall()
    return tuple(r[0] for r in rows)


def node_zone_chains(db: sqlite_utils.Database) -> dict[str, tuple[int, ...]]:
    """Every node's (not revoked) zone chain, by node id."""
    parents = {r[0]: r[1] for r in db.execute("SELECT id, parent_id FROM zones").fetchall()}
    chains: dict[int, tuple[int, ...]] = {}

    def chain(zone_id: int) -> tuple[int, ...]:
        if zone_id not in chains:
            found: list[int] = []
            current: int | None = zone_id
            while current is not None and current in parents and len(found) < MAX_ZONE_DEPTH:
                if current in found:  # a loop in the tree: stop there
                    break
                found.append(current)
                current = parents[current]
            chains[zone_id] = tuple(found)
        return chains[zone_id]

    rows = db.execute("SELECT id, zone_id FROM nodes WHERE revoked = 0 ORDER BY id").fetchall()
    return {node_id: chain(zone_id) if zone_id is not None else () for node_id, zone_id in rows}


# --- Mosquitto's ACL file -----------------------------------------------------------------------


def acl_lines(
    controller_username: str,
    zones: Mapping[str, Iterable[int]] | None = None,
    rules: Sequence[Rule] = RULES,
) -> list[str]:
    """Mosquitto's ACL file for ``rules``: ``pattern`` lines for the node rules (``%u``), a
    ``user`` section for the controller, and one per node for its zones' topics."""
    lines = [
        "# Written by Loa (controller/core/broker_files.py) on every node change: do not edit.",
        "# Every node's user name is its id; %u is that name.",
    ]
    lines += [
        f"pattern {r.access.word} {r.topic.replace('{node}', '%u')}"
        for r in rules
        if r.who == "node" and "{zone}" not in r.topic
    ]
    lines += [
        "",
        "# The controller: everything under the protocol's root.",
        f"user {controller_username}",
    ]
    lines += [f"topic {r.access.word} {r.topic}" for r in rules if r.who == "controller"]
    zone_rules = [r for r in rules if r.who == "node" and "{zone}" in r.topic]
    if zone_rules and zones:
        lines += ["", "# Each node: the commands of its zone and of every zone above it."]
        for node_id, chain in sorted(zones.items()):
            if node_id == controller_username or UNSAFE_IN_NAME & set(node_id):
                continue
            chain = list(chain)
            if not chain:
                continue
            lines.append(f"user {node_id}")
            for r in zone_rules:
                topic = r.topic.replace("{node}", node_id)
                lines += [f"topic {r.access.word} {topic.replace('{zone}', str(z))}" for z in chain]
    lines.append("")
    return lines
