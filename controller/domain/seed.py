"""The demo commune: Xã Lạc Lâm with three villages and a speaker cluster in each."""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.db import Store
from controller.domain import fleet, zones

DEMO_VILLAGES = [
    ("Thôn Lạc Xuân", "lac-xuan-1"),
    ("Thôn Lạc Bình", "lac-binh-1"),
    ("Thôn Đồng Thạnh", "dong-thanh-1"),
]


@dataclass(frozen=True)
class SeededNode:
    node_id: str
    name: str
    zone_id: int
    secret: str


@dataclass(frozen=True)
class SeededCommune:
    commune_id: int
    nodes: list[SeededNode]


def seed_commune(store: Store) -> SeededCommune:
    """Create the demo commune and its nodes; call once on an empty database."""
    with store.transaction() as db:
        commune = zones.add_zone(db, "Xã Lạc Lâm", "commune")
        seeded = []
        for village, node_id in DEMO_VILLAGES:
            zone_id = zones.add_zone(db, village, "village", parent_id=commune)
            secret = fleet.add_node(db, node_id, zone_id, f"Cụm loa {village}")
            seeded.append(SeededNode(node_id, f"Cụm loa {village}", zone_id, secret))
    return SeededCommune(commune, seeded)
