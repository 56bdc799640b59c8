"""Structured logs: one JSON object per line, with extra fields and exceptions."""

from __future__ import annotations

import io
import json
import logging

import pytest

from controller.core import logs


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_format_writes_one_parseable_object_per_line(restore_root_logging) -> None:
    out = io.StringIO()
    logs.configure("json", stream=out)
    log = logging.getLogger("controller.test")
    log.info("node %s offline", "lac-xuan-1", extra={"node": "lac-xuan-1", "reason": "will"})
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        log.exception("tick failed")
    log.debug("not shown at INFO")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["msg"] == "node lac-xuan-1 offline" and first["level"] == "INFO"
    assert first["logger"] == "controller.test"
    assert first["node"] == "lac-xuan-1" and first["reason"] == "will"
    assert first["ts"].endswith("Z")
    assert second["level"] == "ERROR" and "RuntimeError: boom" in second["exc"]


def test_text_format_is_plain(restore_root_logging) -> None:
    out = io.StringIO()
    logs.configure("text", stream=out)
    logging.getLogger("controller.test").warning("cụm loa mất kết nối")
    line = out.getvalue().strip()
    assert "WARNING controller.test: cụm loa mất kết nối" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_log_format_comes_from_the_option_then_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOA_LOG_FORMAT", "json")
    assert logs.resolve_format(None) == "json"
    assert logs.resolve_format("text") == "text"
    monkeypatch.delenv("LOA_LOG_FORMAT")
    assert logs.resolve_format(None) == "text"
    with pytest.raises(ValueError):
        logs.resolve_format("xml")


def test_scheduler_ticks_write_nothing_but_a_failing_tick_is_logged(restore_root_logging) -> None:
    """APScheduler's two INFO lines per run are routine; an exception in a run is not."""
    import threading

    from apscheduler.schedulers.background import BackgroundScheduler

    out = io.StringIO()
    logs.configure("text", stream=out)
    runs: list[int] = []
    done = threading.Event()

    def tick() -> None:
        runs.append(1)
        if len(runs) == 3:
            done.set()
            raise RuntimeError("tick failed on purpose")

    scheduler = BackgroundScheduler()
    scheduler.add_job(tick, "interval", seconds=0.05)
    scheduler.start()
    try:
        assert done.wait(10)
    finally:
        scheduler.shutdown(wait=True)
    text = out.getvalue()
    assert "Running job" not in text and "executed successfully" not in text, text
    assert "tick failed on purpose" in text


def test_verbose_logging_keeps_the_scheduler_lines(restore_root_logging) -> None:
    logs.configure("text", level=logging.DEBUG, stream=io.StringIO())
    assert logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    logs.configure("text", stream=io.StringIO())
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
