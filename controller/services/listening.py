"""The background queue of machine listening checks: one worker thread, one check at a time.

The recognizer runs in a child process in Linux's idle scheduling class (``audio.listening``),
so pages and emergencies keep the CPU; the queue adds that only one runs at once, whatever
the number of announcements saved. A check never blocks saving: the announcement's speech is
queued after it is committed (``controller.domain.listening.spoken``) and the result is stored
when it is done. Without the recognizer (``audio.listening.available()`` false) the queue does
not listen and nothing is queued. Audio with no text (uploads, recordings, live recordings:
``controller.domain.listening.transcribe``) goes through the same queue; its transcript is
stored instead of a comparison.
"""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from audio import listening as audio_listening
from audio.errors import AudioError
from controller.core.db import Store
from controller.domain import listening

log = logging.getLogger("controller.listening")


class ListeningQueue:
    """Checks of spoken audio in ``media_dir``, stored in ``store``."""

    def __init__(self, store: Store, media_dir: Path):
        self.store = store
        self.media_dir = media_dir
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> bool:
        """Listen to the store's speech (and pick up checks queued before a restart); False,
        and nothing listened to, when the recognizer is not installed."""
        if not audio_listening.available():
            return False
        listening.watch(self.store, self.submit)
        for sha256, _text in listening.queued(self.store.db):
            self.submit(sha256, _text)
        return True

    def submit(self, sha256: str, normalized_text: str) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._work, name="listening-check", daemon=True
                )
                self._thread.start()
        self._queue.put(sha256)

    def stop(self) -> None:
        listening.watch(self.store, None)
        with self._lock:
            thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            thread.join(timeout=5)

    def _work(self) -> None:
        while True:
            sha256 = self._queue.get()
            if sha256 is None:
                return
            try:
                self._check(sha256)
            except Exception:  # one bad check must not end the queue
                log.exception("listening check of %s failed", sha256)

    def _check(self, sha256: str) -> None:
        row = listening.check_of(self.store.db, sha256)
        if row is None or row["state"] != "queued":
            return
        path = self.media_dir / f"{sha256}.mp3"
        try:
            result = audio_listening.listen(path, row["expected"])
        except AudioError as exc:
            listening.record_failure(self.store, sha256, exc.message)
            log.info("listening check of %s: %s", sha256, exc.code)
            return
        if not row["expected"]:  # audio with no text: the transcript is the result
            listening.record_transcript(
                self.store,
                sha256,
                result.heard_text,
                recognizer=result.recognizer,
                cpu_s=result.cpu_s,
            )
            log.info("transcript of %s: %.1f s CPU", sha256, result.cpu_s)
            return
        listening.record_result(self.store, sha256, result)
        log.info(
            "listening check of %s: %.0f%% heard, %.1f s CPU",
            sha256,
            100 * result.heard_share,
            result.cpu_s,
        )
