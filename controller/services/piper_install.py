"""Offline neural voices (Piper) from the voices page: the installed voices, the Vietnamese
voices of Piper's catalogue, and their installation in the background.

Rules:

- Installing is ``audio.voices.install_from_catalog`` — what ``loa tts install-voice NAME``
  runs — with the same catalogue (``$LOA_PIPER_CATALOG_URL``, else Piper's own) and the same
  voices directory (``$LOA_VOICES_DIR`` …). Its rules hold: the voice must be in the catalogue
  and Vietnamese, both files must match the catalogue's size and md5, and nothing is left
  half-installed.
- Admins only (``voices.manage``); each request is audited (``voices.install``, the voice's
  name) when it is accepted.
- It runs in a background thread: the page does not wait on the download. Each voice's last
  installation is remembered in this process (:data:`jobs`): ``downloading`` (đang tải),
  ``installed`` (đã cài) or ``failed`` (lỗi) with the one Vietnamese line the command line
  prints. A voice already downloading is not started again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from audio import voices as audio_voices
from audio.errors import AudioError
from controller.core.db import Store
from controller.domain import audit, authz
from controller.domain.identity import Identity

log = logging.getLogger(__name__)

STATES = ("downloading", "installed", "failed")


@dataclass
class InstallJob:
    voice: str
    state: str  # one of STATES
    message: str = ""
    code: str = ""


class InstallJobs:
    """The installations started in this process, by voice name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, InstallJob] = {}
        self._threads: dict[str, threading.Thread] = {}

    def get(self, voice: str) -> InstallJob | None:
        with self._lock:
            job = self._jobs.get(voice)
            return None if job is None else InstallJob(**vars(job))

    def all(self) -> dict[str, InstallJob]:
        with self._lock:
            return {name: InstallJob(**vars(job)) for name, job in self._jobs.items()}

    def wait(self, voice: str, timeout: float | None = None) -> None:
        """Wait for a voice's installation to end (tests; the page never waits)."""
        thread = self._threads.get(voice)
        if thread is not None:
            thread.join(timeout)

    def start(self, voice: str) -> bool:
        """Start installing ``voice`` in a thread; False if it is already downloading."""
        with self._lock:
            current = self._jobs.get(voice)
            if current is not None and current.state == "downloading":
                return False
            self._jobs[voice] = InstallJob(voice, "downloading")
            thread = threading.Thread(
                target=self._run, args=(voice,), name=f"piper-install-{voice}", daemon=True
            )
            self._threads[voice] = thread
        thread.start()
        return True

    def _run(self, voice: str) -> None:
        try:
            audio_voices.install_from_catalog(voice)
        except AudioError as exc:
            self._finish(InstallJob(voice, "failed", exc.message, exc.code))
        except Exception:  # a bug must not leave the page saying "đang tải" for ever
            log.exception("installing the Piper voice %s failed", voice)
            self._finish(InstallJob(voice, "failed", "", "install_failed"))
        else:
            self._finish(InstallJob(voice, "installed"))

    def _finish(self, job: InstallJob) -> None:
        with self._lock:
            self._jobs[job.voice] = job


#: This process's installations.
jobs = InstallJobs()


def offline_voices() -> dict[str, Any]:
    """What the page shows: the installed Piper voices, and the Vietnamese voices of the
    catalogue with their licence, whether installed, and their last installation here."""
    installed = audio_voices.installed_voices()
    started = jobs.all()
    catalogue = [
        {
            "voice": name,
            "licence": licence,
            "installed": name in installed,
            "job": started.get(name),
        }
        for name, licence in audio_voices.VIETNAMESE_CATALOG.items()
    ]
    others = [job for name, job in started.items() if name not in audio_voices.VIETNAMESE_CATALOG]
    return {
        "installed": installed,
        "catalogue": catalogue,
        "other_jobs": others,
        "catalog_url": audio_voices.catalog_url(),
    }


def request_install(store: Store, who: Identity, voice: str, ip: str | None = None) -> bool:
    """An admin asks for ``voice`` to be installed: audited, then started in the background.
    False if it was already downloading (nothing is started or audited again)."""
    authz.require(who, "voices.manage")
    voice = voice.strip()[:200]
    current = jobs.get(voice)
    if current is not None and current.state == "downloading":
        return False
    with store.transaction():
        audit.record(store.db, who, "voices.install", "voices", voice, None, {"voice": voice}, ip)
    return jobs.start(voice)
