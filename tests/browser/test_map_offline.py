"""*Bản đồ cụm loa* in headless Chromium without the Internet: the tile server cannot be reached,
so the page says so and lists the clusters by village (not an empty grey box); without
JavaScript the list alone; with tiles (served locally), a click on the map fills the position
form and saving it places the cluster. Screenshots go to the test's tmp_path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE
from tests.support.system import Commune

pytestmark = pytest.mark.slow

TILES = re.compile(r"^https://tile\.openstreetmap\.org/")
#: A real PNG served as every tile when the test gives the browser "Internet".
TILE_PNG = (
    Path(__file__).resolve().parents[2] / "controller/static/leaflet/images/layers.png"
).read_bytes()


def _place_one(commune: Commune) -> tuple[str, list[str]]:
    """The first cluster gets a position; the others have none."""
    rows = list(commune.store.db.query("SELECT id FROM nodes WHERE revoked = 0 ORDER BY id"))
    ids = [r["id"] for r in rows]
    commune.store.db.execute("UPDATE nodes SET lat = 21.03, lon = 105.85 WHERE id = ?", [ids[0]])
    commune.store.db.execute("UPDATE nodes SET lat = NULL, lon = NULL WHERE id != ?", [ids[0]])
    return ids[0], ids[1:]


def test_without_internet_the_map_page_lists_clusters_by_village(
    session: Any, commune: Commune, tmp_path: Path
) -> None:
    located, unlocated = _place_one(commune)
    s = session("quantri")
    s.context.route(TILES, lambda route: route.abort("internetdisconnected"))
    page = s.page
    page.goto("/nodes/map")
    message = page.get_by_text("Không tải được bản đồ (cần Internet)")
    expect(message).to_be_visible(timeout=15_000)
    expect(page.locator("#map")).to_be_hidden()
    tree = page.locator("section", has=page.get_by_role("heading", name="Cụm loa theo thôn"))
    for node in [located, *unlocated]:
        item = tree.locator(f'li[data-node="{node}"]')
        expect(item).to_be_visible()
        expect(item).to_contain_text("Trực tuyến")  # the commune's agents are running
        if node in unlocated:
            expect(item).to_contain_text("chưa có vị trí")
            expect(item.get_by_role("link", name="đặt vị trí")).to_have_attribute(
                "href", f"/nodes/{node}#vi-tri"
            )
        else:
            expect(item).not_to_contain_text("chưa có vị trí")
    # each cluster sits inside its village's item
    village = tree.locator("li[data-zone]", has=page.locator(f'li[data-node="{located}"]')).last
    expect(village.locator("strong").first).to_have_text(re.compile(r"^Thôn "))
    page.screenshot(path=str(tmp_path / "map-offline.png"), full_page=True)
    page.set_viewport_size(PHONE)  # the list fits a phone: nothing runs past the screen
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(tmp_path / "map-offline-phone.png"), full_page=True)
    # the failed tiles are the point of this test; nothing else may have gone wrong
    s.errors[:] = [e for e in s.errors if "ERR_INTERNET_DISCONNECTED" not in e]


def test_without_javascript_only_the_list_shows(
    browser: Any, session: Any, commune: Commune, tmp_path: Path
) -> None:
    s = session("quantri")  # signed in through the form; its cookie is reused below
    cookies = s.context.storage_state()
    context = browser.new_context(
        base_url=commune.url, viewport=DESKTOP, java_script_enabled=False, storage_state=cookies
    )
    try:
        page = context.new_page()
        page.goto("/nodes/map")
        expect(page.get_by_role("heading", name="Cụm loa theo thôn")).to_be_visible()
        expect(page.locator("#map")).to_be_hidden()
        expect(page.locator("li[data-node]")).to_have_count(3)
        page.screenshot(path=str(tmp_path / "map-no-js.png"), full_page=True)
    finally:
        context.close()


def test_with_tiles_a_click_on_the_map_fills_the_position(
    session: Any, commune: Commune, tmp_path: Path
) -> None:
    _, unlocated = _place_one(commune)
    s = session("quantri")
    s.context.route(
        TILES, lambda route: route.fulfill(status=200, content_type="image/png", body=TILE_PNG)
    )
    page = s.page
    page.goto("/nodes/map")
    expect(page.locator("#map")).to_be_visible()
    expect(page.get_by_text("Bấm vào bản đồ để điền vĩ độ và kinh độ.")).to_be_visible()
    page.wait_for_timeout(7_000)  # past the wait for a tile: the map stays
    expect(page.locator("#map")).to_be_visible()
    expect(page.locator("#map-offline")).to_be_hidden()
    page.get_by_label("Cụm loa", exact=True).select_option(unlocated[0])
    page.locator("#map").click(position={"x": 200, "y": 150})
    lat = page.get_by_label("Vĩ độ").input_value()
    lon = page.get_by_label("Kinh độ").input_value()
    assert -90 <= float(lat) <= 90 and -180 <= float(lon) <= 180
    page.screenshot(path=str(tmp_path / "map-online.png"), full_page=True)
    page.get_by_role("button", name="Lưu vị trí").click()
    expect(page.get_by_text("Đã lưu vị trí cụm loa.")).to_be_visible()
    item = page.locator(f'li[data-node="{unlocated[0]}"]')
    expect(item).not_to_contain_text("chưa có vị trí")
    row = commune.store.db.execute(
        "SELECT lat, lon FROM nodes WHERE id = ?", [unlocated[0]]
    ).fetchone()
    assert (round(row[0], 6), round(row[1], 6)) == (float(lat), float(lon))


def test_a_slow_link_shows_the_message_then_the_map_when_tiles_arrive(
    session: Any, commune: Commune, tmp_path: Path
) -> None:
    _place_one(commune)
    s = session("quantri")
    held: list[Any] = []
    s.context.route(TILES, lambda route: held.append(route))  # they wait, as on slow 3G
    page = s.page
    page.goto("/nodes/map", wait_until="domcontentloaded")  # tiles hold "load"
    expect(page.locator("#map-offline")).to_be_visible(timeout=15_000)
    expect(page.locator("#map")).to_be_hidden()
    assert held, "the map asked for tiles"
    for route in held:
        route.fulfill(status=200, content_type="image/png", body=TILE_PNG)
    expect(page.locator("#map")).to_be_visible()
    expect(page.locator("#map-offline")).to_be_hidden()
    expect(page.locator("#map .leaflet-tile-loaded").first).to_be_visible()
    page.screenshot(path=str(tmp_path / "map-late-tiles.png"), full_page=True)
