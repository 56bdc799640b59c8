"""A controller app on a real SQLite file, without its background services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.app import create_app
from controller.seed import SeededCommune, seed_commune
from controller.settings import Settings

TOKEN = "test-token-" + "x" * 20


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "controller", api_token=TOKEN, max_text_chars=500)


@pytest.fixture
def app_client(settings: Settings) -> Iterator[tuple[TestClient, SeededCommune]]:
    app = create_app(settings, start_services=False)
    runtime = app.state.runtime
    from controller.users import create_token

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
