"""Vietnamese text → speech for Loa: normalization, engines, post-processing, media store."""

from __future__ import annotations

from audio.errors import AudioError

__all__ = [
    "AudioError",
    "RenderedAudio",
    "VoiceSettings",
    "normalize",
    "render_text",
    "render_upload",
]


def __getattr__(name: str) -> object:
    # render pulls in numpy, normalize sea-g2p: keep `import audio` light for the CLI and the node.
    if name == "normalize":
        from audio.normalize import normalize

        return normalize
    if name in {"RenderedAudio", "VoiceSettings", "render_text", "render_upload"}:
        from audio import render

        return getattr(render, name)
    raise AttributeError(name)
