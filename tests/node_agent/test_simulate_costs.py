"""What keeps ``loa node simulate`` cheap without changing what each node does: the engine
driver reads schedules outside the lock every agent's wake() takes, downloads share a few slots,
and a simulation's media cache, like its stores, skips fsync."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from node_agent import media
from node_agent.media import Fetcher, MediaCache
from node_agent.simulate import EngineDriver
from node_agent.store import Store
from tests.node_agent.harness import media_blob
from tests.node_agent.rig import Rig
from tests.support.net import wait_until


def test_a_slow_schedule_reload_does_not_hold_up_other_agents_wake(tmp_path: Path):
    one, two = Rig(tmp_path / "one"), Rig(tmp_path / "two")
    driver = EngineDriver()
    reloading = threading.Event()
    release = threading.Event()
    real_reload = one.engine._reload

    def slow_reload() -> None:
        reloading.set()
        release.wait(10)
        real_reload()

    try:
        driver.add(one.engine)
        driver.add(two.engine)
        wait_until(lambda: not one.engine._dirty and not two.engine._dirty, 5)
        one.engine._reload = slow_reload  # type: ignore[method-assign]
        threading.Thread(target=one.engine.wake, args=(True,), daemon=True).start()
        assert reloading.wait(5), "the driver reads the changed schedule"
        woke = threading.Event()
        threading.Thread(target=lambda: (two.engine.wake(True), woke.set()), daemon=True).start()
        assert woke.wait(2), "another agent's wake() waited for the reload"
        release.set()
        content = two.media("two", duration_s=0.1)
        two.put(two.item(1, content, 0.2))
        assert two.finished(1)["result"] == "played"
    finally:
        release.set()
        driver.stop()
        one.close()
        two.close()


def counting_fsync(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(media.os, "fsync", fsync)
    return calls


@pytest.mark.parametrize("durable", [True, False])
def test_only_a_durable_cache_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, durable):
    from tests.node_agent.harness import MediaServer

    server = MediaServer()
    server.start()
    try:
        content = server.content(media_blob("fsync"))
        store = Store(tmp_path / "node.db", durable=durable)
        cache = MediaCache(tmp_path / "media", store, 10 * 2**20, durable=durable)
        calls = counting_fsync(monkeypatch)
        fetcher = Fetcher(cache, token="media-secret")
        fetcher.want(content.sha256, content.url, content.bytes)
        wait_until(lambda: cache.has(content.sha256), 10, what="the download")
        fetcher.stop()
        store.close()
    finally:
        server.stop()
    assert (len(calls) >= 2) if durable else (calls == []), calls


def test_download_slots_bound_concurrent_downloads(tmp_path: Path, monkeypatch):
    active = [0]
    most = [0]
    lock = threading.Lock()

    def fake_download(url: str, sha: str, size: int, part: Path, *_a: Any, **_k: Any) -> Path:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        time.sleep(0.2)
        part.write_bytes(media_blob(url))
        with lock:
            active[0] -= 1
        return part

    monkeypatch.setattr(media, "download", fake_download)
    slots = threading.BoundedSemaphore(1)
    caches = []
    for n in range(3):
        store = Store(tmp_path / f"{n}.db", durable=False)
        cache = MediaCache(tmp_path / f"media{n}", store, 2**20, durable=False)
        fetcher = Fetcher(cache, token="", slots=slots)
        blob = media_blob(f"u{n}")
        fetcher.want(hashlib.sha256(blob).hexdigest(), f"u{n}", len(blob))
        caches.append((cache, hashlib.sha256(blob).hexdigest(), fetcher, store))
    wait_until(lambda: all(c.has(sha) for c, sha, _f, _s in caches), 10, what="three downloads")
    for _c, _sha, fetcher, store in caches:
        fetcher.stop()
        store.close()
    assert most[0] == 1, "one slot: one download at a time"
