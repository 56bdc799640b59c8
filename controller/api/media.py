"""Media for nodes (with their own token) and officials at /media/{sha256}.mp3."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from controller.api.deps import require_media_reader
from controller.api.deps import runtime_of as runtime
from controller.core.errors import ApiError
from controller.domain.identity import Identity

router = APIRouter()

_SHA = re.compile(r"^[0-9a-f]{64}$")


@router.get("/media/{sha256}.mp3", response_class=FileResponse, tags=["media"])
def get_media(
    sha256: str, request: Request, who: Annotated[Identity, Depends(require_media_reader)]
) -> FileResponse:
    path = runtime(request).settings.media_dir / f"{sha256}.mp3"
    if not _SHA.match(sha256) or not path.is_file():
        raise ApiError(404, "media_not_found")
    return FileResponse(path, media_type="audio/mpeg", headers={"Cache-Control": "private"})
