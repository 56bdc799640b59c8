"""Request bodies of the REST API (controller/api/): what each route accepts,
field by field. They hold no route, so a page may check a form with the same model."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

import schedules
from controller.domain import broadcasts, provisioning, voices
from controller.domain.users import ROLES
from loa.protocol import Priority


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# What the domain's rules refuse, said in the OpenAPI document (issue 19) but checked by the
# rules themselves, so a refusal keeps its stable code (empty_title, control_characters,
# no_zones, bad_role, bad_node_id, …) instead of a generic invalid_request.
_BAD = r"\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
_INVISIBLE = r"\s\u00ad\u200b-\u200f\u2060-\u2065\ufeff"
#: People's words on one line (announcements.clean_words): no control character, something
#: visible.
WORDS = f"^[^{_BAD}]*[^{_BAD}{_INVISIBLE}][^{_BAD}]*$"
#: An announcement's text: as WORDS, and line breaks and tabs.
_BAD_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
TEXT = f"^[^{_BAD_TEXT}]*[^{_BAD_TEXT}{_INVISIBLE}][^{_BAD_TEXT}]*$"
#: Optional words (empty allowed): no control character.
OPTIONAL_WORDS = f"^[^{_BAD}]*$"


def documented(**schema: Any) -> dict[str, Any]:
    """A field's constraints for the document only (``json_schema_extra``): the rule that
    enforces them answers its own code."""
    return schema


class AnnouncementIn(_Request):
    title: str = Field(
        max_length=10_000, json_schema_extra=documented(pattern=WORDS, maxLength=200)
    )
    text: str = Field(max_length=1_000_000, json_schema_extra=documented(pattern=TEXT))
    category: str = "thong_bao"
    priority: Priority = "normal"
    #: Submit for approval at once (status pending) instead of keeping a draft.
    submit: bool = False
    #: The voice the text is spoken with, now and whenever it is rendered again. On PUT a field
    #: left out keeps its stored value.
    speech_engine: Literal[
        "auto", "espeak-ng", "piper", "gtts", "fpt", "vbee", "viettel", "giong-xa"
    ] = Field(
        default="auto",
        description="auto: the controller's engine order (docs/audio.md); fpt, vbee, viettel: "
        "the cloud voices, once an admin set their accounts (GET /api/v1/voices)",
    )
    speech_voice: str | None = Field(
        default=None,
        max_length=100,
        description="one of the engine's voices (audio.engines.catalog); null: its default",
    )
    speech_rate: int | None = Field(
        default=None, ge=60, le=400, description="words per minute; null: the engine's default"
    )

    def speech_changes(self) -> dict[str, Any]:
        """The voice fields this request sent, keyed as ``announcements.Speech``'s fields."""
        return {
            name.removeprefix("speech_"): getattr(self, name)
            for name in ("speech_engine", "speech_voice", "speech_rate")
            if name in self.model_fields_set
        }


class ReviewIn(_Request):
    comment: str = Field(
        default="", max_length=2000, json_schema_extra=documented(pattern=OPTIONAL_WORDS)
    )


class RejectIn(ReviewIn):
    """A rejection says why: ``comment`` is required (``comment_required``)."""

    model_config = ConfigDict(json_schema_extra={"required": ["comment"]})
    comment: str = Field(default="", max_length=2000, json_schema_extra=documented(pattern=TEXT))


class RuleIn(_Request):
    """The rule builder's choices (local times in Asia/Ho_Chi_Minh)."""

    frequency: Literal["daily", "weekdays", "weekly", "monthly"]
    times: list[time] = Field(min_length=1, max_length=24)
    valid_from: date
    valid_until: date | None = None
    weekdays: list[int] = Field(default_factory=list, description="0 = Monday … 6 = Sunday")
    month_days: list[int] = Field(default_factory=list, description="1..31, or -1 for the last")


