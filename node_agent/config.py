"""The agent's TOML configuration file (documented in docs/node.md)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

#: The protocol's node id (loa.protocol.NodeId): also the MQTT client id and user name.
NODE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
PLAYER_BACKENDS = ("auto", "file", "aplay", "mpg123", "ffplay")


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MqttConfig:
    url: str = "mqtt://127.0.0.1:1883"
    username: str = ""
    password: str = ""
    ca_file: str = ""
    keepalive_s: int = 30
    #: Reconnect backoff: first delay, cap (seconds); each delay gets up to 50 % random jitter.
    backoff_min_s: float = 1.0
    backoff_max_s: float = 60.0

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme in ("mqtts", "ssl", "tls")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or (8883 if self.tls else 1883)


@dataclass(frozen=True)
class HttpConfig:
    token: str = ""
    #: Joined with a relative content URL (``/media/…``); absolute URLs are used as they are.
    base_url: str = ""
    timeout_s: float = 20.0
    retry_min_s: float = 1.0
    retry_max_s: float = 60.0


@dataclass(frozen=True)
class PlayerConfig:
    backend: str = "auto"
    sink_path: str = "plays.jsonl"
    #: ALSA device for aplay/mpg123 ("" = the default device).
    device: str = ""
    #: ALSA mixer control that ``volume`` sets with amixer; "" disables the mixer.
    mixer_control: str = "Master"
    mixer_card: str = ""
    volume: int | None = None
    #: SCHED_FIFO priority (1-99) asked for the threads that start plays; 0 = normal
    #: scheduling. Refused without the right (systemd: LimitRTPRIO=), then a nice of -5 is
    #: tried, then nothing.
    rt_priority: int = 10


@dataclass(frozen=True)
class AmplifierConfig:
    gpio_pin: int | None = None
    warmup_s: float = 2.0
    hold_s: float = 5.0
    active_high: bool = True


@dataclass(frozen=True)
class CacheConfig:
    max_mb: float = 512.0


@dataclass(frozen=True)
class LimitsConfig:
    #: Local time "HH:MM"; between start and end only emergency plays. Empty: no quiet hours.
    quiet_start: str = ""
    quiet_end: str = ""
    #: No more than this many minutes of non-emergency audio in any hour (0 = no limit).
    max_minutes_per_hour: float = 0.0


@dataclass(frozen=True)
class Config:
    node_id: str
    data_dir: Path
    controller_public_key: str
    heartbeat_s: float = 30.0
    timezone: str = "Asia/Ho_Chi_Minh"
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    player: PlayerConfig = field(default_factory=PlayerConfig)
    amplifier: AmplifierConfig = field(default_factory=AmplifierConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

    @property
    def username(self) -> str:
        return self.mqtt.username or self.node_id

    @property
    def sink_file(self) -> Path:
        return self.data_dir / self.player.sink_path

    @property
    def db_file(self) -> Path:
        return self.data_dir / "node.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"


def _section(cls: type, data: Any, name: str) -> Any:
    if data is None:
        return cls()
    if not isinstance(data, dict):
        raise ConfigError(f"[{name}] must be a table")
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"[{name}]: unknown key(s) {', '.join(sorted(unknown))}")
    return cls(**data)


def config_from_dict(data: dict[str, Any], base_dir: Path | None = None) -> Config:
    """Build a Config; a relative ``data_dir`` is taken relative to ``base_dir``."""
    data = dict(data)
    for key in ("node_id", "data_dir", "controller_public_key"):
        if not data.get(key):
            raise ConfigError(f"{key} is required")
    sections = {
        "mqtt": MqttConfig,
        "http": HttpConfig,
        "player": PlayerConfig,
        "amplifier": AmplifierConfig,
        "cache": CacheConfig,
        "limits": LimitsConfig,
    }
    built = {name: _section(cls, data.pop(name, None), name) for name, cls in sections.items()}
    data_dir = Path(str(data.pop("data_dir"))).expanduser()
    if not data_dir.is_absolute() and base_dir is not None:
        data_dir = base_dir / data_dir
    known = {"node_id", "controller_public_key", "heartbeat_s", "timezone"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(sorted(unknown))}")
    cfg = Config(data_dir=data_dir, **data, **built)
    if not NODE_ID_RE.match(cfg.node_id):
        raise ConfigError(f"node_id {cfg.node_id!r}: lower-case letters, digits, - and _ only")
    if cfg.player.backend not in PLAYER_BACKENDS:
        raise ConfigError(f"player.backend must be one of {', '.join(PLAYER_BACKENDS)}")
    if not isinstance(cfg.player.rt_priority, int) or not 0 <= cfg.player.rt_priority <= 99:
        raise ConfigError("player.rt_priority must be an integer from 0 to 99")
    if urlsplit(cfg.mqtt.url).scheme not in ("mqtt", "tcp", "mqtts", "ssl", "tls"):
        raise ConfigError(f"mqtt.url: unsupported scheme in {cfg.mqtt.url!r}")
    return cfg


def load_config(path: Path) -> Config:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    try:
        return config_from_dict(data, base_dir=path.parent.resolve())
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
