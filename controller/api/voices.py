"""The cloud voices' accounts (``/api/v1/voices``), administrators only: each engine's fields
(a key only as set or not, never its value) and its state from a real check; setting an
engine's fields (``controller/domain/voices.py`` holds the rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from controller.api.deps import Official
from controller.api.models import VoiceAccountIn
from controller.domain import authz, voices
from controller.services.runtime import Runtime

router = APIRouter(prefix="/api/v1", tags=["voices"])


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
