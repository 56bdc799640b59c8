"""What the cloud voices (FPT.AI, Vbee, Viettel AI) share: accounts, deadlines, polling, breaker.

Rules:

- **Accounts come from one configuration object**, :class:`OnlineSettings`, that the controller
  fills from its stored settings and hands over with :func:`configure` (at start and whenever an
  admin changes a key). Until it does, the settings come from the environment
  (``LOA_FPT_API_KEY``, ``LOA_VBEE_TOKEN`` + ``LOA_VBEE_APP_ID``, ``LOA_VIETTEL_TOKEN``, and
  ``LOA_FPT_URL``, ``LOA_VBEE_URL``, ``LOA_VIETTEL_URL`` for the endpoints), which is what
  ``loa tts`` uses.
- **A key is never shown back, logged or put in an error**: it is held in a :class:`Secret`,
  whose ``repr``/``str`` are masked, and only :meth:`Secret.reveal` puts it in a request header.
  Errors name the engine and the cause, never the key; the vendors' own error text is not copied
  into messages either (it could echo what was sent).
- **Every synthesis has a deadline** (``deadline_s``, per chunk, from the first request to the
  audio file): the request, the polls of a result that is not ready yet (back-off from
  ``poll_first_s`` doubling up to ``poll_max_s``) and the download all fit in it. Past it the
  chunk fails with ``offline``. A caller with a tighter budget (an emergency) sets a shorter
  one for its own calls with :func:`budget` (``render_text(..., online_deadline_s=…)``).
- **A breaker** skips an online engine in ``auto`` for ``breaker_s`` seconds after it failed
  (network, deadline, key, quota, a bad reply), so the next announcements go straight to the
  next engine instead of waiting on the deadline again. A successful synthesis or check closes it.
- Failures are :class:`OnlineFailure`, an :class:`~audio.errors.AudioError` with the existing
  codes (``offline`` when the service cannot be reached or does not answer in time,
  ``engine_failed`` for a wrong key, no quota left, a server error or a reply that is not audio)
  and a ``state`` for :func:`check`-style reports: ``unreachable``, ``wrong_key``,
  ``out_of_quota`` or ``failed``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from audio.errors import AudioError

FPT_URL = "https://api.fpt.ai/hmi/tts/v5"
VIETTEL_URL = "https://viettelgroup.ai/voice/api/tts/v1/rest/syn"
VBEE_URL = "https://vbee.vn"
#: Vbee's older API requires a callback URL; Loa polls instead (a controller behind a commune's
#: NAT cannot receive callbacks), so by default it names a placeholder Vbee cannot reach.
VBEE_NO_CALLBACK = "http://127.0.0.1/loa-polls-instead"
CONNECT_TIMEOUT_S = 3.0

#: States a check reports (and an :class:`OnlineFailure` carries).
STATES = ("ready", "not_configured", "wrong_key", "out_of_quota", "unreachable", "failed")


class Secret:
    """A credential: compared and sent, never printed (``repr`` and ``str`` are masked)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The value, for a request header only."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return "Secret('••••')"

    __str__ = __repr__


def _secret(value: Secret | str) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


@dataclass(frozen=True)
class FptAccount:
    """FPT.AI TTS v5: the ``api_key`` from console.fpt.ai."""

    api_key: Secret
    url: str = FPT_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "api_key", _secret(self.api_key))


@dataclass(frozen=True)
class VbeeAccount:
    """Vbee AIVoice (the older ``/api/v1/tts`` API): the app's token (a JWT) and its id."""

    token: Secret
    app_id: str
    url: str = VBEE_URL
    callback_url: str = VBEE_NO_CALLBACK

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", _secret(self.token))


@dataclass(frozen=True)
class ViettelAccount:
    """Viettel AI TTS: the ``token`` made in the vendor's console."""

    token: Secret
    url: str = VIETTEL_URL

    def __post_init__(self) -> None:
        object.__setattr__(self, "token", _secret(self.token))


@dataclass(frozen=True)
class OnlineSettings:
    """The cloud voices' configuration, as the controller stores it. ``None`` = not set up."""

    fpt: FptAccount | None = None
    vbee: VbeeAccount | None = None
    viettel: ViettelAccount | None = None
    #: Seconds for one chunk, request to audio file (FPT.AI's docs: 5 s to 2 min, by length;
    #: Loa's chunks are at most 300 characters).
    deadline_s: float = 30.0
    #: Seconds ``auto`` skips an online engine after it failed.
    breaker_s: float = 300.0
    poll_first_s: float = 0.5
    poll_max_s: float = 4.0


#: The keys :func:`from_mapping` reads (the controller's stored settings use the same names).
SETTING_KEYS = (
    "fpt_api_key",
    "fpt_url",
    "vbee_token",
    "vbee_app_id",
    "vbee_url",
    "viettel_token",
    "viettel_url",
    "deadline_s",
    "breaker_s",
)


