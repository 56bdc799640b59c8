"""An engine in the test's own process with a real store, cache and file sink, and a wall clock
the test can move (for clock jumps). Used where a test needs to look inside: the amplifier's
mock pin, preemption timing, a clock set back or forward."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from typing import Any

from loa.protocol import FileContent, ScheduleItem
from node_agent.amplifier import Amplifier
from node_agent.engine import Engine
from node_agent.media import Fetcher, MediaCache
from node_agent.player import FileSink
from node_agent.policy import Settings, load_tz
from node_agent.store import Store
from tests.node_agent.harness import item, media_blob
from tests.support.net import wait_until


class Rig:
    def __init__(self, tmp: Path, settings: Settings | None = None, amp: Amplifier | None = None):
        self.offset = 0.0
        self.store = Store(tmp / "node.db")
        self.cache = MediaCache(tmp / "media", self.store, 50 * 2**20)
        self.fetcher = Fetcher(self.cache, token="", retry_min_s=0.1, retry_max_s=0.2)
        self.sink = FileSink(tmp / "plays.jsonl")
        self.amp = amp or Amplifier(None, 0.0)
        self.settings = settings or Settings()
        self.reports: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self.engine = Engine(
            node_id="rig",
            store=self.store,
            cache=self.cache,
            fetcher=self.fetcher,
            player=self.sink,
            amplifier=self.amp,
            settings=lambda: self.settings,
            tz=load_tz("Asia/Ho_Chi_Minh"),
            report=self._report,
            on_playing=lambda _p: None,
            clock=self.clock,
        )

    def clock(self) -> float:
        return time.time() + self.offset

    def _report(self, type_: str, body: Any) -> None:
        with self._lock:
            self.reports.append((type_, body.model_dump(mode="json")))

    def media(self, tag: str, duration_s: float) -> FileContent:
        data = media_blob(tag)
        sha = hashlib.sha256(data).hexdigest()
        part = self.cache.dir / f"{sha}.part"
        part.write_bytes(data)
        self.cache.admit(sha, part)
        return FileContent(
            url=f"http://127.0.0.1:9/{sha}", sha256=sha, bytes=len(data), duration_s=duration_s
        )

    def put(self, *items: ScheduleItem) -> None:
        self.store.put_items(items, self.clock())
        self.engine.wake(schedule_changed=True)

    def item(self, broadcast: int, content: Any, in_s: float, **kw: Any) -> ScheduleItem:
        return item(broadcast, content, self.clock() + in_s, **kw)

    def plays(self) -> list[dict[str, Any]]:
        if not self.sink.path.exists():
            return []
        return [json.loads(x) for x in self.sink.path.read_text().splitlines()]

    def finished(self, broadcast: int, timeout: float = 10) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            with self._lock:
                for t, b in self.reports:
                    if t == "play.finished" and b["broadcast"] == broadcast:
                        return b
            return None

        return wait_until(find, timeout, what=f"finished {broadcast}")

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        with self._lock:
            return [b for t, b in self.reports if t == type_]

    def close(self) -> None:
        self.engine.shutdown()
        self.fetcher.stop()
        self.amp.close()
        self.store.close()


def sha_of(tag: str) -> str:
    return hashlib.sha256(media_blob(tag)).hexdigest()
