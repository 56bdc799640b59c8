"""Who is acting: an official (through the web or a token of theirs), an integration's
token, or a node; and the official an API token stands for. Reading it off a request is
controller/api/deps.py's."""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

from controller.domain import users


@dataclass(frozen=True)
class Identity:
    kind: str  # "token" | "user" | "node"
    name: str
    role: str
    user_id: int | None = None
    #: The official's area (a zone subtree); None means everywhere.
    zone_id: int | None = None

    @property
    def key(self) -> str:
        """Who this is, for authorship: the same person through the web or a token of theirs."""
        return f"user:{self.user_id}" if self.user_id is not None else f"{self.kind}:{self.name}"


def token_official(db: sqlite_utils.Database, token: str) -> Identity | None:
    """The official an API token stands for; None for an unknown or revoked token, or one
    whose owner was disabled."""
    row = users.token_identity(db, token)
    if row is None:
        return None
    if row["user_id"] is None:  # an integration's own token
        return Identity("token", row["name"], row["role"])
    owner = users.get_user(db, row["user_id"])
    if owner is None:
        return None
    # A personal token acts as its owner: same role, same area, same authorship.
    return Identity("token", owner["display_name"], owner["role"], owner["id"], owner["zone_id"])
