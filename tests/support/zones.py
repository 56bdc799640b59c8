"""Nodes of protocol 2 as they are once they have acked their zones' ``node.config``: told
and confirmed (``nodes.listen_zones`` and ``zones_confirmed``: their zone chain). Only such
nodes get zone commands; tests that stand in for nodes mark them so."""

from __future__ import annotations

import sqlite_utils

from controller.core import broker_rules
from controller.services.dispatch import zone_chain_text


def listening_to_their_zones(db: sqlite_utils.Database) -> None:
    """Every node of protocol 2 has confirmed its current zone chain."""
    chains = broker_rules.node_zone_chains(db)
    for (node_id,) in db.execute("SELECT id FROM nodes WHERE protocol >= 2").fetchall():
        chain = zone_chain_text(chains.get(node_id, ()))
        db.execute(
            "UPDATE nodes SET listen_zones = ?, zones_confirmed = ? WHERE id = ?",
            [chain, chain, node_id],
        )
