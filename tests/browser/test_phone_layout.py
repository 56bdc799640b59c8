"""Every page at phone width (360×740) in real headless Chromium, measured: nothing runs past
the screen or past its card, the menu is one button that opens every item, and the official's
name and the sign-out button are in sight. The desktop (1280 px) keeps the full menu.

The pages are the web routers' own GET routes (every one without a path parameter is visited,
so a new page cannot be skipped; a route with a path parameter must be in ``WITH_ID`` or
``NOT_PAGES``), the pages with an id filled from a real commune (an announcement, a scheduled
broadcast and its cancel page, an emergency and its stop page, a cluster, a village, a voice
bank's studio and delete page), the schedule and relay forms in every frequency and three forms
sent back with their errors, and the sign-in page. An administrator signs in: they see every
item of ``NAV``. Screenshots go to ``tmp_path``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from playwright.sync_api import expect

import controller.web
from controller.domain import authz, voicebank
from controller.domain.identity import Identity
from controller.domain.users import authenticate
from controller.web.common import NAV, ROLES
from tests.browser.conftest import DESKTOP, PASSWORDS, PHONE
from tests.support.system import TOKEN, Commune

pytestmark = pytest.mark.slow

ADMIN = "quantri"
ADMIN_NAME = "Quản trị xã"  # tests/browser/conftest.py
#: What an official pastes into a text: one long word with no place to break.
LONG_URL = (
    "https://dichvucong.gov.vn/p/home/dvc-tthc-thu-tuc-hanh-chinh-chi-tiet.html"
    "?ma_thu_tuc=1.004227&co_quan=UBND_xa_Lac_Lam_huyen_Lac_Son"
)

#: GET routes of the web routers that are not pages one opens: fragments htmx polls, a file,
#: a link that sets the language and goes back. Each must still exist (checked below).
NOT_PAGES = {
    "/partials/dashboard",
    "/nodes/live",
    "/nodes/join/live",
    "/nodes/{node_id}/live",
    "/broadcasts/{broadcast_id}/live",
    "/emergency/{broadcast_id}/live",
    "/public/{zone_id}/audio/{broadcast_id}.mp3",
    "/voicebank/{name}/units/{syllable}.wav",
    "/lang/{code}",
}
#: Answers that are still a page in the layout: stopping an emergency that already ended.
REFUSED = {409, 422}
#: Signed-out pages (measured without a menu).
SIGNED_OUT = {"/login"}
#: Pages with an id: the route, and the key of ``commune_pages`` that fills it.
WITH_ID = {
    "/announcements/{announcement_id:int}": "announcement",
    "/broadcasts/{broadcast_id:int}": "broadcast",
    "/broadcasts/{broadcast_id:int}/cancel": "broadcast_cancel",
    "/emergency/{broadcast_id:int}": "emergency",
    "/emergency/{broadcast_id:int}/stop": "emergency_stop",
    "/nodes/{node_id}": "node",
    "/public/{zone_id:int}": "zone",
    "/voicebank/{name}/studio": "studio",
    "/voicebank/{name}/delete": "voicebank_delete",
}

#: For every element: its right edge against the viewport and against each card, form or
#: fieldset holding it; for every text: where its glyphs end. Elements inside a box that scrolls
#: sideways (a wide table's container) are measured as that box. Returns what goes past.
MEASURE = """
() => {
  const vw = document.documentElement.clientWidth;
  const SLACK = 0.5;
  const CONTAINERS = '.card, form, fieldset, .day, .tile, .facts > div, .check, .notice';
  const name = (el) => {
    let s = el.tagName.toLowerCase();
    if (el.id) return s + '#' + el.id;
    if (el.getAttribute('name')) return s + '[name=' + el.getAttribute('name') + ']';
    if (el.classList.length) s += '.' + [...el.classList].join('.');
    const text = (el.textContent || '').trim().slice(0, 30);
    return text ? s + ' "' + text + '"' : s;
  };
  const clipper = (el) => {
    for (let p = el.parentElement; p && p !== document.documentElement; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== 'visible') return p;
    }
    return null;
  };
  const problems = [];
  const check = (what, r, el) => {
    if (r.width <= 1 || r.height <= 1) return;  // not drawn, or visually hidden (.sr-only)
    const clip = clipper(el);
    if (clip === null && r.right > vw + SLACK) {
      problems.push(what + ' ends at ' + Math.round(r.right) + ' px, past the ' + vw +
                    ' px screen');
    }
    for (let c = el.parentElement ? el.parentElement.closest(CONTAINERS) : null; c;
         c = c.parentElement ? c.parentElement.closest(CONTAINERS) : null) {
      if (clip !== null && c.contains(clip)) break;  // measured as the scrolling box
      const box = c.getBoundingClientRect();
      if (box.width <= 1) continue;
      if (r.right > box.right + SLACK) {
        problems.push(what + ' ends at ' + Math.round(r.right) + ' px, past its ' + name(c) +
                      ' (' + Math.round(box.right) + ' px)');
      }
    }
  };
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('script, style, template')) continue;
    check(name(el), el.getBoundingClientRect(), el);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let t = walker.nextNode(); t; t = walker.nextNode()) {
    const parent = t.parentElement;
    if (!t.textContent.trim() || !parent || parent.closest('script, style')) continue;
    const range = document.createRange();
    range.selectNodeContents(t);
    const label = 'text "' + t.textContent.trim().slice(0, 30) + '"';
    check(label, range.getBoundingClientRect(), parent);
  }
  const scrollWidth = document.documentElement.scrollWidth;
  if (scrollWidth > vw) {
    problems.unshift('the page is ' + scrollWidth + ' px wide on a ' + vw + ' px screen');
  }
  return [...new Set(problems)];
}
"""

#: The page has loaded and htmx has no request in flight (it marks the element asking).
SETTLED = "() => document.readyState === 'complete' && !document.querySelector('.htmx-request')"

#: Boxes the official scrolls sideways inside (a wide table): allowed, reported for the record.
SCROLLERS = """
() => [...document.body.querySelectorAll('*')]
  .filter((el) => ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
                  && el.scrollWidth > el.clientWidth + 1)
  .map((el) => el.tagName.toLowerCase() + '.' + [...el.classList].join('.') + ' '
               + el.clientWidth + '/' + el.scrollWidth + ' px')