def from_mapping(values: Mapping[str, object]) -> OnlineSettings:
    """Settings from flat values, as a controller stores them (:data:`SETTING_KEYS`; blank or
    missing = not set up). An account needs its key (Vbee: token and app id); a URL left blank
    is the vendor's own; ``deadline_s`` and ``breaker_s`` must be positive numbers."""

    def text(key: str) -> str:
        value = values.get(key)
        return str(value).strip() if value is not None else ""

    fpt = FptAccount(Secret(text("fpt_api_key")), text("fpt_url") or FPT_URL)
    vbee = VbeeAccount(
        Secret(text("vbee_token")), text("vbee_app_id"), text("vbee_url") or VBEE_URL
    )
    viettel = ViettelAccount(Secret(text("viettel_token")), text("viettel_url") or VIETTEL_URL)
    limits: dict[str, float] = {}
    for key in ("deadline_s", "breaker_s"):
        if text(key):
            number = float(text(key))
            if not number > 0:
                raise ValueError(f"{key} must be positive")
            limits[key] = number
    return OnlineSettings(
        fpt=fpt if fpt.api_key else None,
        vbee=vbee if vbee.token and vbee.app_id else None,
        viettel=viettel if viettel.token else None,
        **limits,
    )


def from_environment() -> OnlineSettings:
    """Settings from ``LOA_FPT_API_KEY``, ``LOA_FPT_URL``, ``LOA_VBEE_TOKEN``,
    ``LOA_VBEE_APP_ID``, ``LOA_VBEE_URL``, ``LOA_VIETTEL_TOKEN``, ``LOA_VIETTEL_URL``
    (``loa tts``, tests)."""
    keys = [k for k in SETTING_KEYS if not k.endswith("_s")]
    return from_mapping({key: os.environ.get(f"LOA_{key.upper()}") for key in keys})


_configured: OnlineSettings | None = None


def configure(settings: OnlineSettings | None) -> None:
    """Use ``settings`` from now on (``None``: back to the environment). Closes every breaker,
    since a new key deserves a new try."""
    global _configured
    _configured = settings
    breaker.reset()


def current() -> OnlineSettings:
    return _configured if _configured is not None else from_environment()


_budget: ContextVar[float | None] = ContextVar("loa_online_budget", default=None)


@contextmanager
def budget(seconds: float | None) -> Iterator[None]:
    """Within this block (this context), a chunk's deadline is at most ``seconds``."""
    token = _budget.set(seconds)
    try:
        yield
    finally:
        _budget.reset(token)


def deadline_s() -> float:
    """The deadline for one chunk here: the settings', or a shorter :func:`budget`."""
    configured = current().deadline_s
    tighter = _budget.get()
    return configured if tighter is None else min(configured, tighter)


# -- the breaker -------------------------------------------------------------------------------


class Breaker:
    """Per engine: open (skip it) until a time after a failure; thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._open_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.clock = clock

    def allows(self, engine: str) -> bool:
        with self._lock:
            return self._open_until.get(engine, 0.0) <= self.clock()

    def trip(self, engine: str, seconds: float | None = None) -> None:
        seconds = current().breaker_s if seconds is None else seconds
        with self._lock:
            self._open_until[engine] = self.clock() + seconds

    def close(self, engine: str) -> None:
        with self._lock:
            self._open_until.pop(engine, None)

    def reset(self) -> None:
        with self._lock:
            self._open_until.clear()

    def open_for(self, engine: str) -> float:
        """Seconds the engine is still skipped (0 when it is tried)."""
        with self._lock:
            return max(0.0, self._open_until.get(engine, 0.0) - self.clock())


breaker = Breaker()


# -- failures ----------------------------------------------------------------------------------


class OnlineFailure(AudioError):
    """An online engine failed; ``state`` says why in :data:`STATES` terms."""

    def __init__(self, engine: str, state: str, *, seconds: float | None = None) -> None:
        from audio.messages import ONLINE_STATES, engine_label

        code = "offline" if state == "unreachable" else "engine_failed"
        template = ONLINE_STATES["timeout" if seconds is not None else state]
        super().__init__(code, template.format(engine=engine_label(engine), seconds=seconds))
        self.engine = engine
        self.state = state


def state_of_http(status: int) -> str | None:
    """An HTTP status that says what is wrong by itself (None for success and the rest)."""
    if status in (401, 403):
        return "wrong_key"
    if status in (402, 429):
        return "out_of_quota"
    if status >= 500:
        return "unreachable"
    return None


_QUOTA_WORDS = ("quota", "limit", "exceed", "balance", "credit", "hết", "vượt", "không đủ")
_KEY_WORDS = ("key", "token", "auth", "unauthor", "forbidden", "xác thực")


def state_of_message(text: str) -> str:
    """A vendor's refusal (its own words) as a state: quota before key, else ``failed``."""
    lowered = text.lower()
    if any(w in lowered for w in _QUOTA_WORDS):
        return "out_of_quota"
    if any(w in lowered for w in _KEY_WORDS):
        return "wrong_key"
    return "failed"


