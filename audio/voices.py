"""Where operator-installed voice files live, and installing one.

The voices directory is ``$LOA_VOICES_DIR`` when set, else ``$XDG_DATA_HOME/loa/voices``
(``~/.local/share/loa/voices``). A voice is a pair ``NAME.onnx`` + ``NAME.onnx.json`` (a Piper
voice), named by ``NAME``.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from audio.errors import AudioError
from audio.messages import message_for

#: Inputs a Piper (VITS) voice model must take.
PIPER_INPUTS = ("input", "input_lengths", "scales")


def voices_dir() -> Path:
    env = os.environ.get("LOA_VOICES_DIR")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "loa" / "voices"


def installed_voices(directory: Path | None = None) -> list[str]:
    directory = directory or voices_dir()
    if not directory.is_dir():
        return []
    return sorted(
        p.name[: -len(".onnx")]
        for p in directory.glob("*.onnx")
        if p.with_name(p.name + ".json").is_file()
    )


def voice_files(name: str, directory: Path | None = None) -> tuple[Path, Path]:
    directory = directory or voices_dir()
    model = directory / f"{name}.onnx"
    return model, model.with_name(model.name + ".json")


def _bad(detail: str) -> AudioError:
    return AudioError("bad_voice_file", message_for("bad_voice_file", detail=detail))


def check_voice(model: Path, config: Path) -> dict[str, object]:
    """Validate a Piper voice pair; return its parsed config. Raises AudioError."""
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(f"{config.name}: {exc}") from exc
    if not isinstance(cfg, dict):
        raise _bad(f"{config.name}: không phải đối tượng JSON")
    for key in ("audio", "phoneme_id_map", "num_symbols", "num_speakers", "espeak"):
        if key not in cfg:
            raise _bad(f"{config.name}: thiếu khóa '{key}'")
    try:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise _bad(f"{model.name}: {exc}") from exc
    names = {i.name for i in session.get_inputs()}
    missing = [n for n in PIPER_INPUTS if n not in names]
    if missing:
        raise _bad(f"{model.name}: thiếu đầu vào {', '.join(missing)}")
    return cfg


def install_voice(model: Path, config: Path, directory: Path | None = None) -> str:
    """Check and copy a voice into the voices directory (atomically); return its name."""
    check_voice(model, config)
    name = model.name[: -len(".onnx")] if model.name.endswith(".onnx") else model.stem
    directory = directory or voices_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target_model, target_config = voice_files(name, directory)
    for src, dest in ((model, target_model), (config, target_config)):
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".install-")
        os.close(fd)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
    return name
