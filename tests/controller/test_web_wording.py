"""Pages in words (issue 14): the dashboard says how many clusters are online and offline in a
sentence, every reason a cluster's status history can hold reads in plain Vietnamese (the
reasons are read from the code, so a new one cannot be left without words), and the English
locale shows no Vietnamese in schedule summaries and error messages, with its plurals right."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from controller.core.messages import ERRORS
from controller.core.messages_en import ERRORS_EN
from controller.domain import fleet
from controller.domain.seed import SeededCommune
from controller.i18n import ngettext_for
from controller.web.common import NODE_REASONS, NODE_REASONS_BACK
from loa.protocol import State, utcnow
from schedules import RuleSpec, summarize_rule
from tests.controller.conftest import People
from tests.controller.test_web import _db, _signed_in, _write

ROOT = Path(__file__).resolve().parents[2]


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def vietnamese_letters(text: str) -> list[str]:
    """The letters of ``text`` only Vietnamese has: ă â đ ê ô ơ ư and any tone mark."""
    found = []
    for word in re.findall(r"\w+", text):
        decomposed = unicodedata.normalize("NFD", word)
        if re.search(r"[đĐ]|[\u0300-\u0309\u031b\u0323]|[ăâêôơưĂÂÊÔƠƯ]", decomposed):
            found.append(word)
    return found


def _states(client: TestClient, commune: SeededCommune, online: list[bool]) -> None:
    db = _db(client)
    for node, up in zip(commune.nodes, online, strict=True):
        fleet.apply_state(db, State(node=node.node_id, online=up, at=utcnow()), utcnow())


def _fleet_sentence(html: str) -> str:
    match = re.search(r'<p class="fleet-sentence"[^>]*>(.*?)</p>', html, re.S)
    assert match, "the dashboard has its sentence"
    return _text(match.group(1)).replace(" ,", ",").replace(" .", ".")


def test_the_dashboard_says_the_clusters_in_a_sentence(
    client: TestClient, people: People, commune: SeededCommune
):
    _states(client, commune, [True, True, False])
    viewer, _csrf = _signed_in(client, "viewer")
    assert _fleet_sentence(viewer.get("/").text) == (
        "2 cụm loa đang hoạt động, 1 cụm loa mất kết nối."
    )
    assert _fleet_sentence(viewer.get("/partials/dashboard").text).startswith(
        "2 cụm loa đang hoạt động, 1 cụm loa mất kết nối"
    )
    viewer.get("/lang/en")
    assert _fleet_sentence(viewer.get("/").text) == (
        "2 speaker clusters online, 1 speaker cluster offline."
    )
    _states(client, commune, [True, True, True])
    assert _fleet_sentence(viewer.get("/partials/dashboard").text) == ("3 speaker clusters online.")


def _reasons_in_code() -> set[str]:
    """Every reason a status change can be written with: the controller's ``REASON_*`` and the
    literal reasons node_agent puts in its states."""
    fleet_src = (ROOT / "controller/domain/fleet.py").read_text(encoding="utf-8")
    found = set(re.findall(r'^REASON_\w+\s*=\s*"(\w+)"', fleet_src, re.M))
    for path in (ROOT / "node_agent").rglob("*.py"):
        src = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'\breason(?:: str)?\s*=\s*"(\w+)"', src))
        found |= set(re.findall(r'"reason"\]?\s*[:=]\s*"(\w+)"', src))
    return found


def test_every_reason_in_the_code_has_words():
    reasons = _reasons_in_code()
    # the reading itself finds the reasons known today (else it would pass on finding nothing)
    assert {"connected", "will", "heartbeat", "offline", "store_reset", "shutdown"} <= reasons
    missing = sorted(reasons - NODE_REASONS.keys())
    assert not missing, f"status reasons without words in web/common.NODE_REASONS: {missing}"
    assert set(NODE_REASONS_BACK) <= reasons


def test_the_status_history_reads_in_plain_words(
    client: TestClient, people: People, commune: SeededCommune
):
    node = commune.nodes[0].node_id
    db = _db(client)
    steps = [
        (True, "connected"),
        (False, "will"),
        (True, "store_reset"),
        (False, "shutdown"),
        (True, "heartbeat"),
        (False, "heartbeat"),
        (True, "connected"),
        (False, "offline"),
        (True, "made_up_reason"),
    ]
    start = utcnow() - timedelta(hours=1)
    for i, (online, reason) in enumerate(steps):
        assert fleet.record_status(db, node, online, reason, start + timedelta(minutes=i))
    viewer, _csrf = _signed_in(client, "viewer")
    for path in (f"/nodes/{node}", f"/nodes/{node}/live"):
        html = viewer.get(path).text
        section = html[html.index("Lịch sử trạng thái") :]
        section = section[: section.index("</section>")]
        words = re.findall(r'<small class="muted">(.*?)</small>', section, re.S)
        assert len(words) == len(steps)
        expected = {
            "Mất kết nối (không nhận được nhịp tim 90 giây)",
            "Nhận lại nhịp tim sau khi mất kết nối",
            "Mất kết nối đột ngột (mất điện hoặc mất mạng)",
            "Tắt máy hoặc khởi động lại",
            "Khởi động lại với dữ liệu lịch mới (dữ liệu cũ bị hỏng)",
            "Đã kết nối lại với bộ điều khiển",
            "Cụm loa báo ngừng hoạt động",
            "Không rõ lý do",
        }
        assert set(words) == expected
        for code in {reason for _online, reason in steps}:
            assert code not in _text(section), f"raw reason {code!r} shown"
    viewer.get("/lang/en")
    section = viewer.get(f"/nodes/{node}/live").text
    words = re.findall(r'<small class="muted">(.*?)</small>', section, re.S)
    assert "Offline (no heartbeat heard for 90 seconds)" in words
    assert not vietnamese_letters(" ".join(words))


def _check_form(announcement_id: int, zone_id: int, **changes: object) -> dict[str, object]:
    today = datetime.now(UTC).astimezone().date()
    return {
        "announcement_id": str(announcement_id),
        "zone_ids": str(zone_id),
        "kind": "recurring",
        "frequency": "weekly",
        "weekdays": ["0", "2"],
        "times": "06:00, 17:30",
        "valid_from": today.isoformat(),
        "valid_until": (today + timedelta(days=40)).isoformat(),
        "repeats": "2",
        "repeat_gap_s": "5",
        "touched": "1",
        **changes,
    }


def test_the_english_schedule_check_has_no_vietnamese_and_counts_right(
    client: TestClient, people: People, commune: SeededCommune
):
    editor, csrf = _signed_in(client, "editor")
    _write(editor, csrf, "Họp thôn", "Mời bà con họp.")
    announcement = _db(client).execute("SELECT id FROM announcements").fetchone()[0]
    headers = {"X-CSRF-Token": csrf}
    editor.get("/lang/en")
    whole = editor.post(
        "/schedule/check", data=_check_form(announcement, commune.commune_id), headers=headers
    )
    assert 'data-check="ok"' in whole.text
    block = _text(whole.text)
    summary = _text(re.search(r'<p class="summary">(.*?)</p>', whole.text, re.S).group(1))  # type: ignore[union-attr]
    assert summary.startswith("Every Monday, Wednesday at 06:00 and 17:30, from ")
    assert "; each time played 2 times" in summary
    assert not vietnamese_letters(summary), vietnamese_letters(summary)
    assert "To 3 speaker clusters" in block
    village = commune.nodes[0].zone_id
    one = editor.post("/schedule/check", data=_check_form(announcement, village), headers=headers)
    assert "To 1 speaker cluster ·" in _text(one.text)
    tree = _text(editor.get("/schedule/new").text)  # the zone tree (a macro) counts them too
    assert "(3 speaker clusters)" in tree and "(1 speaker cluster)" in tree
    # errors: the API's (ERRORS) and the schedules package's (ScheduleError)
    past = (datetime.now(UTC) - timedelta(days=1)).astimezone()
    errors: list[dict[str, object]] = [
        {"weekdays": []},
        {"kind": "once", "starts_at": past.strftime("%Y-%m-%dT%H:%M")},
        {"announcement_id": "999999"},
    ]
    for changes in errors:
        bad = editor.post(
            "/schedule/check",
            data={**_check_form(announcement, commune.commune_id), **changes},
            headers=headers,
        )
        assert 'data-check="error"' in bad.text, changes
        error = _text(bad.text)
        assert error and not vietnamese_letters(error), (changes, error)
    # the REST API answers in Vietnamese whatever the page's language (same client, cookie en)
    api = editor.get("/api/v1/broadcasts/999999", headers={"Authorization": "Bearer nope"})
    assert api.json()["error"]["message"] == ERRORS["unauthorized"]
    # saved, its page says the schedule in English too
    form = {**_check_form(announcement, village), "csrf": csrf}
    saved = editor.post("/schedule/new", data=form, follow_redirects=False)
    assert saved.status_code == 303, _text(saved.text)[:300]
    page = editor.get(saved.headers["location"]).text
    assert "Every Monday, Wednesday at 06:00 and 17:30, from " in _text(page)
    # the same page in Vietnamese still reads Vietnamese
    editor.get("/lang/vi")
    vi = editor.post(
        "/schedule/check", data={**_check_form(announcement, village)}, headers=headers
    )
    assert "Thứ Hai, thứ Tư hằng tuần lúc 06:00 và 17:30" in _text(vi.text)
    assert "Đến 1 cụm loa" in _text(vi.text)


@pytest.mark.parametrize(
    "spec",
    [
        RuleSpec("daily", (datetime(2026, 1, 1, 6).time(),), date(2026, 12, 1)),
        RuleSpec("weekdays", (datetime(2026, 1, 1, 6).time(),), date(2026, 12, 1)),
        RuleSpec(
            "monthly",
            (datetime(2026, 1, 1, 7).time(),),
            date(2026, 12, 1),
            valid_until=date(2027, 3, 1),
            month_days=(1, 31, -1),
        ),
    ],
)
def test_schedule_summaries_in_english(spec: RuleSpec):
    english = summarize_rule(spec, locale="en")
    assert not vietnamese_letters(english), english
    assert vietnamese_letters(summarize_rule(spec))


def test_every_api_error_has_english_with_the_same_placeholders():
    assert set(ERRORS) <= set(ERRORS_EN)
    for code, vi in ERRORS.items():
        assert set(re.findall(r"\{(\w+)", vi)) == set(re.findall(r"\{(\w+)", ERRORS_EN[code])), code
        assert not vietnamese_letters(ERRORS_EN[code]), code


@pytest.mark.parametrize(
    ("source", "one", "two"),
    [
        ("%(n)s cụm loa", "1 speaker cluster", "2 speaker clusters"),
        ("Đến %(n)s cụm loa", "To 1 speaker cluster", "To 2 speaker clusters"),
        ("Đã phát %(n)s lần", "Played 1 time", "Played 2 times"),
        ("%(n)s tiếng", "1 syllable", "2 syllables"),
    ],
)
def test_english_counts_take_their_plural(source: str, one: str, two: str):
    english, vietnamese = ngettext_for("en"), ngettext_for("vi")
    assert english(source, source, 1) == one
    assert english(source, source, 2) == two
    assert vietnamese(source, source, 2) == source % {"n": 2}
