"""The live page (phát trực tiếp): speak from the browser's microphone to chosen zones.

A page of its own (template ``live.html``) so it can move into the rebuilt web UI unchanged: it
calls the JSON API (``POST /api/v1/live``, the WebSocket, ``…/stop``) with the signed-in
session, shows the microphone level, and keeps the capture times it saw (for latency tests).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from controller import authz, zones
from controller.auth import official

router = APIRouter()
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request) -> Response:
    who = official(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    db = request.app.state.runtime.store.db
    allowed = authz.area(db, who)
    zone_rows = [z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed]
    return _templates.TemplateResponse(
        request,
        "live.html",
        {
            "who": who,
            "allowed": authz.can(who, "broadcast.live"),
            "zones": zone_rows,
        },
    )
