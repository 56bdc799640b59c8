"""The voices as officials know them, where installed voice files live, and installing one.

- :data:`CLOUD_VOICES`: the online engines' voices with the speaker's name, gender and region;
  :func:`voice_label` names any voice for the picker ("Ban Mai — nữ miền Bắc (FPT.AI)").
- The voices directory is ``$LOA_VOICES_DIR`` when set, else ``$XDG_DATA_HOME/loa/voices``
  (``~/.local/share/loa/voices``). A voice is a pair ``NAME.onnx`` + ``NAME.onnx.json`` (a Piper
  voice), named by ``NAME``. :func:`install_voice` installs a pair of local files,
  :func:`install_from_catalog` a Vietnamese voice of Piper's catalogue by name.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from audio.errors import AudioError

#: Inputs a Piper (VITS) voice model must take.
PIPER_INPUTS = ("input", "input_lengths", "scales")

#: How the engines are named inside a voice's label.
ENGINE_SHORT_NAMES = {
    "fpt": "FPT.AI",
    "vbee": "Vbee",
    "viettel": "Viettel AI",
    "piper": "Piper",
    "espeak-ng": "eSpeak NG",
}


@dataclass(frozen=True)
class VoiceInfo:
    engine: str
    voice: str  # the vendor's code, as sent to it
    speaker: str  # the name the vendor gives the voice
    gender: str  # "nam" | "nữ"
    region: str  # "Bắc" | "Trung" | "Nam"
    place: str = ""  # a city when the vendor names one (Huế)

    def label(self) -> str:
        where = f"miền {self.region}" + (f", {self.place}" if self.place else "")
        return f"{self.speaker} — {self.gender} {where} ({ENGINE_SHORT_NAMES[self.engine]})"


#: The online engines' voices, from the vendors' docs (FPT.AI: "banmai (female northern)" …;
#: Vbee: "HN - Ngọc Huyền", "SG - …", "Huế - …" with the gender in the code; Viettel AI:
#: "doanngocle: Nữ miền Bắc" …).
CLOUD_VOICES: tuple[VoiceInfo, ...] = (
    VoiceInfo("fpt", "banmai", "Ban Mai", "nữ", "Bắc"),
    VoiceInfo("fpt", "thuminh", "Thu Minh", "nữ", "Bắc"),
    VoiceInfo("fpt", "leminh", "Lê Minh", "nam", "Bắc"),
    VoiceInfo("fpt", "myan", "Mỹ An", "nữ", "Trung"),
    VoiceInfo("fpt", "giahuy", "Gia Huy", "nam", "Trung"),
    VoiceInfo("fpt", "lannhi", "Lan Nhi", "nữ", "Nam"),
    VoiceInfo("fpt", "linhsan", "Linh San", "nữ", "Nam"),
    VoiceInfo("vbee", "hn_female_ngochuyen_full_48k-fhg", "Ngọc Huyền", "nữ", "Bắc"),
    VoiceInfo("vbee", "hn_female_maiphuong_vdts_48k-fhg", "Mai Phương", "nữ", "Bắc"),
    VoiceInfo("vbee", "hn_male_manhdung_news_48k-fhg", "Mạnh Dũng", "nam", "Bắc"),
    VoiceInfo("vbee", "hn_male_thanhlong_talk_48k-fhg", "Thanh Long", "nam", "Bắc"),
    VoiceInfo("vbee", "sg_female_thaotrinh_full_48k-fhg", "Thảo Trinh", "nữ", "Nam"),
    VoiceInfo("vbee", "sg_female_lantrinh_vdts_48k-fhg", "Lan Trinh", "nữ", "Nam"),
    VoiceInfo("vbee", "sg_male_minhhoang_full_48k-fhg", "Minh Hoàng", "nam", "Nam"),
    VoiceInfo("vbee", "sg_male_trungkien_vdts_48k-fhg", "Trung Kiên", "nam", "Nam"),
    VoiceInfo("vbee", "hue_female_huonggiang_full_48k-fhg", "Hương Giang", "nữ", "Trung", "Huế"),
    VoiceInfo("vbee", "hue_male_duyphuong_full_48k-fhg", "Duy Phương", "nam", "Trung", "Huế"),
    # Viettel AI documents region and gender per code; the names are spelled from the codes
    VoiceInfo("viettel", "hn-quynhanh", "Quỳnh Anh", "nữ", "Bắc"),
    VoiceInfo("viettel", "doanngocle", "Đoàn Ngọc Lê", "nữ", "Bắc"),
    VoiceInfo("viettel", "trinhthiviettrinh", "Trịnh Thị Việt Trinh", "nữ", "Bắc"),
    VoiceInfo("viettel", "phamtienquan", "Phạm Tiến Quân", "nam", "Bắc"),
    VoiceInfo("viettel", "hue-maingoc", "Mai Ngọc", "nữ", "Trung", "Huế"),
    VoiceInfo("viettel", "hue-baoquoc", "Bảo Quốc", "nam", "Trung", "Huế"),
    VoiceInfo("viettel", "lethiyen", "Lê Thị Yến", "nữ", "Nam"),
    VoiceInfo("viettel", "nguyenthithuyduyen", "Nguyễn Thị Thùy Duyên", "nữ", "Nam"),
    VoiceInfo("viettel", "hcm-minhquan", "Minh Quân", "nam", "Nam"),
)


def voice_label(engine: str, voice: str) -> str:
    """The picker's name for a voice: speaker, gender, region and engine for the cloud voices;
    espeak-ng's regional labels; an installed Piper voice by its name and engine; gTTS's one
    voice as Google's (not espeak-ng's male "vi")."""
    from audio.messages import VOICE_LABELS

    for info in CLOUD_VOICES:
        if info.engine == engine and info.voice == voice:
            return info.label()
    if engine == "piper":
        return f"{voice} ({ENGINE_SHORT_NAMES['piper']})"
    if engine == "gtts":
        return "Giọng Google"
    return VOICE_LABELS.get(voice, voice)


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
    from audio.messages import message_for

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


# -- Piper's voice catalogue -------------------------------------------------------------------

#: Piper's voice catalogue (the rhasspy/piper-voices repository at its v1.0.0 tag): a
#: ``voices.json`` naming every voice with its language and files (path, ``size_bytes``,
#: ``md5_digest``), the files under the same base. ``$LOA_PIPER_CATALOG_URL`` overrides it (a
#: mirror inside the commune's network; the tests' local fake).
CATALOG_URL = "https://huggingface.co/rhasspy/piper-voices/resolve/v1.0.0/"

#: The Vietnamese voices of the catalogue and their training data's licence (each voice's
#: MODEL_CARD; the models themselves are MIT, as the repository is).
VIETNAMESE_CATALOG: dict[str, str] = {
    "vi_VN-vais1000-medium": "CC BY 4.0 (VAIS-1000 corpus)",
    "vi_VN-25hours_single-low": "unknown (InfoRe 25 hours corpus): ask before commercial use",
    "vi_VN-vivos-x_low": "CC BY-NC-SA 4.0 (VIVOS corpus): non-commercial only",
}

_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
DOWNLOAD_TIMEOUT_S = 60.0


def catalog_url() -> str:
    url = os.environ.get("LOA_PIPER_CATALOG_URL") or CATALOG_URL
    return url if url.endswith("/") else url + "/"


def _catalog_error(code: str, **params: object) -> AudioError:
    from audio.messages import message_for

    return AudioError(code, message_for(code, **params))


def _fetch_catalog(client: object, base: str, name: str) -> dict[str, object]:
    import httpx

    assert isinstance(client, httpx.Client)
    try:
        response = client.get(base + "voices.json")
        response.raise_for_status()
        voices = response.json()
    except (httpx.HTTPError, ValueError):
        raise _catalog_error("voice_download_failed", voice=name, url=base) from None
    entry = voices.get(name) if isinstance(voices, dict) else None
    if not isinstance(entry, dict):
        raise _catalog_error("unknown_catalog_voice", voice=name)
    return entry


def _download(client: object, url: str, dest: Path, size: object, md5: object, name: str) -> None:
    """Stream ``url`` into ``dest``, checking the catalogue's size and md5 digest."""
    import httpx

    assert isinstance(client, httpx.Client)
    digest = hashlib.md5(usedforsecurity=False)
    got = 0
    try:
        with client.stream("GET", url) as response, open(dest, "wb") as out:
            response.raise_for_status()
            for block in response.iter_bytes(1 << 20):
                digest.update(block)
                got += len(block)
                out.write(block)
    except httpx.HTTPError:
        raise _catalog_error("voice_download_failed", voice=name, url=url) from None
    if (isinstance(size, int) and got != size) or digest.hexdigest() != md5:
        raise _catalog_error("voice_checksum", file=dest.name)


