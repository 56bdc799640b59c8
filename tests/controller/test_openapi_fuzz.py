"""Schemathesis generates requests from the published OpenAPI document for every operation
(issue 19): whatever it sends, the API answers without a server error, only with the statuses,
content types and headers the document declares, a 405 with a correct ``Allow``, and no
operation ignores its authentication. A tiny app that answers a status it does not declare
makes the same checks fail, so they cannot pass silently.

Not asserted yet (schemathesis ``--checks all`` still finds them; docs/api.md): a few
schema-valid requests the data or configuration refuses (``positive_data_acceptance``: a join
code whose name makes no node id, a stream URL inside the controller's network, a cloud voice
without an account, lat without lon) and ``negative_data_rejection``."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, seed, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.openapi.checks import UndefinedStatusCode
from schemathesis.specs.openapi import checks

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

#: The contract checks that hold for every operation (all of schemathesis's but the two named
#: in the module docstring).
CONTRACT = [
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
    checks.ignored_auth,
    checks.missing_required_header,
    checks.unsupported_method,
    checks.allow_header_conformance,
    checks.use_after_free,
    checks.ensure_resource_availability,
]


@schema.parametrize()
@seed(19)
@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_makes_the_api_fail(case):  # type: ignore[no-untyped-def]
    response = case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=CONTRACT)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text)
    content_type = " ".join(response.headers.get("content-type", []))
    if response.status_code >= 400 and content_type.startswith("application/json"):
        error = response.json()["error"]
        assert error["code"] and error["message"]


def test_an_undocumented_status_fails_the_checks() -> None:
    planted = FastAPI()

    @planted.get("/teapot", responses={200: {"description": "tea"}})
    def teapot() -> JSONResponse:
        return JSONResponse({"error": "no"}, status_code=418)  # declared: only 200

    operation = schemathesis.openapi.from_asgi("/openapi.json", planted)["/teapot"]["GET"]

    @given(case=operation.as_strategy())
    @settings(max_examples=1, deadline=None)
    def call(case):
        case.call_and_validate(checks=CONTRACT)

    with pytest.raises(FailureGroup) as found:
        call()
    assert [type(e) for e in found.value.exceptions] == [UndefinedStatusCode]