class BroadcastIn(_Request):
    announcement_id: int
    zone_ids: list[int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    starts_at: datetime | None = Field(
        default=None, description="one-off: ISO 8601 with a UTC offset"
    )
    rrule: str | None = Field(default=None, max_length=2000, description="RFC 5545 text")
    rule: RuleIn | None = None
    priority: Priority | None = None
    repeats: int = Field(default=1, ge=1, le=10)
    repeat_gap_s: float = Field(default=3.0, ge=0, le=600)
    accept_conflicts: bool = False

    def request(self) -> broadcasts.BroadcastRequest:
        rule = None
        if self.rule is not None:
            rule = schedules.RuleSpec(
                frequency=self.rule.frequency,
                times=tuple(self.rule.times),
                valid_from=self.rule.valid_from,
                valid_until=self.rule.valid_until,
                weekdays=tuple(self.rule.weekdays),
                month_days=tuple(self.rule.month_days),
            )
        return broadcasts.BroadcastRequest(
            announcement_id=self.announcement_id,
            zone_ids=self.zone_ids,
            starts_at=self.starts_at,
            rrule=self.rrule,
            rule=rule,
            priority=self.priority,
            repeats=self.repeats,
            repeat_gap_s=self.repeat_gap_s,
            accept_conflicts=self.accept_conflicts,
        )


class EmergencyIn(_Request):
    title: str = Field(
        max_length=10_000, json_schema_extra=documented(pattern=WORDS, maxLength=200)
    )
    text: str = Field(max_length=1_000_000, json_schema_extra=documented(pattern=TEXT))
    zone_ids: list[int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    repeats: int = Field(default=2, ge=1, le=10)


class CancelIn(_Request):
    """Cancelling a broadcast (or stopping an emergency): the body is optional."""

    reason: str | None = Field(
        default=None,
        max_length=2000,
        description="why it is cancelled, kept in the audit entry (at most 500 characters)",
        json_schema_extra=documented(maxLength=broadcasts.MAX_REASON_CHARS, pattern=OPTIONAL_WORDS),
    )


class UserIn(_Request):
    username: str = Field(min_length=2, max_length=64, pattern=r"^[a-zA-Z0-9._-]+$")
    password: str = Field(max_length=200, json_schema_extra=documented(minLength=10))
    role: str = Field(json_schema_extra=documented(enum=list(ROLES)))
    display_name: str = Field(default="", max_length=200)
    zone_id: int | None = None


class UserChange(_Request):
    role: str | None = Field(default=None, json_schema_extra=documented(enum=[*ROLES, None]))
    zone_id: int | None = None
    display_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(
        default=None, max_length=200, json_schema_extra=documented(minLength=10)
    )
    disabled: bool | None = None


class TokenIn(_Request):
    name: str = Field(min_length=1, max_length=100)
    #: The user the token acts as (role and area); none: an integration with ``role``.
    user_id: int | None = None
    role: str = Field(default="viewer", json_schema_extra=documented(enum=list(ROLES)))


# --- nodes, join codes, cloud voices' accounts -------------------------------------------------


class NodeIn(_Request):
    id: str = Field(
        max_length=200,
        description="lower-case letters, digits, hyphens: lac-xuan-1",
        json_schema_extra=documented(pattern=provisioning.NODE_ID.pattern),
    )
    zone_id: int
    name: str = Field(default="", max_length=provisioning.MAX_NAME)
    lat: float | None = None
    lon: float | None = None


class JoinCodeIn(_Request):
    name: str = Field(min_length=1, max_length=provisioning.MAX_NAME)
    zone_id: int
    id: str | None = Field(
        default=None, max_length=200, description="the node id; default: made from the name"
    )


class RedeemIn(_Request):
    code: str = Field(max_length=100)


class VoiceAccountIn(_Request):
    """An engine's fields: a value replaces, ``""`` clears, absent or ``null`` keeps. Only the
    engine's own fields (FPT.AI: ``fpt_api_key``, ``fpt_url``; Vbee: ``vbee_token``,
    ``vbee_app_id``, ``vbee_url``; Viettel AI: ``viettel_token``, ``viettel_url``)."""

    fpt_api_key: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    fpt_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_token: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_app_id: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    viettel_token: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    viettel_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)