def looks_like_audio(data: bytes) -> bool:
    """MP3 (an ID3 tag or a frame sync) or WAV (RIFF/WAVE): what the vendors deliver."""
    if data[:3] == b"ID3":
        return len(data) > 10
    if len(data) >= 4 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:
        return True
    return data[:4] == b"RIFF" and data[8:12] == b"WAVE"


# -- HTTP with a deadline ----------------------------------------------------------------------


@dataclass
class Deadline:
    """Seconds left for one chunk; every request's timeout is what is left."""

    engine: str
    seconds: float
    ends: float = field(init=False)

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.ends - time.monotonic()

    def timeout(self) -> Any:
        import httpx

        left = max(0.05, self.left())
        return httpx.Timeout(left, connect=min(CONNECT_TIMEOUT_S, left))

    def expired(self) -> OnlineFailure:
        return OnlineFailure(self.engine, "unreachable", seconds=self.seconds)

    def sleep(self, seconds: float) -> None:
        """Wait before the next poll; fail when the wait would pass the deadline."""
        if self.left() <= seconds:
            raise self.expired()
        time.sleep(seconds)


def request(client: Any, deadline: Deadline, method: str, url: str, **kwargs: Any) -> Any:
    """One HTTP request within the deadline; transport errors are ``unreachable``."""
    import httpx

    if deadline.left() <= 0:
        raise deadline.expired()
    try:
        return client.request(method, url, timeout=deadline.timeout(), **kwargs)
    except httpx.TimeoutException:
        raise deadline.expired() from None
    except httpx.HTTPError:
        raise OnlineFailure(deadline.engine, "unreachable") from None


def backoff(settings: OnlineSettings) -> Callable[[], float]:
    """Successive waits between polls: ``poll_first_s``, doubling, at most ``poll_max_s``."""
    wait = settings.poll_first_s / 2

    def next_wait() -> float:
        nonlocal wait
        wait = min(settings.poll_max_s, wait * 2)
        return wait

    return next_wait


def installed() -> bool:
    """Whether the HTTP client the cloud engines speak through is installed."""
    from importlib import metadata

    try:
        metadata.version("httpx")
    except metadata.PackageNotFoundError:
        return False
    return True


def answered(client: Any, deadline: Deadline, method: str, url: str, **kwargs: Any) -> Any:
    """A request's 200 answer. A 5xx is asked again after a growing wait while the deadline
    allows; 401/403 (``wrong_key``) and 402/429 (``out_of_quota``) raise their state; any
    other status is ``failed``."""
    wait = backoff(current())
    while True:
        response = request(client, deadline, method, url, **kwargs)
        state = state_of_http(response.status_code)
        if state == "unreachable":
            deadline.sleep(wait())
            continue
        if state is not None:
            raise OnlineFailure(deadline.engine, state)
        if response.status_code != 200:
            raise OnlineFailure(deadline.engine, "failed")
        return response


def json_object(response: Any, engine: str) -> dict[str, Any]:
    """The answer's JSON object; anything else is ``failed``."""
    try:
        reply = response.json()
    except ValueError:
        raise OnlineFailure(engine, "failed") from None
    if not isinstance(reply, dict):
        raise OnlineFailure(engine, "failed")
    return reply


def download_audio(client: Any, deadline: Deadline, url: str, settings: OnlineSettings) -> bytes:
    """GET a result link until it answers with audio: 403/404 (not there yet) and 5xx are
    polled again with back-off; an answer that is not audio is ``failed``. No credentials are
    sent to the link's host."""
    wait = backoff(settings)
    while True:
        response = request(client, deadline, "GET", url)
        if response.status_code == 200:
            if not looks_like_audio(response.content):
                raise OnlineFailure(deadline.engine, "failed")
            return bytes(response.content)
        if response.status_code in (403, 404) or response.status_code >= 500:
            deadline.sleep(wait())
            continue
        raise OnlineFailure(deadline.engine, "failed")


def client() -> Any:
    import httpx

    return httpx.Client(trust_env=True, follow_redirects=True)


@dataclass(frozen=True)
class EngineCheck:
    """What a real call to an online engine found: ``state`` in :data:`STATES` and the
    Vietnamese sentence for the voices page."""

    engine: str
    state: str
    message: str

    @property
    def ready(self) -> bool:
        return self.state == "ready"


def checked(engine: str, call: Callable[[], object]) -> EngineCheck:
    """Run one real call and report its state; ``ready`` closes the engine's breaker."""
    from audio.messages import ONLINE_STATES, engine_label

    try:
        call()
    except OnlineFailure as exc:
        return EngineCheck(engine, exc.state, exc.message)
    breaker.close(engine)
    return EngineCheck(engine, "ready", ONLINE_STATES["ready"].format(engine=engine_label(engine)))
