"""Controller settings: one frozen object built from the command line or the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080
    #: How nodes reach this controller for media (``{public_url}/media/{sha256}.mp3``).
    public_url: str = ""
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_username: str = "loa-controller"
    mqtt_password: str = ""
    #: A bootstrap API token made valid at start (the demo and tests use it); optional.
    api_token: str | None = None
    #: Occurrences this far ahead are delivered to nodes.
    delivery_horizon: timedelta = timedelta(hours=24)
    #: How often the database is scanned for dispatches to deliver or expire.
    tick_s: float = 2.0
    #: A ``play.now`` not acked after this many seconds is sent again to the node (0: never).
    resend_s: float = 3.0
    #: A node with no heartbeat for this many of its intervals is offline.
    missed_heartbeats: int = 3
    #: Longest announcement text, in characters.
    max_text_chars: int = 5000
    #: How long a late broadcast may still start (per item on the node).
    max_late_s: float = 30.0
    timezone: str = "Asia/Ho_Chi_Minh"
    #: Alert when a node has been offline for longer than this.
    alert_offline_minutes: float = 10.0
    #: Alert when an online node's clock is off by more than this (or not synchronised).
    alert_clock_offset_ms: float = 1000.0
    #: How often alerts are evaluated (inside the scheduler tick).
    alert_check_s: float = 10.0
    #: POST each opened/closed alert as JSON here (optional).
    alert_webhook_url: str = ""
    #: When set, ``/metrics`` asks for ``Authorization: Bearer <metrics_token>``.
    metrics_token: str = ""
    #: Addresses (or networks, ``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` are believed. Empty (the default): nobody's; the client's address
    #: is the connection's own, so a header anyone can set cannot dodge the sign-in limits.
    trusted_proxies: tuple[str, ...] = ()
    #: Hosts or networks (``127.0.0.1``, ``10.0.0.0/8``, ``radio.lan``) a stream source may point
    #: at although they are loopback, link-local or private. Empty (the default): none; a
    #: source's health check must not become a way to probe the controller's own network.
    stream_allowed_hosts: tuple[str, ...] = ()
    #: Largest request body, in bytes, except an authenticated official's audio upload (whose
    #: limit is the upload limit); larger requests get 413 before anything is parsed.
    max_body_bytes: int = 1024 * 1024
    #: Transcribe each announcement's speech in the background (the machine listening check,
    #: when viet-asr is installed); ``LOA_LISTENING_CHECK=0`` turns it off.
    listening_check: bool = True
    #: Seconds an emergency whose text has no audio yet may spend on the online voices, all
    #: of them together; past it an offline engine (Piper, espeak-ng) speaks
    #: (``controller.services.emergency_speech``).
    emergency_speech_budget_s: float = 4.0
    #: The shared secret an MQTT cluster's HTTP authentication sends to ``/broker/…``
    #: (``Authorization: Bearer <secret>``, or Basic with user ``loa-broker``). Empty (the
    #: default): those endpoints refuse everyone (docs/operations.md, "A province on an EMQX
    #: cluster").
    broker_auth_secret: str = ""
    #: Seconds a node's verified MQTT password is remembered by ``/broker/…``.
    broker_auth_cache_s: float = 300.0
    #: Failed MQTT passwords per user name and client address in a minute before ``/broker/…``
    #: refuses that bucket unchecked for the rest of the minute (per address: five times this).
    broker_auth_max_failures: int = 10
    #: CAP 1.2 out (``/cap/feed.atom``, docs/alerts.md): the ``<sender>`` of Loa's own alerts
    #: (empty: ``loa@<the commune's name, ascii>``), the announcement categories whose approved
    #: bulletins are published besides every emergency (empty: emergencies only), how long
    #: after it starts an alert is valid for subscribers (``<expires>``), and the PEM key and
    #: certificate files that sign each document (both empty: unsigned).
    cap_sender: str = ""
    cap_publish_categories: tuple[str, ...] = ()
    cap_expires_minutes: float = 60.0
    cap_signing_key_file: str = ""
    cap_signing_cert_file: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.data_dir / "loa.db"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    @property
    def tts_cache_dir(self) -> Path:
        """Synthesized speech by everything that changes it: the same text never renders twice."""
        return self.data_dir / "tts-cache"

    def __post_init__(self) -> None:
        # CAP 1.2 forbids spaces, commas and the XML-reserved < and & in <sender>; an
        # unusable one stops the controller at start instead of failing every feed request.
        if any(c in self.cap_sender for c in " ,<&\t\n"):
            raise ValueError(
                f"LOA_CAP_SENDER {self.cap_sender!r}: a CAP sender has no spaces, commas, "
                "'<' or '&' (e.g. canhbao@xa-lac-lam.gov.vn)"
            )

    @property
    def key_path(self) -> Path:
        return self.data_dir / "controller_ed25519.pem"

    @property
    def secret_path(self) -> Path:
        return self.data_dir / "session_secret"

    @property
    def base_url(self) -> str:
        return self.public_url.rstrip("/") or f"http://{self.host}:{self.port}"

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        """Defaults, then ``LOA_*`` environment variables, then explicit overrides."""
        env = os.environ
        values: dict[str, object] = {
            "data_dir": Path(env.get("LOA_DATA_DIR", "data")),
            "host": env.get("LOA_HOST", "127.0.0.1"),
            "port": int(env.get("LOA_PORT", "8080")),
            "public_url": env.get("LOA_PUBLIC_URL", ""),
            "mqtt_url": env.get("LOA_MQTT_URL", "mqtt://127.0.0.1:1883"),
            "mqtt_username": env.get("LOA_MQTT_USERNAME", "loa-controller"),
            "mqtt_password": env.get("LOA_MQTT_PASSWORD", ""),
            "api_token": env.get("LOA_API_TOKEN") or None,
            "alert_offline_minutes": float(env.get("LOA_ALERT_OFFLINE_MINUTES", "10")),
            "alert_clock_offset_ms": float(env.get("LOA_ALERT_CLOCK_OFFSET_MS", "1000")),
            "alert_webhook_url": env.get("LOA_ALERT_WEBHOOK_URL", ""),
            "metrics_token": env.get("LOA_METRICS_TOKEN", ""),
            "trusted_proxies": tuple(
                p.strip() for p in env.get("LOA_TRUSTED_PROXIES", "").split(",") if p.strip()
            ),
            "listening_check": env.get("LOA_LISTENING_CHECK", "1") not in ("0", "false", "no"),
            "resend_s": float(env.get("LOA_RESEND_S", "3")),
            "emergency_speech_budget_s": float(env.get("LOA_EMERGENCY_SPEECH_BUDGET_S", "4")),
            "broker_auth_secret": env.get("LOA_BROKER_AUTH_SECRET", ""),
            "broker_auth_cache_s": float(env.get("LOA_BROKER_AUTH_CACHE_S", "300")),
            "broker_auth_max_failures": int(env.get("LOA_BROKER_AUTH_MAX_FAILURES", "10")),
            "stream_allowed_hosts": tuple(
                h.strip() for h in env.get("LOA_STREAM_ALLOWED_HOSTS", "").split(",") if h.strip()
            ),
            "cap_sender": env.get("LOA_CAP_SENDER", ""),
            "cap_publish_categories": tuple(
                c.strip() for c in env.get("LOA_CAP_PUBLISH_CATEGORIES", "").split(",") if c.strip()
            ),
            "cap_expires_minutes": float(env.get("LOA_CAP_EXPIRES_MINUTES", "60")),
            "cap_signing_key_file": env.get("LOA_CAP_SIGNING_KEY_FILE", ""),
            "cap_signing_cert_file": env.get("LOA_CAP_SIGNING_CERT_FILE", ""),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        values["data_dir"] = Path(str(values["data_dir"]))
        return cls(**values)  # type: ignore[arg-type]
