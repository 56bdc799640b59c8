"""``loa tts …``: normalize text, synthesize a file, install a voice, check the cloud voices.

Only argparse is imported here: the node's Pi installs without the speech libraries, and the
``loa`` command imports this module to register its subcommands.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    tts = subparsers.add_parser("tts", help="giọng đọc: chuẩn hóa văn bản, đọc thành tệp âm thanh")
    sub = tts.add_subparsers(dest="tts_command", required=True, metavar="TTS_COMMAND")

    p = sub.add_parser("normalize", help="văn bản → dạng đọc (không có TEXT: đọc từ stdin)")
    p.add_argument("text", nargs="?", help="văn bản; bỏ trống để đọc từng dòng từ stdin")
    p.add_argument("--lexicon", type=Path, help="từ điển phát âm riêng (TỪ<TAB>cách đọc)")
    p.set_defaults(func=_normalize)

    p = sub.add_parser("synth", help="đọc văn bản thành tệp MP3")
    p.add_argument("text", help="văn bản bản tin")
    p.add_argument("-o", "--output", type=Path, required=True, help="tệp MP3 ra")
    p.add_argument(
        "--engine",
        default="auto",
        choices=["auto", "fpt", "vbee", "viettel", "gtts", "piper", "espeak-ng", "giong-xa"],
    )
    p.add_argument("--voice", help="giọng (vd. vi, vi-vn-x-south, vi-vn-x-central)")
    p.add_argument("--rate", type=int, help="tốc độ, từ/phút")
    p.add_argument("--no-chime", action="store_true", help="không có tiếng chuông đầu và cuối")
    p.add_argument("--repeats", type=int, default=1, help="số lần đọc")
    p.add_argument("--lexicon", type=Path, help="từ điển phát âm riêng (TỪ<TAB>cách đọc)")
    p.add_argument("--cache-dir", type=Path, help="thư mục bộ nhớ đệm")
    p.set_defaults(func=_synth)

    p = sub.add_parser(
        "install-voice",
        help="cài giọng Piper vào $LOA_VOICES_DIR hoặc ~/.local/share/loa/voices: "
        "một TÊN trong danh mục giọng Piper (vd. vi_VN-vais1000-medium, tải về và kiểm tra), "
        "hoặc hai tệp MODEL.onnx MODEL.onnx.json",
    )
    p.add_argument("model", help="TÊN giọng trong danh mục, hoặc tệp MODEL.onnx")
    p.add_argument("config", type=Path, nargs="?", help="tệp MODEL.onnx.json (khi cài từ tệp)")
    p.add_argument("--dir", type=Path, help="thư mục giọng đọc (mặc định như trên)")
    p.add_argument(
        "--catalog-url", help="địa chỉ danh mục giọng Piper (mặc định $LOA_PIPER_CATALOG_URL)"
    )
    p.set_defaults(func=_install_voice)

    p = sub.add_parser(
        "check",
        help="thử thật các giọng trực tuyến (FPT.AI, Vbee, Viettel AI): sẵn sàng, sai khóa, "
        "hết hạn mức, không kết nối được",
    )
    p.set_defaults(func=_check)

    p = sub.add_parser(
        "listen",
        help="nghe kiểm tra: máy nhận dạng tiếng nói (viet-asr) nghe tệp âm thanh và so với "
        "văn bản bản tin",
    )
    p.add_argument("file", type=Path, help="tệp âm thanh (vd. tệp MP3 của bản tin)")
    p.add_argument("text", help="văn bản bản tin (được chuẩn hóa như khi đọc)")
    p.add_argument("--lexicon", type=Path, help="từ điển phát âm riêng (TỪ<TAB>cách đọc)")
    p.set_defaults(func=_listen)

    p = sub.add_parser("voices", help="liệt kê bộ đọc và giọng đọc có sẵn")
    p.set_defaults(func=_voices)


def _lexicon(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    from audio.normalize import load_lexicon

    return load_lexicon(path)


def _fail(exc: Exception) -> int:
    message = getattr(exc, "message", str(exc))
    code = getattr(exc, "code", "error")
    print(f"loa tts: {message} [{code}]", file=sys.stderr)
    return 2


def _normalize(args: argparse.Namespace) -> int:
    from audio.normalize import normalize

    lexicon = _lexicon(args.lexicon)
    if args.text is not None:
        print(normalize(args.text, lexicon))
        return 0
    for line in sys.stdin:
        print(normalize(line.rstrip("\n"), lexicon).replace("\n", " "), flush=False)
    return 0


def _synth(args: argparse.Namespace) -> int:
    import shutil
    import tempfile

    from audio.errors import AudioError
    from audio.render import VoiceSettings, render_text

    settings = VoiceSettings(
        engine=args.engine,
        voice=args.voice,
        rate=args.rate,
        chime=not args.no_chime,
        repeats=args.repeats,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="loa-tts-") as tmp:
            result = render_text(
                args.text,
                Path(tmp),
                settings,
                lexicon=_lexicon(args.lexicon),
                cache_dir=args.cache_dir,
            )
            args.output.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.path, args.output)
    except AudioError as exc:
        return _fail(exc)
    print(
        f"{args.output}: {result.duration_s:.1f} s, {result.bytes} bytes, "
        f"engine={result.engine} voice={result.voice} sha256={result.sha256}"
    )
    return 0


def _install_voice(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voices import install_from_catalog, install_voice, voices_dir

    try:
        if args.config is not None:
            name = install_voice(Path(args.model), args.config, args.dir)
        else:
            name = install_from_catalog(args.model, args.dir, args.catalog_url)
    except AudioError as exc:
        return _fail(exc)
    print(f"đã cài giọng {name} vào {args.dir or voices_dir()}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from audio import engines

    worst = 0
    for name in engines.CLOUD_ORDER:
        result = engines.check(name)
        print(f"{name}\t{result.state}\t{result.message}")
        if result.state not in ("ready", "not_configured"):
            worst = 1
    return worst


def _listen(args: argparse.Namespace) -> int:
    from audio import listening
    from audio.errors import AudioError
    from audio.normalize import normalize

    try:
        result = listening.listen(args.file, normalize(args.text, _lexicon(args.lexicon)))
    except AudioError as exc:
        return _fail(exc)
    print(
        f"máy nghe đúng {result.heard_share:.0%} số từ (WER {result.word_error_rate:.0%}; "
        f"{result.speech_s:.1f} s tiếng, {result.cpu_s:.1f} s CPU, {result.recognizer})"
    )
    print(f"máy nghe được: {result.heard_text}")
    marked = " ".join(w.word if w.heard else f"[{w.word}]" for w in result.words)
    print(f"từ nghe sai trong [ ]: {marked}")
    return 0


def _voices(args: argparse.Namespace) -> int:
    from audio import engines
    from audio.voices import voice_label

    for name, engine in engines.ENGINES.items():
        state = "có" if engine.available() else "không có"
        voices = ", ".join(engine.voices()) if engine.available() else ""
        print(f"{name}\t{state}\t{voices}")
        if engine.available() and engine.ONLINE:
            for voice in engine.voices():
                print(f"\t{voice}\t{voice_label(name, voice)}")
    print(f"auto\t{','.join(engines.auto_order())}")
    return 0
