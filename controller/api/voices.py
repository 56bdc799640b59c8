"""The cloud voices' accounts (``/api/v1/voices``), administrators only: each engine's fields
(a key only as set or not, never its value) and its state from a real check; setting an
engine's fields (``controller/domain/voices.py`` holds the rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import Official
from controller.domain import authz, voices
from controller.services.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["voices"])


class VoiceAccountIn(BaseModel):
    """An engine's fields: a value replaces, ``""`` clears, absent or ``null`` keeps. Only the
    engine's own fields (FPT.AI: ``fpt_api_key``, ``fpt_url``; Vbee: ``vbee_token``,
    ``vbee_app_id``, ``vbee_url``; Viettel AI: ``viettel_token``, ``viettel_url``)."""

    model_config = ConfigDict(extra="forbid")

    fpt_api_key: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    fpt_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_token: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_app_id: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    vbee_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    viettel_token: str | None = Field(default=None, max_length=voices.MAX_VALUE)
    viettel_url: str | None = Field(default=None, max_length=voices.MAX_VALUE)


@router.get("/voices")
def list_voices(request: Request, who: Official) -> dict[str, Any]:
    """The cloud engines, each with its fields and its state from a real check (a plain
    ``def``: FastAPI runs it in a worker thread, off the event loop)."""
    authz.require(who, "voices.manage")
    rt: Runtime = request.app.state.runtime
    return {"engines": voices.engines(rt.store.db)}


@router.put("/voices/{engine}")
def set_voice_account(
    engine: str, body: VoiceAccountIn, request: Request, who: Official
) -> dict[str, Any]:
    """Set an engine's fields; the answer is the engine as ``GET /voices`` shows it, with
    ``changed`` (the fields' names)."""
    authz.require(who, "voices.manage")
    rt: Runtime = request.app.state.runtime
    changes = body.model_dump(exclude_unset=True)
    ip = request.client.host if request.client else None
    changed = voices.save(rt.store, who, engine, changes, ip)
    return {**voices.engines(rt.store.db, (engine,))[0], "changed": changed}
