"""Players: one interface for files and streams, behind which sit ALSA command-line players
(mpg123, ffplay, aplay) and a file sink that only records what would have played.

``play`` blocks until the source ends or ``stop`` is set, and calls ``on_started`` with the wall
time the sound started. A stream (relay or live) plays its URL until ``until``: the node reads
it itself (``node_agent.stream``: its token, reconnects, stall and silence timeouts) and feeds
the player's stdin, or, for the file sink, writes what arrived to ``streams/<label>.audio`` with
a timeline of arrival times, so tests can check the audio got there and when.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from node_agent.stream import StreamRefused, StreamStats, pump

log = logging.getLogger(__name__)

#: Longest a live stream with no end time runs before the node stops it on its own.
LIVE_CAP_S = 3 * 3600
#: A player that takes none of the stream for this long has failed (its pipe stays full).
PLAYER_STALL_S = 5.0


class PlayerError(Exception):
    pass


@dataclass(frozen=True)
class Source:
    """What to play: a verified cached file, or a stream URL until a wall-clock time."""

    path: Path | None = None
    duration_s: float | None = None
    url: str | None = None
    until: float | None = None
    #: Streams: live speech (ends with the stream) rather than a relay window.
    live: bool = False
    #: Streams: the node's bearer token, sent to the controller's stream URLs.
    token: str = ""
    #: A name for what plays (the item key), for the file sink's stream files.
    label: str = ""
    #: Streams: filled while playing (bytes, seconds, interruptions).
    stats: StreamStats | None = None

    @property
    def is_stream(self) -> bool:
        return self.url is not None

    def seconds_left(self, now: float) -> float:
        if self.is_stream:
            return (self.until - now) if self.until is not None else LIVE_CAP_S
        return self.duration_s or 0.0


class Player(Protocol):
    name: str

    def prepare(self, source: Source) -> None:
        """Do ahead of play time whatever makes the start fast (e.g. decode)."""

    def play(
        self, source: Source, stop: threading.Event, on_started: Callable[[float], None]
    ) -> bool:
        """Play; True if it ran to its end, False if stopped. Raises PlayerError."""
        ...

    def record(self, entry: dict[str, Any]) -> None:
        """Called once per play with the outcome (the file sink writes it down)."""


class FileSink:
    """Plays nothing, but takes the media's real duration (interruptibly) and appends one JSON
    line per play to ``path``: what played and when."""

    name = "file"

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def prepare(self, source: Source) -> None:
        pass

    def play(
        self, source: Source, stop: threading.Event, on_started: Callable[[float], None]
    ) -> bool:
        if source.is_stream:
            return self._play_stream(source, stop, on_started)
        started = time.time()
        on_started(started)
        end_mono = time.monotonic() + max(0.0, source.seconds_left(started))
        while True:
            left = end_mono - time.monotonic()
            if left <= 0:
                return True
            if stop.wait(left):
                return False

    def stream_paths(self, label: str) -> tuple[Path, Path]:
        """Where a stream's received audio and its arrival timeline are written."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label) or "stream"
        folder = self.path.parent / "streams"
        return folder / f"{safe}.audio", folder / f"{safe}.times"

    def _play_stream(
        self, source: Source, stop: threading.Event, on_started: Callable[[float], None]
    ) -> bool:
        audio_path, times_path = self.stream_paths(source.label)
        audio_path.parent.mkdir(parents=True, exist_ok=True)
        stats = source.stats if source.stats is not None else StreamStats()
        with audio_path.open("ab") as audio, times_path.open("a") as times:
            total = audio.tell()

            def write(chunk: bytes) -> None:
                nonlocal total
                audio.write(chunk)
                audio.flush()
                total += len(chunk)
                times.write(f"{time.time():.4f} {total}\n")
                times.flush()

            return _stream(source, stop, on_started, write, stats)

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())


def player_command(backend: str, target: str, device: str = "") -> list[str]:
    """The command line that plays ``target`` (a file or, except aplay, a URL) on ``device``
    (an ALSA device name; "" for the default)."""
    if backend == "mpg123":
        return ["mpg123", "-q", *(["-o", "alsa", "-a", device] if device else []), target]
    if backend == "ffplay":
        return ["ffplay", "-nodisp", "-autoexit", "-loglevel", "error", target]
    if backend == "aplay":
        return ["aplay", "-q", *(["-D", device] if device else []), target]
    raise ValueError(backend)