"""

#: Each menu item: on screen (not cut by the menu's box), at least 24×24 px (WCAG 2.5.8), and
#: the element a tap at its centre reaches. Returns the labels that fail.
UNTAPPABLE = """
(labels) => {
  const vw = document.documentElement.clientWidth;
  const links = [...document.querySelectorAll('header nav a')];
  const bad = [];
  for (const label of labels) {
    const a = links.find((l) => l.textContent.trim() === label);
    if (!a) { bad.push(label + ': missing'); continue; }
    // the page scrolls down to it; nothing is scrolled sideways (that needs a cue to find)
    const top = a.getBoundingClientRect().top + window.scrollY;
    window.scrollTo({top: top - window.innerHeight / 2, left: 0, behavior: 'instant'});
    const r = a.getBoundingClientRect();
    let inside = r.left >= -0.5 && r.right <= vw + 0.5 && r.width >= 24 && r.height >= 24;
    for (let p = a.parentElement; inside && p; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const box = p.getBoundingClientRect();
      inside = r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
    }
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!inside || !hit || !a.contains(hit)) {
      bad.push(label + ': ' + Math.round(r.left) + '–' + Math.round(r.right) + ' px, ' +
               Math.round(r.width) + '×' + Math.round(r.height));
    }
  }
  window.scrollTo(0, 0);
  return bad;
}
"""


def _web_get_routes() -> set[str]:
    """Every GET route of the routers in ``controller/web``."""
    paths: set[str] = set()
    for info in pkgutil.iter_modules(controller.web.__path__):
        module = importlib.import_module(f"controller.web.{info.name}")
        router = getattr(module, "router", None)
        for route in getattr(router, "routes", []):
            if isinstance(route, APIRoute) and "GET" in route.methods:
                paths.add(route.path)
    return paths


def _admin_menu() -> list[str]:
    """The labels an administrator's menu holds, in order (Vietnamese: the source language)."""
    return [
        label
        for _href, label, perm in NAV
        if perm is None or (perm in authz.PERMISSIONS and "admin" in authz.PERMISSIONS[perm])
    ]


