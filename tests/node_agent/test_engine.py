"""Playback rules, checked on an engine with a real store, cache and file sink: priorities,
queueing, lateness, repeats, quiet hours, the hourly cap, clock jumps and crash recovery."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node_agent.policy import Settings
from node_agent.store import Store
from tests.node_agent.harness import parse_time, quiet_window_around_now
from tests.node_agent.rig import Rig
from tests.support.net import wait_until


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path)
    r.engine.start()
    yield r
    r.close()


def span(play: dict) -> tuple[float, float]:
    return parse_time(play["started_at"]), parse_time(play["finished_at"])


def test_emergency_preempts_and_the_interrupted_item_is_reported(rig: Rig):
    normal = rig.media("n", duration_s=2.0)
    urgent = rig.media("e", duration_s=0.3)
    rig.put(rig.item(1, normal, 0.3), rig.item(2, urgent, 0.8, priority="emergency"))
    interrupted = rig.finished(1)
    assert interrupted["result"] == "interrupted"
    assert "preempted" in interrupted["error"]
    assert rig.finished(2)["result"] == "played"
    plays = {p["broadcast"]: p for p in rig.plays()}
    n_start, n_end = span(plays[1])
    e_start, _ = span(plays[2])
    assert n_end - n_start < 0.7, "the normal item was cut short"
    assert n_end <= e_start + 0.005, "no overlap"
    assert abs(e_start - parse_time(plays[2]["play_at"])) < 0.05


def test_equal_priorities_queue_and_urgent_goes_first(rig: Rig):
    block = rig.media("b", duration_s=0.6)
    a = rig.media("a", duration_s=0.3)
    rig.put(
        rig.item(1, block, 0.3, priority="emergency"),
        rig.item(2, a, 0.4),  # normal, due while the emergency plays
        rig.item(3, a, 0.5, priority="urgent"),
        rig.item(4, a, 0.5),
    )
    for b in (1, 2, 3, 4):
        assert rig.finished(b)["result"] == "played"
    plays = sorted(rig.plays(), key=lambda p: p["started_at"])
    assert [p["broadcast"] for p in plays] == [1, 3, 2, 4]
    for before, after in itertools.pairwise(plays):
        assert span(before)[1] <= span(after)[0] + 0.005, "never two at once"


def test_late_item_is_missed_and_reported(rig: Rig):
    content = rig.media("late", duration_s=0.2)
    rig.put(rig.item(5, content, -10, max_late_s=2))
    done = rig.finished(5)
    assert done["result"] == "missed" and done["started_at"] is None
    assert not rig.plays()


def test_item_within_max_late_still_plays(rig: Rig):
    content = rig.media("lateok", duration_s=0.2)
    rig.put(rig.item(6, content, -1, max_late_s=5))
    assert rig.finished(6)["result"] == "played"


def test_media_never_fetched_is_reported_failed(rig: Rig):
    from loa.protocol import FileContent

    missing = FileContent(url="http://127.0.0.1:9/x", sha256="ab" * 32, bytes=10, duration_s=1)
    rig.put(rig.item(7, missing, 0.2, max_late_s=0.5))
    done = rig.finished(7)
    assert done["result"] == "failed"
    [failed] = rig.of_type("media.failed")
    assert failed["sha256"] == "ab" * 32 and failed["error"]
    assert not rig.plays()


def test_repeats_play_with_gaps(rig: Rig):
    content = rig.media("r", duration_s=0.2)
    rig.put(rig.item(8, content, 0.2, repeats=3, repeat_gap_s=0.1))
    assert rig.finished(8)["result"] == "played"
    [play] = rig.plays()
    start, end = span(play)
    assert 0.75 < end - start < 1.0


def test_stop_cancels_what_plays(rig: Rig):
    content = rig.media("stop", duration_s=5)
    rig.put(rig.item(9, content, 0.1))
    wait_until(lambda: rig.of_type("play.started"), 5)
    assert rig.engine.stop_playing("cancelled", broadcast=9, error="play.stop")
    done = rig.finished(9)
    assert done["result"] == "cancelled" and done["started_at"]


def test_quiet_hours_let_only_emergency_play(tmp_path: Path):
    r = Rig(tmp_path, Settings(quiet_hours=quiet_window_around_now()))
    r.engine.start()
    try:
        content = r.media("q", duration_s=0.2)
        r.put(r.item(1, content, 0.2), r.item(2, content, 0.3, priority="emergency"))
        refused = r.finished(1)
        assert refused["result"] == "cancelled" and refused["error"].startswith("quiet_hours")
        assert r.finished(2)["result"] == "played"
        assert [p["broadcast"] for p in r.plays()] == [2]
    finally:
        r.close()


def test_hourly_limit_caps_non_emergency_audio(tmp_path: Path):
    r = Rig(tmp_path, Settings(max_minutes_per_hour=0.8 / 60))  # 0.8 s per hour
    r.engine.start()
    try:
        content = r.media("h", duration_s=0.5)
        r.put(
            r.item(1, content, 0.2),
            r.item(2, content, 0.9),
            r.item(3, content, 1.6, priority="emergency"),
        )
        assert r.finished(1)["result"] == "played"
        refused = r.finished(2)
        assert refused["result"] == "cancelled" and refused["error"].startswith("hourly_limit")
        assert r.finished(3)["result"] == "played"
    finally:
        r.close()


def test_clock_set_back_does_not_play_twice(rig: Rig):
    content = rig.media("back", duration_s=0.2)
    rig.put(rig.item(1, content, 0.2))
    rig.finished(1)
    rig.offset = -30.0  # the wall clock is set back: the item's time comes round again
    rig.engine.wake()
    time.sleep(1.5)
    assert len(rig.plays()) == 1


def test_clock_set_forward_reports_what_it_skipped(rig: Rig):
    content = rig.media("fwd", duration_s=0.2)
    rig.put(rig.item(1, content, 5, max_late_s=2))
    time.sleep(0.3)
    rig.offset = 60.0
    rig.engine.wake()
    done = rig.finished(1)
    assert done["result"] == "missed"
    assert not rig.plays()


def test_play_cut_by_a_crash_is_reported_interrupted_not_replayed(tmp_path: Path):
    first = Rig(tmp_path)
    content = first.media("crash", duration_s=0.2)
    it = first.item(1, content, -1)
    first.store.put_items([it], time.time())
    first.store.mark_playing(it.key, time.time() - 0.5)
    first.store.close()

    again = Rig(tmp_path)
    again.engine.start()
    try:
        done = again.finished(1)
        assert done["result"] == "interrupted" and done["started_at"]
        time.sleep(0.3)
        assert not again.plays()
    finally:
        again.close()


class _Died(BaseException):
    """The agent's process ending at this line (SIGKILL, power cut): nothing after it runs."""


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_an_agent_dying_as_it_reports_a_play_leaves_the_report_to_send_or_to_recover(
    tmp_path: Path,
):
    """Done and reported are one transaction: the agent dying while it writes the report
    must not leave the item done with no report (the controller would wait for it forever)."""
    first = Rig(tmp_path)
    content = first.media("dying", duration_s=0.1)

    def dies_at_the_report(type_: str, body: Any) -> None:
        if type_ == "play.finished":
            raise _Died

    first.engine.report = dies_at_the_report
    first.engine.start()
    first.put(first.item(1, content, 0.1))
    wait_until(first.plays, 5, what="the play")
    time.sleep(0.3)
    first.store.close()

    again = Rig(tmp_path)
    again.engine.start()
    try:
        done = again.finished(1)  # was a timeout: the item was stored done, its report lost
        assert done["result"] == "interrupted" and done["started_at"]
        assert len(again.plays()) == 1, "not played again"
    finally:
        again.close()


def test_cache_evicts_least_recently_used_but_never_scheduled_media(tmp_path: Path):
    from node_agent.media import MediaCache
    from tests.node_agent.harness import item

    store = Store(tmp_path / "db")
    cache = MediaCache(tmp_path / "media", store, max_bytes=100_000)
    shas = []
    for n in range(4):
        data = bytes([n]) * 40_000
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        (cache.dir / f"{sha}.part").write_bytes(data)
        shas.append(sha)
        if n == 0:  # the oldest is still scheduled
            from loa.protocol import FileContent

            fc = FileContent(url="http://x/", sha256=sha, bytes=40_000, duration_s=1)
            store.put_items([item(1, fc, time.time() + 3600)], time.time())
        cache.admit(sha, cache.dir / f"{sha}.part")
        time.sleep(0.01)
    assert cache.used_bytes() <= 100_000
    assert cache.has(shas[0]), "scheduled media is never evicted"
    assert not cache.has(shas[1]) and cache.has(shas[3])
    store.close()