def _is_wav(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(12)
    return head[:4] == b"RIFF" and head[8:12] == b"WAVE"


class ProcessPlayer:
    """An ALSA command-line player in a child process; stopping terminates it."""

    def __init__(self, backend: str, device: str = ""):
        if shutil.which(backend) is None:
            raise PlayerError(f"{backend} is not installed")
        self.name = backend
        self.device = device

    def _target(self, source: Source) -> str:
        if source.is_stream:
            assert source.url is not None
            if self.name == "aplay":
                raise PlayerError("aplay cannot play a stream")
            return source.url
        assert source.path is not None
        if self.name == "aplay" and not _is_wav(source.path):
            wav = source.path.with_suffix(".wav")
            if not wav.exists():
                self.prepare(source)
            return str(wav)
        return str(source.path)

    def prepare(self, source: Source) -> None:
        """aplay only takes WAV: decode other media once, next to the cached file."""
        if self.name != "aplay" or source.path is None or _is_wav(source.path):
            return
        wav = source.path.with_suffix(".wav")
        if wav.exists():
            return
        tmp = wav.with_suffix(".wav.tmp")
        if shutil.which("mpg123"):
            cmd = ["mpg123", "-q", "-w", str(tmp), str(source.path)]
        elif shutil.which("ffmpeg"):
            cmd = [
                "ffmpeg",
                "-loglevel",
                "error",
                "-y",
                "-i",
                str(source.path),
                "-f",
                "wav",
                str(tmp),
            ]
        else:
            raise PlayerError("aplay needs mpg123 or ffmpeg to decode non-WAV media")
        if subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL).returncode != 0:
            tmp.unlink(missing_ok=True)
            raise PlayerError(f"could not decode {source.path.name}")
        os.replace(tmp, wav)

    def play(
        self, source: Source, stop: threading.Event, on_started: Callable[[float], None]
    ) -> bool:
        if source.is_stream:
            return self._play_stream(source, stop, on_started)
        target = self._target(source)
        try:
            proc = subprocess.Popen(
                player_command(self.name, target, self.device),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise PlayerError(f"{self.name}: {exc}") from exc
        on_started(time.time())
        deadline = None
        if source.is_stream:
            deadline = time.monotonic() + max(0.0, source.seconds_left(time.time()))
        stopped = False
        while proc.poll() is None:
            if stop.wait(0.05):
                stopped = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return not stopped
        if proc.returncode != 0:
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr else ""
            raise PlayerError(f"{self.name} exited {proc.returncode}: {err[-300:]}")
        return True

    def _play_stream(
        self, source: Source, stop: threading.Event, on_started: Callable[[float], None]
    ) -> bool:
        """The node reads the stream (token, reconnects) and feeds the player's stdin.

        The pipe is written without blocking: a player that stops reading (a hung sound card)
        cannot hold the node past the window's end, and one that stops reading for
        ``PLAYER_STALL_S`` fails the play. A player that exits fails it with its last words."""
        if self.name == "aplay":
            raise PlayerError("aplay cannot play a stream")
        try:
            proc = subprocess.Popen(
                player_command(self.name, "-" if self.name == "mpg123" else "pipe:0", self.device),
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            raise PlayerError(f"{self.name}: {exc}") from exc
        assert proc.stdin is not None and proc.stderr is not None
        stdin, fd = proc.stdin, proc.stdin.fileno()
        os.set_blocking(fd, False)
        said: collections.deque[bytes] = collections.deque(maxlen=20)
        errors = proc.stderr
        listening = threading.Thread(
            target=lambda: said.extend(errors), name="player-stderr", daemon=True
        )
        listening.start()

        def exited() -> PlayerError:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=0.5)
            listening.join(timeout=0.5)  # what it said before it went
            words = b"".join(list(said)[-5:]).decode(errors="replace").strip()
            return PlayerError(
                f"{self.name} exited {proc.returncode} during the stream"
                + (f": {words[-300:]}" if words else "")
            )

        def write(chunk: bytes) -> None:
            view = memoryview(chunk)
            blocked_since: float | None = None
            while view:
                try:
                    view = view[os.write(fd, view) :]
                    blocked_since = None
                    continue
                except BlockingIOError:
                    pass
                except BrokenPipeError:
                    raise exited() from None
                if proc.poll() is not None:
                    raise exited()
                now = time.monotonic()
                blocked_since = blocked_since or now
                if now - blocked_since > PLAYER_STALL_S:
                    raise PlayerError(f"{self.name} stopped reading for {PLAYER_STALL_S:.0f}s")
                if stop.is_set() or (source.until is not None and time.time() >= source.until):
                    return  # the play is over: pump sees it next
                select.select([], [fd], [], 0.05)

        stats = source.stats if source.stats is not None else StreamStats()
        try:
            return _stream(source, stop, on_started, write, stats)
        finally:
            with contextlib.suppress(OSError):
                stdin.close()
            if proc.poll() is None:
                proc.terminate()
                with contextlib.suppress(OSError):  # a stopped (frozen) player must see it too
                    proc.send_signal(signal.SIGCONT)
                try:
                    proc.wait(timeout=0.5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def record(self, entry: dict[str, Any]) -> None:
        pass


def _stream(
    source: Source,
    stop: threading.Event,
    on_started: Callable[[float], None],
    write: Callable[[bytes], None],
    stats: StreamStats,
) -> bool:
    assert source.url is not None
    try:
        return pump(
            source.url, source.token, source.until, source.live, stop, write, on_started, stats
        )
    except StreamRefused as exc:
        raise PlayerError(str(exc)) from exc
    except TimeoutError as exc:
        raise PlayerError(f"stream silent: {exc}") from exc
    except (BrokenPipeError, ValueError) as exc:
        raise PlayerError(f"player input closed: {exc}") from exc


def has_sound_card() -> bool:
    try:
        return any(name.startswith("pcm") for name in os.listdir("/dev/snd"))
    except OSError:
        return False


def make_player(backend: str, sink_path: Path, device: str = "") -> Player:
    """``auto`` picks mpg123, ffplay or aplay when a sound card exists, else the file sink."""
    if backend == "file":
        return FileSink(sink_path)
    if backend == "auto":
        if has_sound_card() or device:
            for candidate in ("mpg123", "ffplay", "aplay"):
                if shutil.which(candidate):
                    return ProcessPlayer(candidate, device)
        log.warning("no sound card or player found: using the file sink %s", sink_path)
        return FileSink(sink_path)
    return ProcessPlayer(backend, device)
