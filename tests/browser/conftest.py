"""Real headless Chromium (Debian's, never a downloaded one) against a real commune: Mosquitto,
a controller process and three node-agent processes (tests/support/system.py).

The commune and the browser are shared by the module's tests, which run in file order: the
announcement written in one test is approved in the next and played in the one after.
Screenshots go to artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from controller.domain.users import create_user
from tests.support.broker import Mosquitto
from tests.support.system import Commune

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("LOA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # A fake microphone, so MediaRecorder records a real (synthetic) signal.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 860}

PASSWORDS = {
    "bientap": "mat-khau-bien-tap",
    "duyet": "mat-khau-nguoi-duyet",
    "quantri": "mat-khau-quan-tri-xa",
}


@dataclass
class Shared:
    """What one test leaves for the next (the module's tests form one story)."""

    values: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def shared() -> Shared:
    return Shared()


@pytest.fixture(scope="module")
def commune(tmp_path_factory: pytest.TempPathFactory, mosquitto: Mosquitto) -> Iterator[Commune]:
    c = Commune(tmp_path_factory.mktemp("browser-commune"), mosquitto.url)
    create_user(c.store.db, "quantri", PASSWORDS["quantri"], "admin", "Quản trị xã")
    try:
        c.start_nodes()  # the agents start while the controller does (both import for seconds)
        c.start_controller()
        c.wait_nodes_online(timeout=30)
        yield c
    finally:
        c.stop()
        print(c.logs())


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Session:
    """One signed-in official in their own browser context; collects console errors."""

    def __init__(
        self,
        browser: Any,
        base_url: str,
        viewport: dict[str, int],
        storage_state: dict[str, Any] | None = None,
    ):
        self.context = browser.new_context(
            base_url=base_url,
            viewport=viewport,
            locale="vi-VN",
            timezone_id="Asia/Ho_Chi_Minh",
            storage_state=storage_state,
        )
        self.context.grant_permissions(["microphone"])
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self, username: str) -> Session:
        page = self.page
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill(username)
        page.get_by_label("Mật khẩu").fill(PASSWORDS[username])
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_url(re.compile(r"/$"))
        return self

    def shoot(self, name: str, label: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def expect_console_error(self, fragment: str) -> None:
        """An error the test caused on purpose (a form answered 422); exactly one is consumed."""
        found = [e for e in self.errors if fragment in e]
        assert found, (fragment, self.errors)
        self.errors.remove(found[0])

    def assert_no_console_errors(self) -> None:
        assert not self.errors, self.errors

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def signed_in_states() -> dict[str, Any]:
    """Each official signs in through the form once; later contexts reuse the cookie."""
    return {}


@pytest.fixture
def session(browser: Any, commune: Commune, signed_in_states: dict[str, Any]) -> Iterator[Any]:
    """``session("bientap")``: a signed-in desktop browser; checked for console errors."""
    opened: list[Session] = []

    def make(username: str | None = None, viewport: dict[str, int] = DESKTOP) -> Session:
        state = signed_in_states.get(username) if username else None
        s = Session(browser, commune.url, viewport, state)
        opened.append(s)
        if username is None:
            return s
        if state is not None:
            s.page.goto("/")
            return s
        s.login(username)
        signed_in_states[username] = s.context.storage_state()
        return s

    yield make
    for s in opened:
        try:
            s.assert_no_console_errors()
        finally:
            s.close()
