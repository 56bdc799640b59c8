"""The OpenAPI document tells the truth about the answers (issue 19): every API operation
declares the error statuses it can answer with the one error model, the bearer token is the
security scheme, a 405 names every method of the path in ``Allow``, and the downloads declare
their content types."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from controller.app import create_app
from controller.core.settings import Settings
from controller.domain.users import create_token

TOKEN = "contract-token-" + "c" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _app() -> Any:
    data = Path(tempfile.mkdtemp(prefix="loa-contract-"))
    app = create_app(Settings(data_dir=data / "controller", api_token=TOKEN), start_services=False)
    create_token(app.state.runtime.store.db, "contract", token=TOKEN)
    return app


def test_a_write_declares_every_error_it_can_answer_with_the_error_model() -> None:
    doc = _app().openapi()
    operation = doc["paths"]["/api/v1/broadcasts"]["post"]
    assert set(operation["responses"]) >= {"201", "400", "401", "403", "404", "409", "413", "422"}
    for status in ("400", "401", "403", "404", "409", "413", "422"):
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorOut"}
    assert operation["security"] == [{"bearer": []}]
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    error = doc["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message"} <= set(error["required"])


def test_every_api_operation_declares_401_and_422() -> None:
    doc = _app().openapi()
    for path, operations in doc["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/join":
            continue
        for method, operation in operations.items():
            assert {"401", "403", "422"} <= set(operation["responses"]), (method, path)


def test_integers_say_the_64_bit_range_the_database_holds() -> None:
    doc = _app().openapi()
    params = doc["paths"]["/api/v1/broadcasts/{broadcast_id}"]["get"]["parameters"]
    assert params[0]["schema"]["maximum"] == 2**63 - 1


def test_405_allow_names_every_method_of_the_path() -> None:
    client = TestClient(_app())
    answer = client.delete("/api/v1/announcements", headers=AUTH)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    answer = client.patch("/api/v1/stream-sources/1", headers=AUTH)
    assert answer.headers["allow"] == "DELETE, GET, PUT"
    # /broadcasts/check is not a broadcast id: GET there is a 405, not a 422 about the id
    answer = client.get("/api/v1/broadcasts/check", headers=AUTH)
    assert answer.status_code == 405
    assert answer.headers["allow"] == "POST"


def test_downloads_declare_their_content_types() -> None:
    paths = _app().openapi()["paths"]
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert {"text/csv", xlsx} <= set(
        paths["/api/v1/reports/plays"]["get"]["responses"]["200"]["content"]
    )
    assert xlsx in paths["/api/v1/reports/monthly"]["get"]["responses"]["200"]["content"]
    assert "text/csv" in paths["/api/v1/audit"]["get"]["responses"]["200"]["content"]
    assert "text/x-shellscript" in paths["/node/install.sh"]["get"]["responses"]["200"]["content"]


def test_a_stream_url_no_client_can_ask_for_is_a_bad_url_not_a_server_error() -> None:
    # found by schemathesis: "http://º" is not an IDNA host name; httpx raised, the API said 500
    client = TestClient(_app(), raise_server_exceptions=False)
    answer = client.post(
        "/api/v1/stream-sources", json={"name": "VOV1", "url": "http://\u00ba"}, headers=AUTH
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "stream_bad_url"
    assert client.get("/api/v1/stream-sources", headers=AUTH).json() == []


def test_request_schemas_say_the_rules_the_handlers_keep() -> None:
    schemas = _app().openapi()["components"]["schemas"]
    assert schemas["BroadcastIn"]["properties"]["zone_ids"]["minItems"] == 1
    assert schemas["RejectIn"]["required"] == ["comment"]
    assert schemas["CancelIn"]["properties"]["reason"]["maxLength"] == 500
    assert "admin" in schemas["TokenIn"]["properties"]["role"]["enum"]
    assert schemas["NodeIn"]["properties"]["id"]["pattern"].startswith("^[a-z0-9]")
    title = schemas["AnnouncementIn"]["properties"]["title"]
    assert title["maxLength"] == 200 and title["pattern"]


def test_every_status_of_docs_api_table_is_one_the_document_can_declare() -> None:
    from controller.api.errors import ERROR_STATUSES

    table = (Path(__file__).parents[2] / "docs" / "api.md").read_text().split("## Errors")[1]
    statuses = {
        int(line.split("|")[1])
        for line in table.splitlines()
        if line[:5] == "| 4" or line[:5] == "| 5"
    }
    statuses.discard(429)  # the web sign-in's, not the API's
    assert statuses <= set(ERROR_STATUSES), statuses - set(ERROR_STATUSES)


def test_a_null_in_a_user_change_keeps_the_field_instead_of_a_server_error() -> None:
    # found by schemathesis: {"password": null} or {"disabled": null} was a 500
    client = TestClient(_app(), raise_server_exceptions=False)
    made = client.post(
        "/api/v1/users",
        json={"username": "nam", "password": "mat-khau-dai-du", "role": "viewer"},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    user_id = made.json()["id"]
    answer = client.patch(
        f"/api/v1/users/{user_id}",
        json={"password": None, "disabled": None, "display_name": None},
        headers=AUTH,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["disabled"] in (0, False) and answer.json()["role"] == "viewer"


def test_a_stream_host_no_resolver_takes_is_a_bad_url_not_a_server_error() -> None:
    # found by schemathesis (issue 19): a host label over 63 characters made getaddrinfo raise
    # UnicodeError ("label too long") inside httpx, and the API said 500
    client = TestClient(_app(), raise_server_exceptions=False)
    for url in (f"https://{'0' * 64}", f" https://{'a' * 200}.vn/live", "http://a..b/"):
        answer = client.post(
            "/api/v1/stream-sources", json={"name": "VOV1", "url": url}, headers=AUTH
        )
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["error"]["code"] == "stream_bad_url"
    assert client.get("/api/v1/stream-sources", headers=AUTH).json() == []


def test_a_json_true_is_not_a_number_and_a_string_is_not_a_boolean() -> None:
    # issue 19: pydantic's lax mode took zone_id: true as 1 (a request the schema calls invalid)
    client = TestClient(_app(), raise_server_exceptions=False)
    made = client.post(
        "/api/v1/users",
        json={"username": "lan", "password": "mat-khau-dai-du", "role": "viewer"},
        headers=AUTH,
    )
    user_id = made.json()["id"]
    for change in ({"zone_id": True}, {"zone_id": "1"}, {"disabled": 1}, {"disabled": "true"}):
        answer = client.patch(f"/api/v1/users/{user_id}", json=change, headers=AUTH)
        assert answer.status_code == 422, (change, answer.text)
        assert answer.json()["error"]["code"] == "invalid_request"
    answer = client.patch(f"/api/v1/users/{user_id}", json={"disabled": True}, headers=AUTH)
    assert answer.status_code == 200 and answer.json()["disabled"] in (1, True)


def test_the_schemas_say_what_the_data_rules_refuse() -> None:
    from controller.api.models import SLUG_CHARACTERS
    from controller.domain.join import slug

    schemas = _app().openapi()["components"]["schemas"]
    node = schemas["NodeIn"]
    assert node["anyOf"][0]["required"] == ["lat", "lon"]  # both or neither
    assert (
        node["properties"]["lat"]["maximum"] == 90 and node["properties"]["lon"]["minimum"] == -180
    )
    assert "thien_tai" in schemas["AnnouncementIn"]["properties"]["category"]["enum"]
    # a join code's name makes a node id exactly when it holds one of SLUG_CHARACTERS
    import re

    makes_id = re.compile(f"[{SLUG_CHARACTERS}]")
    for point in range(0x110000):
        if 0xD800 <= point < 0xE000:
            continue
        assert bool(slug(chr(point))) == bool(makes_id.match(chr(point))), hex(point)


def test_data_refusals_are_declared_on_the_operation() -> None:
    paths = _app().openapi()["paths"]
    answer = paths["/api/v1/stream-sources"]["post"]["responses"]["422"]
    assert "stream_target_forbidden" in answer["x-data-refusals"]
    assert "stream_target_forbidden" in answer["description"]
    speech = paths["/api/v1/announcements"]["post"]["responses"]["422"]["x-data-refusals"]
    assert "engine_unavailable" in speech
    assert "x-data-refusals" not in paths["/api/v1/users"]["post"]["responses"]["422"]


def _described(vi: dict[str, Any], en: dict[str, Any], where: str) -> list[str]:
    said_vi, said_en = vi.get("description") or "", en.get("description") or ""
    if not said_vi or not said_en or said_vi == said_en or said_vi.isascii():
        return [f"{where}: {said_vi!r} / {said_en!r}"]
    return []


def test_every_operation_parameter_and_request_field_is_described_in_both_languages() -> None:
    import re

    app = _app()
    vi, en = app.state.openapi_in("vi"), app.state.openapi_in("en")
    missing: list[str] = []
    models: set[str] = set()
    for path, operations in vi["paths"].items():
        for method, operation in operations.items():
            english = en["paths"][path][method]
            missing += _described(operation, english, f"{method} {path}")
            for p_vi, p_en in zip(
                operation.get("parameters", []), english.get("parameters", []), strict=True
            ):
                missing += _described(p_vi, p_en, f"{method} {path} {p_vi['name']}")
            models |= set(
                re.findall(
                    r"#/components/schemas/(\w+)", json.dumps(operation.get("requestBody", {}))
                )
            )
    seen: set[str] = set()
    while models - seen:
        name = (models - seen).pop()
        seen.add(name)
        for field, prop in vi["components"]["schemas"][name].get("properties", {}).items():
            prop_en = en["components"]["schemas"][name]["properties"][field]
            missing += _described(prop, prop_en, f"{name}.{field}")
            models |= set(re.findall(r"#/components/schemas/(\w+)", json.dumps(prop)))
    assert len(seen) >= 15
    assert not missing, "\n".join(missing)
    from controller.api.errors import ERROR_STATUSES
    from controller.api.openapi_text import ERRORS_VI

    assert set(ERRORS_VI) == set(ERROR_STATUSES)  # every error answer said in both languages
    answer = vi["paths"]["/api/v1/stream-sources"]["post"]["responses"]["422"]["description"]
    assert "dữ liệu hoặc cấu hình" in answer and "stream_target_forbidden" in answer


def test_the_document_answers_in_english_when_asked() -> None:
    client = TestClient(_app())
    path = ("/api/v1/announcements", "post")

    def said(headers: dict[str, str] | None = None, query: str = "") -> tuple[str, str]:
        answer = client.get(f"/api/v1/openapi.json{query}", headers=headers or {})
        assert answer.status_code == 200
        return answer.headers["content-language"], answer.json()["paths"][path[0]][path[1]][
            "summary"
        ]

    assert said() == ("vi", said()[1]) and "bản tin" in said()[1]
    assert said(query="?lang=en")[0] == "en" and "announcement" in said(query="?lang=en")[1]
    assert said({"Accept-Language": "en-GB,en;q=0.9"})[0] == "en"
    assert said({"Accept-Language": "fr, en;q=0.5, vi;q=0.4"})[0] == "en"
    assert said({"Accept-Language": "vi, en;q=0.8"})[0] == "vi"
    assert said({"Accept-Language": "en"}, "?lang=vi")[0] == "vi"
    assert said({"Accept-Language": "de"})[0] == "vi"
    assert "?lang=en" in client.get("/api/v1/docs?lang=en").text
