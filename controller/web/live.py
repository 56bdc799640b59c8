"""The live page (phát trực tiếp): speak from the browser's microphone to chosen zones.

It extends the common layout (``base.html``) and calls the JSON API (``POST /api/v1/live``,
the WebSocket, ``…/stop``) with the signed-in session, shows the microphone level, and keeps the
capture times it saw (for latency tests). Kiosks and tests may open it with a bearer token
(``Authorization`` header, and ``window.LOA_TOKEN`` for the API calls).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from controller.api.deps import official
from controller.domain import authz, zones
from controller.web.common import forbidden, render

router = APIRouter()


@router.get("/live", response_class=HTMLResponse, include_in_schema=False)
def live_page(request: Request) -> Response:
    who = official(request)
    if who is None:
        return RedirectResponse("/login", status_code=303)
    if not authz.can(who, "broadcast.live"):
        return forbidden(request, who)
    db = request.app.state.runtime.store.db
    allowed = authz.area(db, who)
    zone_rows = [z for z in zones.zone_tree(db) if allowed is None or z["id"] in allowed]
    return render(request, "live.html", who, zones=zone_rows)
