"""A node's link (Đường truyền) on its page and in the node list: the 3G/4G modem from its
``cellular`` telemetry, else its Wi-Fi level, else "—"; a weak signal flagged; English too."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from controller.domain import fleet
from controller.domain.seed import SeededCommune
from controller.i18n import gettext_for
from controller.web.fleet import LinkText, link_text
from loa.protocol import CellularLink, Telemetry, utcnow
from tests.controller.conftest import People
from tests.controller.test_web import _signed_in

VI, EN = gettext_for("vi"), gettext_for("en")


def _send(client: TestClient, node: str, **readings: Any) -> None:
    """One heartbeat from ``node``, stored the way the controller stores it."""
    now = utcnow()
    telemetry = Telemetry(
        node=node,
        at=now,
        uptime_s=3600.0,
        version="1.0",
        interval_s=30.0,
        temperature_c=48.5,
        clock_synced=True,
        **readings,
    )
    fleet.apply_telemetry(client.app.state.runtime.store.db, telemetry, now)  # type: ignore[attr-defined]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html)).strip()


def _page_link(html: str) -> str:
    match = re.search(r'<dd id="node-link">(.*?)</dd>', html, re.S)
    assert match, "the node page has its link entry"
    return _text(match.group(1))


def _row_links(html: str) -> dict[str, str]:
    rows = re.findall(r'<tr data-node="([^"]+)".*?<td [^>]*class="link">(.*?)</td>', html, re.S)
    return {node: _text(cell) for node, cell in rows}


@pytest.fixture
def nodes(client: TestClient, commune: SeededCommune) -> tuple[str, str, str]:
    """A node on 4G, one on Wi-Fi only, one that reports no link at all."""
    cell, wifi, bare = (n.node_id for n in commune.nodes[:3])
    _send(
        client,
        cell,
        signal_dbm=None,
        cellular=CellularLink(
            quality_pct=75,
            access_tech="lte",
            operator="Viettel",
            state="connected",
            rssi_dbm=-67.0,
            rsrp_dbm=-95.4,
            rsrq_db=-11.0,
            snr_db=12.4,
        ),
    )
    _send(client, wifi, signal_dbm=-56.0)
    _send(client, bare)
    return cell, wifi, bare


def test_node_page_shows_the_modem_with_its_figures_or_wifi_or_a_dash(
    client: TestClient, people: People, nodes: tuple[str, str, str]
) -> None:
    cell, wifi, bare = nodes
    viewer, _ = _signed_in(client, "viewer")
    page = viewer.get(f"/nodes/{cell}")
    assert page.status_code == 200 and "Đường truyền" in page.text
    assert _page_link(page.text) == "4G LTE · 75 % · Viettel · RSRP −95 dBm · SNR 12 dB"
    assert _page_link(viewer.get(f"/nodes/{cell}/live").text) == _page_link(page.text)
    assert _page_link(viewer.get(f"/nodes/{wifi}").text) == "Wi-Fi −56 dBm"
    assert _page_link(viewer.get(f"/nodes/{bare}").text) == "—"
    assert "yếu" not in page.text


def test_node_list_shows_the_short_form_for_every_node(
    client: TestClient, people: People, nodes: tuple[str, str, str]
) -> None:
    cell, wifi, bare = nodes
    viewer, _ = _signed_in(client, "viewer")
    page = viewer.get("/nodes").text
    assert '<th scope="col">Đường truyền</th>' in page
    expected = {cell: "4G LTE · 75 % · Viettel", wifi: "Wi-Fi −56 dBm", bare: "—"}
    assert _row_links(page) == expected, "the list leaves RSRP and SNR to the node page"
    assert _row_links(viewer.get("/nodes/live").text) == expected


def test_a_weak_signal_is_flagged_and_a_modem_not_connected_says_its_state(
    client: TestClient, people: People, nodes: tuple[str, str, str]
) -> None:
    cell, wifi, _bare = nodes
    _send(
        client,
        cell,
        cellular=CellularLink(
            quality_pct=15, access_tech="gsm,umts", operator="MobiFone", state="registered"
        ),
    )
    _send(client, wifi, signal_dbm=-85.0)
    viewer, _ = _signed_in(client, "viewer")
    rows = viewer.get("/nodes").text
    assert _row_links(rows)[cell] == "3G · 15 % · MobiFone · chưa kết nối dữ liệu · yếu"
    assert _row_links(rows)[wifi] == "Wi-Fi −85 dBm · yếu"
    assert '<span class="offline">yếu</span>' in rows, "the hint stands out"
    assert _page_link(viewer.get(f"/nodes/{cell}").text) == (
        "3G · 15 % · MobiFone · chưa kết nối dữ liệu · yếu"
    )
    assert _page_link(viewer.get(f"/nodes/{wifi}").text) == "Wi-Fi −85 dBm · yếu"


def test_english_shows_english(
    client: TestClient, people: People, nodes: tuple[str, str, str]
) -> None:
    cell, wifi, _bare = nodes
    _send(client, cell, cellular=CellularLink(quality_pct=10, state="searching"))
    viewer, _ = _signed_in(client, "viewer")
    viewer.get("/lang/en")
    rows = viewer.get("/nodes").text
    assert '<th scope="col">Link</th>' in rows and "Đường truyền" not in rows
    assert _row_links(rows)[cell] == "Mobile · 10 % · searching for a network · weak"
    assert _row_links(rows)[wifi] == "Wi-Fi −56 dBm"
    page = viewer.get(f"/nodes/{cell}").text
    assert "<dt>Link</dt>" in page
    assert _page_link(page) == "Mobile · 10 % · searching for a network · weak"


@pytest.mark.parametrize(
    ("tech", "label"),
    [
        ("lte", "4G LTE"),
        ("umts", "3G"),
        ("hsdpa", "3G"),
        ("hspa-plus", "3G"),
        ("gsm", "2G"),
        ("edge", "2G"),
        ("gprs", "2G"),
        ("gsm,umts,lte", "4G LTE"),
        ("5gnr", "5G"),
        ("satellite", "satellite"),
    ],
)
def test_access_technologies_read_as_an_operator_names_them(tech: str, label: str) -> None:
    assert link_text(VI, {"cellular": {"access_tech": tech}}) == LinkText(label, "")


def test_detail_figures_and_thresholds() -> None:
    lte = {"access_tech": "lte", "quality_pct": 20, "operator": "Vinaphone"}
    assert link_text(VI, {"cellular": lte}).weak == "", "20 % is not weak yet"
    assert link_text(VI, {"cellular": {**lte, "rsrp_dbm": -112.0}}).weak == "yếu"
    # 3G has no RSRP: the page shows RSSI instead, and a Wi-Fi level reported beside the modem
    umts = {"access_tech": "umts", "rssi_dbm": -79.0, "snr_db": -2.6, "state": "connected"}
    assert link_text(EN, {"cellular": umts, "signal_dbm": -60.0}, detail=True) == LinkText(
        "3G · RSSI −79 dBm · SNR −3 dB · Wi-Fi −60 dBm", ""
    )
    assert link_text(VI, {"cellular": {"state": "somethingnew"}}).text == "Di động · somethingnew"
    assert link_text(VI, {"signal_dbm": -80.0}).weak == "", "−80 dBm is not weak yet"
    assert link_text(EN, {"signal_dbm": -81.0}) == LinkText("Wi-Fi −81 dBm", "weak")
    empty_modem = {k: None for k in CellularLink.model_fields}
    assert link_text(VI, {"cellular": empty_modem, "signal_dbm": -50.0}).text == "Wi-Fi −50 dBm"
    assert link_text(VI, None) == LinkText("—", "")
