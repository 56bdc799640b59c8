"""Schemathesis fuzzes the published OpenAPI document against a real controller serving HTTP
(issue 19), the way an integrator would: ``st run --checks all`` with every phase (examples,
coverage, fuzzing, stateful), positive and negative data, a fixed seed. Whatever it sends, the
API answers without a server error, only with the statuses, content types and headers the
document declares, a 405 with a correct ``Allow``, no ignored authentication; a request the
schema calls valid is accepted, one it calls invalid is refused.

One refinement of ``positive_data_acceptance`` (``positive_data_acceptance_declared`` below,
loaded into the ``st`` process as its hooks module): a 422 whose error code the operation lists
in its 422 answer's ``x-data-refusals`` (errors.DATA_REFUSALS: only this controller's data,
configuration or clock can decide them, e.g. a stream URL inside the controller's network) is
a declared answer, not a contract failure; and a case whose body schemathesis generated
negative is not judged as positive data (schemathesis 4.32's coverage phase labels a
near-boundary path-number case "positive" while its body is a negative one, e.g. ``0``).

A request refused for its size (413 ``body_too_large``, before it is read) counts as refused
(``negative_data_rejection``'s statuses plus 413: ``SCHEMATHESIS_CONFIG`` below).

Left out: ``/api/v1/tokens/{token_id}`` (DELETE there can revoke the token the run uses, and
every later answer would be a 401). The CAP routes are in; the push (``POST /api/v1/cap``,
an XML body in its declared content types) is first fuzzed alone with a push source's own
token, as an integrator sends it, so that what schemathesis makes reaches the CAP parser
(with the admin's token and no ``source_id`` it is a 404). The broker-auth routes are not in
the document at all.

A tiny app that answers a status it does not declare makes the same run fail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi import checks

from tests.support.net import free_port, wait_for_port

TOKEN = "fuzz-token-" + "f" * 24
ROOT = Path(__file__).parents[2]
#: Fixed seed and budget: every phase, all checks, well under a minute on two cores.
SEED = 19
MAX_EXAMPLES = 6
SCHEMATHESIS_CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422",
                     "428", "429", "5xx"]
"""


def _error_code(response: Any) -> str | None:
    try:
        return str(json.loads(response.content)["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


@schemathesis.check
def positive_data_acceptance_declared(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, except a declared data refusal (module docstring)."""
    meta = case.meta
    if meta is not None and any(c.mode.is_negative for c in meta.components.values()):
        return None
    try:
        return checks.positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        answer_422 = case.operation.definition.raw.get("responses", {}).get("422", {})
        declared = answer_422.get("x-data-refusals", [])
        if response.status_code == 422 and _error_code(response) in declared:
            return None
        raise


def _serve(app: FastAPI) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def run_schemathesis(schema_url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``st run`` as documented in docs/api.md, with this module's check as its hooks."""
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.controller.test_openapi_fuzz"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    config = Path(tempfile.mkdtemp(prefix="loa-st-")) / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_CONFIG)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        schema_url,
        "--checks",
        "all",
        "--exclude-checks",
        "positive_data_acceptance",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        *extra,
    ]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240, check=False
    )


@pytest.fixture(scope="module")
def controller_url() -> Iterator[str]:
    from controller.app import create_app
    from controller.core.settings import Settings
    from controller.domain.seed import seed_commune
    from controller.domain.users import create_token

    data = Path(tempfile.mkdtemp(prefix="loa-fuzz-"))
    app = create_app(
        Settings(data_dir=data / "controller", api_token=TOKEN, max_text_chars=300),
        start_services=False,
    )
    create_token(app.state.runtime.store.db, "fuzz", token=TOKEN)
    seed_commune(app.state.runtime.store)
    yield from _serve(app)


def test_schemathesis_finds_no_failure_with_every_check_and_phase(controller_url: str) -> None:
    # the push, first, as an integrator sends it: with a push source's own token, so that
    # every document schemathesis makes reaches the CAP parser (and its refusals are kept)
    made = httpx.post(
        f"{controller_url}/api/v1/cap/sources",
        json={"name": "Đài KTTV", "kind": "push"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert made.status_code == 201, made.text
    pushed = run_schemathesis(
        f"{controller_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {made.json()['token']}",
        "--include-path-regex",
        "^/api/v1/cap$",
        "--phases",
        "examples,coverage,fuzzing",  # one operation: no stateful sequence to make
    )
    out = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0 and "1 selected" in out, out[-6000:]
    source = httpx.get(
        f"{controller_url}/api/v1/cap/sources/{made.json()['id']}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ).json()
    assert {"cap_malformed", "cap_schema"} & {r["code"] for r in source["refusals"]}, source

    done = run_schemathesis(
        f"{controller_url}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {TOKEN}",
        "--exclude-path",
        "/api/v1/tokens/{token_id}",
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    # every phase ran, the stateful one included (st's default: positive and negative data)
    assert all(f"✅ {phase}" in out for phase in ("Coverage", "Fuzzing", "Stateful")), out[-3000:]


def test_an_undocumented_status_fails_the_run() -> None:
    planted = FastAPI()

    @planted.get("/teapot", responses={200: {"description": "tea"}})
    def teapot() -> JSONResponse:
        return JSONResponse({"error": "no"}, status_code=418)  # declared: only 200

    for url in _serve(planted):
        done = run_schemathesis(f"{url}/openapi.json")
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "ST103 Undocumented status code" in out and "Received: 418" in out, out[-3000:]
