"""The HTTP surface does not change by accident: the OpenAPI document and every route (path,
methods, name, in the order they match) are compared with ``tests/data/openapi_before.json``,
written before the controller was cut into layers (issue 13).

When the API is meant to change, regenerate the file and review its diff:
``python -m tests.controller.test_api_surface``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from controller.app import create_app
from controller.core.settings import Settings

BEFORE = Path(__file__).parent.parent / "data" / "openapi_before.json"


def surface(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document and the route table (included routers flattened), in matching
    order; a WebSocket route has no methods."""
    routes = [
        [r.path, sorted(r.methods or []), r.name, type(r.original_route).__name__]
        for r in iter_route_contexts(app.routes)
    ]
    return {"openapi": app.openapi(), "routes": routes}


def build_app() -> FastAPI:
    data = Path(tempfile.mkdtemp(prefix="loa-surface-"))
    return create_app(Settings(data_dir=data / "controller"), start_services=False)


def test_openapi_document_is_unchanged() -> None:
    before = json.loads(BEFORE.read_text())
    assert surface(build_app())["openapi"] == before["openapi"]


def test_every_route_keeps_its_path_methods_name_and_place() -> None:
    before = json.loads(BEFORE.read_text())
    assert surface(build_app())["routes"] == before["routes"]


if __name__ == "__main__":
    BEFORE.write_text(json.dumps(surface(build_app()), indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {BEFORE}", file=sys.stderr)
