"""Request bodies of the REST API (controller/api/): what each route accepts,
field by field. They hold no route, so a page may check a form with the same model."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool

import schedules
from controller.domain import announcements, broadcasts, provisioning, voices
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


def _json_number(value: Any) -> Any:
    """JSON's numbers only: ``true`` is not 1 and ``"3"`` is not 3 (pydantic's lax mode takes
    both, a request the document calls invalid). ``3.0`` is the integer 3, as in JSON Schema."""
    if isinstance(value, (bool, str, bytes)):
        raise ValueError("a JSON number is expected")
    return value


#: The request bodies' scalar types, as strict as the document (issue 19): no handler coerces.
Int = Annotated[int, BeforeValidator(_json_number)]
Number = Annotated[float, BeforeValidator(_json_number)]
Bool = StrictBool

#: The characters a join code's name makes a node id from (``join.slug``: letters and digits,
#: with or without Vietnamese marks, đ). Kept equal to ``slug`` by tests/controller/
#: test_openapi_contract.py, which derives it over every code point.
SLUG_CHARACTERS = (
    "0-9A-Za-z\u00c0-\u00c5\u00c7-\u00cf\u00d1-\u00d6\u00d9-\u00dd\u00e0-\u00e5"
    "\u00e7-\u00ef\u00f1-\u00f6\u00f9-\u00fd\u00ff-\u0125\u0128-\u0130\u0134-\u0137"
    "\u0139-\u013e\u0143-\u0148\u014c-\u0151\u0154-\u0165\u0168-\u017e\u01a0-\u01a1"
    "\u01af-\u01b0\u01cd-\u01dc\u01de-\u01e1\u01e6-\u01ed\u01f0\u01f4-\u01f5"
    "\u01f8-\u01fb\u0200-\u021b\u021e-\u021f\u0226-\u0233\u1e00-\u1e99\u1ea0-\u1ef9"
    "\u212a-\u212b"
)


def documented(**schema: Any) -> dict[str, Any]:
    """A field's constraints for the document only (``json_schema_extra``): the rule that
    enforces them answers its own code."""
    return schema


class AnnouncementIn(_Request):
    title: str = Field(
        max_length=10_000, json_schema_extra=documented(pattern=WORDS, maxLength=200)
    )
    text: str = Field(max_length=1_000_000, json_schema_extra=documented(pattern=TEXT))
    category: str = Field(
        default="thong_bao", json_schema_extra=documented(enum=list(announcements.CATEGORIES))
    )
    priority: Priority = "normal"
    #: Submit for approval at once (status pending) instead of keeping a draft.
    submit: Bool = False
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
    speech_rate: Annotated[int, Field(ge=60, le=400), BeforeValidator(_json_number)] | None = Field(
        default=None, description="words per minute; null: the engine's default"
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
    weekdays: list[Int] = Field(default_factory=list, description="0 = Monday … 6 = Sunday")
    month_days: list[Int] = Field(default_factory=list, description="1..31, or -1 for the last")


class BroadcastIn(_Request):
    announcement_id: Int
    zone_ids: list[Int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    starts_at: datetime | None = Field(
        default=None, description="one-off: ISO 8601 with a UTC offset"
    )
    rrule: str | None = Field(default=None, max_length=2000, description="RFC 5545 text")
    rule: RuleIn | None = None
    priority: Priority | None = None
    repeats: Int = Field(default=1, ge=1, le=10)
    repeat_gap_s: Number = Field(default=3.0, ge=0, le=600)
    accept_conflicts: Bool = False

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
    zone_ids: list[Int] = Field(max_length=1000, json_schema_extra=documented(minItems=1))
    repeats: Int = Field(default=2, ge=1, le=10)


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
    zone_id: Int | None = None


class UserChange(_Request):
    role: str | None = Field(default=None, json_schema_extra=documented(enum=[*ROLES, None]))
    zone_id: Int | None = None
    display_name: str | None = Field(default=None, max_length=200)
    password: str | None = Field(
        default=None, max_length=200, json_schema_extra=documented(minLength=10)
    )
    disabled: Bool | None = None


class TokenIn(_Request):
    name: str = Field(min_length=1, max_length=100)
    #: The user the token acts as (role and area); none: an integration with ``role``.
    user_id: Int | None = None
    role: str = Field(default="viewer", json_schema_extra=documented(enum=list(ROLES)))


# --- nodes, join codes, cloud voices' accounts -------------------------------------------------


class NodeIn(_Request):
    """A node's position: ``lat`` and ``lon`` both or neither (``bad_coordinates``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["lat", "lon"],
                    "properties": {"lat": {"type": "number"}, "lon": {"type": "number"}},
                },
                {"properties": {"lat": {"type": "null"}, "lon": {"type": "null"}}},
            ]
        }
    )
    id: str = Field(
        max_length=200,
        description="lower-case letters, digits, hyphens: lac-xuan-1",
        json_schema_extra=documented(pattern=provisioning.NODE_ID.pattern),
    )
    zone_id: Int
    name: str = Field(default="", max_length=provisioning.MAX_NAME)
    lat: Number | None = Field(default=None, json_schema_extra=documented(minimum=-90, maximum=90))
    lon: Number | None = Field(
        default=None, json_schema_extra=documented(minimum=-180, maximum=180)
    )


class JoinCodeIn(_Request):
    """Without ``id`` (or with a blank one) the node id is made from ``name``, which must then
    hold a letter or digit (``bad_node_id``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["id"], "properties": {"id": {"type": "string", "pattern": r"\S"}}},
                {"properties": {"name": {"pattern": f"[{SLUG_CHARACTERS}]"}}},
            ]
        }
    )
    name: str = Field(
        min_length=1, max_length=provisioning.MAX_NAME, json_schema_extra=documented(pattern=r"\S")
    )
    zone_id: Int
    id: str | None = Field(
        default=None,
        max_length=200,
        description="the node id; default: made from the name",
        json_schema_extra=documented(pattern=r"^\s*([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?\s*$"),
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
