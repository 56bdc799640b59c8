"""Schemathesis generates requests from the published OpenAPI document for every operation:
whatever it sends, the API answers without a server error (no 5xx), in the documented shape."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings

from controller.app import create_app
from controller.core.settings import Settings
from controller.domain.seed import seed_commune
from controller.domain.users import create_token

TOKEN = "fuzz-token-" + "f" * 24
_DATA = Path(tempfile.mkdtemp(prefix="loa-fuzz-"))
app = create_app(
    Settings(data_dir=_DATA / "controller", api_token=TOKEN, max_text_chars=300),
    start_services=False,
)
create_token(app.state.runtime.store.db, "fuzz", token=TOKEN)
seed_commune(app.state.runtime.store)

schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_makes_the_api_fail(case):  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    content_type = " ".join(response.headers.get("content-type", []))
    if response.status_code >= 400 and content_type.startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] and error["message"]
