"""Local rules that hold whatever the controller sends: quiet hours (only emergency may play)
and a cap on minutes of non-emergency audio per hour. Plain functions over plain settings."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta, timezone, tzinfo
from typing import Any

from node_agent.config import Config


def load_tz(name: str) -> tzinfo:
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:  # no tz database on a minimal image: Vietnam has no DST
        return timezone(timedelta(hours=7), "ICT")


@dataclass(frozen=True)
class Settings:
    """The effective settings: the config file, overridden by ``node.config`` (persisted)."""

    volume: int | None = None
    warmup_s: float = 2.0
    hold_s: float = 5.0
    heartbeat_s: float = 30.0
    quiet_hours: tuple[str, str] | None = None
    max_minutes_per_hour: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: Config, overrides: dict[str, Any]) -> Settings:
        quiet = None
        if cfg.limits.quiet_start and cfg.limits.quiet_end:
            quiet = (cfg.limits.quiet_start, cfg.limits.quiet_end)
        base = cls(
            volume=cfg.player.volume,
            warmup_s=cfg.amplifier.warmup_s,
            hold_s=cfg.amplifier.hold_s,
            heartbeat_s=cfg.heartbeat_s,
            quiet_hours=quiet,
            max_minutes_per_hour=cfg.limits.max_minutes_per_hour,
        )
        return base.updated(overrides)

    def updated(self, values: dict[str, Any]) -> Settings:
        changes: dict[str, Any] = {}
        for key, value in values.items():
            if key == "quiet_hours":
                changes[key] = (value["start"], value["end"]) if value else None
            elif key == "max_minutes_per_hour":
                changes[key] = float(value or 0.0)
            elif key in ("volume", "warmup_s", "hold_s", "heartbeat_s") and value is not None:
                changes[key] = value
        return replace(self, **changes)


def _hhmm(text: str) -> time:
    h, m = text.split(":")
    return time(int(h) % 24, int(m))


def in_quiet_hours(quiet: tuple[str, str] | None, when: float, tz: tzinfo) -> bool:
    """True when local time ``when`` falls in [start, end) (a window may cross midnight)."""
    if quiet is None:
        return False
    start, end = _hhmm(quiet[0]), _hhmm(quiet[1])
    if start == end:
        return False
    now = datetime.fromtimestamp(when, tz).time()
    if start < end:
        return start <= now < end
    return now >= start or now < end


def over_hourly_limit(limit_minutes: float, played_last_hour_s: float, wanted_s: float) -> bool:
    """Would playing ``wanted_s`` more seconds exceed the cap? A limit of 0 means none."""
    if limit_minutes <= 0:
        return False
    return played_last_hour_s + wanted_s > limit_minutes * 60 + 0.05
