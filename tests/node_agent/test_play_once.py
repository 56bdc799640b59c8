"""A play.now item plays once (issue 17): the controller's re-send, a second copy (a zone's and a
per-node one) or a schedule.sync listing it change neither its time nor its status."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loa.protocol import FileContent, ScheduleItem
from node_agent.store import Store


def _item(play_at: datetime) -> ScheduleItem:
    return ScheduleItem(
        broadcast=7,
        occurrence="o",
        play_at=play_at,
        content=FileContent(url="http://x/a.mp3", sha256="a" * 64, bytes=10, duration_s=2.0),
        priority="emergency",
        max_late_s=120,
    )


def test_a_play_now_item_is_not_reset_by_a_resend_or_a_sync(tmp_path: Path):
    store = Store(tmp_path / "node.db")
    item = _item(datetime.now(UTC) + timedelta(seconds=2))
    now = time.time()
    store.put_items([item], now, immediate=True)
    key = item.key
    first = next(i for i in store.active_items() if i.key == key).play_at
    store.put_items([item], now + 1, immediate=True)  # the re-send, waiting still
    assert next(i for i in store.active_items() if i.key == key).play_at == first
    store.mark_playing(key, now + 1)
    store.put_items([item], now + 2, immediate=True)  # another copy while it plays
    assert store.get_status(key) == "playing"
    store.mark_done(key, "played")
    store.put_items([item], now + 3, immediate=True)  # a late copy
    store.sync_items([item], now + 4)  # a sync listing it (its scheduled play_at differs)
    assert store.get_status(key) == "done"
    store.close()


def test_a_scheduled_item_still_plays_now_when_told_to(tmp_path: Path):
    store = Store(tmp_path / "node.db")
    item = _item(datetime.now(UTC) + timedelta(hours=1))
    now = time.time()
    store.put_items([item], now)
    store.put_items([item], now, immediate=True)
    active = next(i for i in store.active_items() if i.key == item.key)
    assert abs(active.play_at - now) < 1e-3
    store.close()