@pytest.fixture(scope="module", autouse=True)
def voicebank_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Giọng xã's banks in this module's own folder (set before the controller starts)."""
    path = tmp_path_factory.mktemp("banks")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOA_VOICEBANK_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def commune_pages(commune: Commune) -> dict[str, str]:
    """One of each thing with a page of its own, made through the API; long words included."""
    soon = datetime.now(UTC) + timedelta(days=2)
    with commune.api(TOKEN) as api:
        zones = api.get("/api/v1/zones").json()
        village = next(z for z in zones if z["name"] == "Thôn Lạc Xuân")
        announcement = commune.approved_announcement(
            "Thông báo tiêm phòng dại cho chó mèo tại nhà văn hoá thôn Lạc Xuân",
            f"Bà con xem lịch tiêm và đăng ký tại {LONG_URL} trước ngày mười lăm.",
        )
        broadcast = api.post(
            "/api/v1/broadcasts",
            json={
                "announcement_id": announcement,
                "zone_ids": [village["id"]],
                "starts_at": soon.isoformat(),
            },
        )
        assert broadcast.status_code == 201, broadcast.text
        source = api.post(
            "/api/v1/stream-sources",
            json={
                "name": "Đài huyện (máy dự phòng)",
                "url": "http://127.0.0.1:9/" + "phat-thanh-huyen-lac-son-kenh-1" * 3 + ".mp3",
                "accept_unhealthy": True,
            },
        )
        assert source.status_code == 201, source.text
        relay = api.post(
            "/api/v1/relays",
            json={
                "stream_source_id": source.json()["id"],
                "zone_ids": [village["id"]],
                "window_s": 600,
                "starts_at": (soon + timedelta(hours=3)).isoformat(),
                "accept_unhealthy": True,
            },
        )
        assert relay.status_code == 201, relay.text
        emergency = api.post(
            "/api/v1/emergency",
            json={
                "title": "Cảnh báo lũ",
                "text": "Nước sông lên nhanh.",
                "zone_ids": [village["id"]],
            },
        )
        assert emergency.status_code == 201, emergency.text
    admin = authenticate(commune.store.db, ADMIN, PASSWORDS[ADMIN])
    assert admin is not None
    who = Identity("user", admin["display_name"], admin["role"], user_id=admin["id"])
    bank = voicebank.create(commune.store, who, "Nguyễn Thị Thanh Hương", agreed=True)
    return {
        "announcement": f"/announcements/{announcement}",
        "studio": f"/voicebank/{bank.name}/studio",
        "voicebank_delete": f"/voicebank/{bank.name}/delete",
        "broadcast": f"/broadcasts/{broadcast.json()['id']}",
        "broadcast_cancel": f"/broadcasts/{broadcast.json()['id']}/cancel",
        "emergency": f"/emergency/{emergency.json()['id']}",
        "emergency_stop": f"/emergency/{emergency.json()['id']}/stop",
        "node": f"/nodes/{commune.seeded.nodes[0].node_id}",
        "zone": f"/public/{village['id']}",
    }


def _pages(commune_pages: dict[str, str]) -> tuple[list[str], list[str]]:
    """The paths to measure, and the routes with an id this test does not know how to fill."""
    routes = _web_get_routes()
    assert routes >= NOT_PAGES, f"gone from the web routers: {NOT_PAGES - routes}"
    assert routes >= set(WITH_ID), f"gone from the web routers: {set(WITH_ID) - routes}"
    unknown = sorted(r for r in routes if "{" in r and r not in NOT_PAGES and r not in WITH_ID)
    plain = sorted(r for r in routes if "{" not in r and r not in NOT_PAGES | SIGNED_OUT)
    menu = [href for href, _label, _perm in NAV if href not in plain]  # not routed: a 404
    return plain + menu + [commune_pages[key] for key in WITH_ID.values()], unknown


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path).strip("-") or "home"


def _phone(browser: Any, commune: Commune, state: dict[str, Any] | None, **options: Any) -> Any:
    """A phone: 360×740, touch, the mobile viewport rules; signed in with ``state``."""
    return browser.new_context(
        base_url=commune.url,
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        storage_state=state,
        **options,
    )


def _menu_problems(page: Any, menu: list[str]) -> list[str]:
    """The name, the sign-out button and the menu button at phone width; the open menu."""
    problems = []
    who = page.locator("header .who")
    if not (
        who.is_visible() and ADMIN_NAME in who.inner_text() and ROLES["admin"] in who.inner_text()
    ):
        problems.append("the signed-in name and role are not shown")
    elif page.evaluate("(el) => el.getBoundingClientRect().right", who.element_handle()) > 360:
        problems.append("the signed-in name is off the screen")
    if not page.get_by_role("button", name="Đăng xuất").is_visible():
        problems.append("no sign-out button in sight")
    button = page.locator("header .menu-button")
    if button.count() != 1 or not button.is_visible():
        problems.append("no menu button")
    else:
        if page.locator("header nav a").first.is_visible():
            problems.append("the menu is open before the button is pressed")
        button.tap()
        problems += [f"menu open: {p}" for p in page.evaluate(MEASURE)]
    untappable = page.evaluate(UNTAPPABLE, menu)
    if untappable:
        problems.append(
            f"{len(menu) - len(untappable)} of {len(menu)} menu items tappable; "
            + "; ".join(untappable)
        )
    return problems


#: Forms whose fields change with the choices: every frequency of a recurring schedule, and the
#: form sent back with its errors (422) — measured in each state.
RECURRING_FORMS = {"/schedule/new": "Lưu lịch phát", "/relays/new": "Lưu lịch tiếp sóng"}
ERROR_FORMS = {**RECURRING_FORMS, "/announcements/new": "Lưu nháp"}


def _form_states(page: Any, path: str) -> list[str]:
    problems = []
    if path in RECURRING_FORMS:
        page.locator('input[name="kind"][value="recurring"]').check()
        for value in page.locator("#frequency option").evaluate_all(
            "(os) => os.map((o) => o.value)"
        ):
            page.select_option("#frequency", value)
            page.wait_for_load_state("networkidle")
            problems += [f"recurring, {value}: {p}" for p in page.evaluate(MEASURE)]
    if path in ERROR_FORMS:
        page.get_by_role("button", name=ERROR_FORMS[path]).click()
        page.wait_for_load_state()
        assert page.locator(".field-error").count() > 0, path  # the 422 page with its errors
        problems += [f"sent back with errors: {p}" for p in page.evaluate(MEASURE)]
    return problems


def test_every_page_fits_a_phone_with_a_menu_button_and_the_name_in_sight(
    browser: Any,
    commune: Commune,
    session: Any,
    signed_in_states: dict[str, Any],
    commune_pages: dict[str, str],
    tmp_path: Path,
) -> None:
    pages, unknown = _pages(commune_pages)
    menu = _admin_menu()
    session(ADMIN)  # signs in through the form once; the phone reuses the cookie
    context = _phone(browser, commune, signed_in_states[ADMIN])
    failures: dict[str, list[str]] = {}
    if unknown:  # add each to WITH_ID (and commune_pages) or, if it is no page, to NOT_PAGES
        failures["routes with an id not measured"] = unknown
    errors: list[str] = []
    scrollers: dict[str, list[str]] = {}
    refused = 0
    try:
        page = context.new_page()
        # The map's tiles come from the Internet, which this machine (like many communes) lacks:
        # the map page then shows its offline list (tests/browser/test_map_offline.py).
        page.route(re.compile(r"^https?://(?!127\.0\.0\.1|localhost)"), lambda r: r.abort())
        page.on(
            "console",
            lambda m: (
                errors.append(m.text)
                if m.type == "error" and m.location.get("url", "").startswith(commune.url)
                else None
            ),
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        for path in pages:
            response = page.goto(path)  # waits for the load event
            # then for the fragments htmx fetches on load; not "networkidle", which waits half
            # a second of quiet on every page (half the test's time) and only then measures
            page.wait_for_function(SETTLED)
            status = response.status if response else None
            if status in REFUSED:  # a confirmation for what is over: the refusal is a page too
                refused += 1
            problems = [] if status == 200 or status in REFUSED else [f"answered {status}"]
            problems += page.evaluate(MEASURE)
            scrollers[path] = page.evaluate(SCROLLERS)
            page.screenshot(path=str(tmp_path / f"phone-{_slug(path)}.png"), full_page=True)
            problems += _menu_problems(page, menu)
            problems += _form_states(page, path)
            if problems:
                failures[path] = problems
        context.clear_cookies()
        for path in sorted(SIGNED_OUT):
            page.goto(path)
            problems = list(page.evaluate(MEASURE))
            page.screenshot(path=str(tmp_path / f"phone-{_slug(path)}.png"), full_page=True)
            if problems:
                failures[path] = problems
    finally:
        context.close()
    report = "\n".join(f"{p}:\n  " + "\n  ".join(v) for p, v in failures.items())
    print(f"{len(pages) + len(SIGNED_OUT)} pages at 360 px, {len(failures)} failing\n{report}")
    print("scrolled sideways inside:", {p: v for p, v in scrollers.items() if v})
    assert not failures, report
    expected = [e for e in errors if re.search(r"status of (409|422)", e)]
    assert len(expected) == len(ERROR_FORMS) + refused and len(errors) == len(expected), errors


def test_the_menu_button_works_by_keyboard_and_leads_to_a_page(
    session: Any, tmp_path: Path
) -> None:
    s = session(ADMIN, PHONE)
    page = s.page
    page.goto("/")
    button = page.locator("header .menu-button")
    links = page.locator("header nav a")
    expect(links.first).to_be_hidden()
    for _ in range(3):  # the skip link, the brand, the button
        page.keyboard.press("Tab")
    expect(button).to_be_focused()
    outline = page.evaluate("(el) => getComputedStyle(el).outlineStyle", button.element_handle())
    assert outline not in ("none", ""), outline  # the focus is visible
    page.keyboard.press("Enter")
    expect(links.first).to_be_visible()
    assert page.evaluate("document.querySelector('header .menu-toggle').open")
    page.keyboard.press("Tab")  # the first item follows the button
    expect(links.first).to_be_focused()
    page.keyboard.press("Escape")  # closes, and the focus goes back to the button
    expect(links.first).to_be_hidden()
    expect(button).to_be_focused()
    page.keyboard.press("Space")
    expect(links.first).to_be_visible()
    page.screenshot(path=str(tmp_path / "phone-menu-open.png"))
    last = links.last
    last.focus()
    page.keyboard.press("Enter")  # the last item leads to its page
    expect(page).to_have_url(re.compile(re.escape(NAV[-1][0]) + "$"))
    expect(page.locator("header nav a").first).to_be_hidden()  # a new page opens it closed


def test_the_menu_opens_without_javascript(
    browser: Any, commune: Commune, session: Any, signed_in_states: dict[str, Any]
) -> None:
    session(ADMIN, PHONE)  # signs in through the form once; the cookie is reused below
    context = _phone(browser, commune, signed_in_states[ADMIN], java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/schedule")
        assert page.evaluate("typeof window.htmx") == "undefined"  # no script of the page ran
        expect(page.locator("header nav a").first).to_be_hidden()
        expect(page.locator("header .who")).to_contain_text(ADMIN_NAME)
        page.locator("header .menu-button").tap()
        assert page.evaluate(UNTAPPABLE, _admin_menu()) == []
        page.locator("header nav").get_by_role("link", name="Người dùng").tap()
        expect(page).to_have_url(re.compile("/users$"))
    finally:
        context.close()


def test_the_desktop_shows_the_whole_menu_without_the_button(session: Any, tmp_path: Path) -> None:
    s = session(ADMIN, DESKTOP)
    page = s.page
    page.goto("/")
    expect(page.locator("header .menu-button")).to_be_hidden()
    assert page.evaluate(UNTAPPABLE, _admin_menu()) == []
    for label in _admin_menu():
        expect(
            page.locator("header nav").get_by_role("link", name=label, exact=True)
        ).to_be_visible()
    expect(page.locator("header .who")).to_contain_text(ADMIN_NAME)
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    page.screenshot(path=str(tmp_path / "desktop-home.png"), full_page=True)
