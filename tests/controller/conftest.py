"""A controller app on a real SQLite file, without its background services."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.core.db import insert
from controller.core.security import hash_password
from controller.core.settings import Settings
from controller.domain.seed import SeededCommune, seed_commune
from controller.domain.users import create_token

TOKEN = "test-token-" + "x" * 20


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "controller",
        api_token=TOKEN,
        max_text_chars=500,
        # the tests' stream stations listen on loopback (docs/streams.md: stream_allowed_hosts)
        stream_allowed_hosts=("127.0.0.0/8", "::1"),
    )


@pytest.fixture
def app_client(settings: Settings) -> Iterator[tuple[TestClient, SeededCommune]]:
    app = create_app(settings, start_services=False)
    runtime = app.state.runtime
    create_token(runtime.store.db, "test", token=TOKEN)
    commune = seed_commune(runtime.store)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        yield client, commune


@pytest.fixture
def client(app_client: tuple[TestClient, SeededCommune]) -> TestClient:
    return app_client[0]


@pytest.fixture
def commune(app_client: tuple[TestClient, SeededCommune]) -> SeededCommune:
    return app_client[1]


@functools.cache
def _password_hash() -> str:
    return hash_password(People.PASSWORD)


class People:
    """One signed-in official per role (whole commune), and an editor of one village only.

    ``headers(name)`` gives the Authorization header of that official's personal API token.
    """

    ROLES = ("admin", "editor", "approver", "operator", "viewer", "announcer")

    PASSWORD = "mat-khau-chung-123"

    def __init__(self, client: TestClient, commune: SeededCommune):
        db = client.app.state.runtime.store.db  # type: ignore[attr-defined]
        self.tokens: dict[str, str] = {}
        self.ids: dict[str, int] = {}
        for role in self.ROLES:
            self._add(db, role, role, None)
        village = commune.nodes[0].zone_id
        self._add(db, "village_editor", "editor", village)
        self._add(db, "village_approver", "approver", village)
        self.village_zone = village
        self.other_zone = commune.nodes[1].zone_id

    def _add(self, db: Any, name: str, role: str, zone_id: int | None) -> None:
        # One argon2 hash for everyone: hashing is deliberately slow, and these are fixtures.
        user_id = insert(
            db,
            "users",
            {
                "username": name,
                "display_name": name,
                "password_hash": _password_hash(),
                "role": role,
                "zone_id": zone_id,
                "disabled": 0,
            },
        )
        self.ids[name] = user_id
        self.tokens[name] = create_token(db, name, user_id=user_id)

    def headers(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


@pytest.fixture
def people(client: TestClient, commune: SeededCommune) -> People:
    return People(client, commune)