def install_from_catalog(
    name: str, directory: Path | None = None, base_url: str | None = None
) -> str:
    """Download a Vietnamese voice of Piper's catalogue, check it, install it; return its name.

    Rules: the voice must be in the catalogue's ``voices.json`` and its language family ``vi``
    (checked before anything is downloaded); both files must match the catalogue's size and
    md5 digest and pass :func:`check_voice`. Files are downloaded into a temporary folder inside
    the voices directory and moved into place (config last) only when all of that holds: a
    missing network, a wrong checksum or a broken voice leaves the directory as it was.
    Raises AudioError ``voice_download_failed``, ``unknown_catalog_voice``,
    ``voice_not_vietnamese``, ``voice_checksum`` or ``bad_voice_file``.
    """
    import httpx

    if not _VOICE_NAME.match(name):
        raise _catalog_error("unknown_catalog_voice", voice=name)
    base = base_url or catalog_url()
    base = base if base.endswith("/") else base + "/"
    timeout = httpx.Timeout(DOWNLOAD_TIMEOUT_S, connect=10.0)
    with httpx.Client(timeout=timeout, follow_redirects=True, trust_env=True) as client:
        entry = _fetch_catalog(client, base, name)
        language = entry.get("language")
        family = language.get("family") if isinstance(language, dict) else None
        if family != "vi":
            code = language.get("code") if isinstance(language, dict) else None
            raise _catalog_error("voice_not_vietnamese", voice=name, language=code or family)
        files = entry.get("files")
        if not isinstance(files, dict):
            raise _catalog_error("unknown_catalog_voice", voice=name)
        wanted = {}
        for path, facts in files.items():
            for suffix in (".onnx", ".onnx.json"):
                if str(path).endswith("/" + name + suffix) and isinstance(facts, dict):
                    wanted[suffix] = (str(path), facts)
        if set(wanted) != {".onnx", ".onnx.json"}:
            raise _catalog_error("unknown_catalog_voice", voice=name)
        directory = directory or voices_dir()
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory, prefix=".download-") as tmp:
            staged = {}
            for suffix, (path, facts) in wanted.items():
                dest = Path(tmp) / f"{name}{suffix}"
                url = base + urllib.parse.quote(path)
                _download(client, url, dest, facts.get("size_bytes"), facts.get("md5_digest"), name)
                staged[suffix] = dest
            check_voice(staged[".onnx"], staged[".onnx.json"])
            target_model, target_config = voice_files(name, directory)
            os.replace(staged[".onnx"], target_model)
            os.replace(staged[".onnx.json"], target_config)
    return name
