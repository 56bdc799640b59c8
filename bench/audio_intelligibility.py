"""Intelligibility of Loa's voices: word error rate of an offline Vietnamese recognizer
(viet-asr) on 32 announcement sentences, per engine, voice and rate.

Run: .venv/bin/python bench/audio_intelligibility.py
     (every engine that can speak here, each with its default voice and rate; Piper with every
     installed voice)
  or .venv/bin/python bench/audio_intelligibility.py --engine espeak-ng --voices vi,vi+f2
     --rates 120,150 [--pitches 30,50,70]   (a sweep of one engine)
An engine is scored when it says a test sentence here: espeak-ng always, Piper when a voice is
installed, an online engine when it has an account and answers. Online engines pointed at a
local address (the tests' fakes) are never scored.
Needs viet-asr (pip install viet-asr; the `bench` extra). Human speech scores about 8% WER on
this recognizer. Not part of the test suite: it takes minutes.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import numpy as np

from audio import engines
from audio.engines import espeak
from audio.errors import AudioError
from audio.render import VoiceSettings, render_text

SENTENCES = (
    "Kính thưa bà con nhân dân trong toàn xã.",
    "UBND xã thông báo lịch tiêm phòng vắc xin cho trẻ em dưới 5 tuổi.",
    "Thời gian tiêm từ 7h30 đến 11h sáng thứ Bảy tuần này.",
    "Địa điểm tại Trạm Y tế xã, đề nghị các gia đình đưa trẻ đến đúng giờ.",
    "Theo dự báo, bão số 3 sẽ đổ bộ vào tỉnh ta trong đêm nay.",
    "Lượng mưa phổ biến từ 100-150mm, có nơi trên 200mm.",
    "Đề nghị bà con không ra khơi, neo đậu tàu thuyền ở nơi an toàn.",
    "Các hộ ở vùng trũng thấp cần di chuyển người và tài sản lên nơi cao.",
    "Khi có cháy, hãy gọi ngay 114 để được hỗ trợ.",
    "Khi cần cấp cứu, bà con gọi 115.",
    "Hội Nông dân xã tổ chức tập huấn kỹ thuật trồng lúa vào chiều mai.",
    "Bà con có nhu cầu vay vốn xin liên hệ cán bộ Ngân hàng Chính sách xã hội.",
    "Đề nghị các hộ gia đình nộp thẻ BHYT để gia hạn trước ngày 30/6.",
    "Công an xã tiếp nhận hồ sơ làm CCCD tại nhà văn hóa thôn 2.",
    "Thanh niên trong độ tuổi NVQS có mặt tại hội trường lúc 8h.",
    "QL27 đoạn qua xã đang sửa chữa, đề nghị bà con đi chậm.",
    "Tuyệt đối không đốt rơm rạ gần đường dây điện.",
    "Phòng chống dịch tả lợn châu Phi, không mua bán lợn bệnh.",
    "Các hộ chăn nuôi cần tiêu độc khử trùng chuồng trại hằng tuần.",
    "Nước sạch sẽ bị cắt từ 8h đến 17h ngày mai để sửa đường ống.",
    "Chương trình văn nghệ chào mừng ngày Quốc khánh diễn ra tối nay.",
    "Mời bà con đến dự buổi họp dân tại nhà văn hóa thôn lúc 19h.",
    "Trẻ em không được tắm ở sông, suối, ao hồ khi không có người lớn đi cùng.",
    "Bà con cần giữ gìn vệ sinh môi trường, thu gom rác đúng nơi quy định.",
    "Đợt rét đậm rét hại kéo dài đến hết tuần sau.",
    "Đề nghị bà con che chắn chuồng trại, giữ ấm cho trâu bò.",
    "Người dân phát hiện đối tượng khả nghi hãy báo ngay cho công an xã.",
    "Ủy ban nhân dân xã trân trọng cảm ơn sự hợp tác của bà con.",
    "Hạn chót đăng ký hộ nghèo, hộ cận nghèo là ngày 15/11.",
    "Xe thu gom rác sẽ đi qua các thôn vào sáng thứ Hai và thứ Năm.",
    "Mọi thắc mắc xin liên hệ số điện thoại 0912 345 678.",
    "Chúc bà con một ngày làm việc vui vẻ và an toàn.",
)


def words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def pcm16k(path: Path) -> np.ndarray:
    raw = subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-i",
            str(path),
            "-ar",
            "16000",
            "-ac",
            "1",
            "-f",
            "s16le",
            "pipe:1",
        ],
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.int16)


def score(asr: object, engine: str, voice: str | None, rate: int | None) -> tuple[float, float]:
    """(WER, seconds of audio) over all sentences, as delivered (post-processed MP3)."""
    errors = total = 0
    seconds = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for sentence in SENTENCES:
            settings = VoiceSettings(engine=engine, voice=voice, rate=rate, chime=False)
            result = render_text(sentence, Path(tmp), settings)
            audio = pcm16k(result.path)
            seconds += audio.size / 16000
            hypothesis = asr.transcribe(audio, 16000.0).text  # type: ignore[attr-defined]
            reference = words(result.normalized_text)
            errors += edit_distance(reference, words(hypothesis))
            total += len(reference)
    return errors / total, seconds


def _endpoint(name: str) -> str | None:
    """Where an online engine sends its requests (None for offline engines)."""
    from audio.engines import gtts, online

    settings = online.current()
    if name == "gtts":
        return gtts.url()
    if name == "fpt" and settings.fpt:
        return settings.fpt.url
    if name == "vbee" and settings.vbee:
        return settings.vbee.url
    return None


def speaking_engines() -> list[tuple[str, list[str | None], str]]:
    """(engine, voices to score, why skipped or "") for every engine Loa knows: each that says a
    test sentence here, with its voices (Piper: every installed voice; others: the default)."""
    rows: list[tuple[str, list[str | None], str]] = []
    for name, engine in engines.ENGINES.items():
        if not engine.available():
            rows.append((name, [], "not available here"))
            continue
        endpoint = _endpoint(name)
        host = urllib.parse.urlsplit(endpoint).hostname if endpoint else None
        if host in ("127.0.0.1", "localhost", "::1"):
            rows.append((name, [], f"points at a local fake ({endpoint})"))
            continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                render_text("Xin chào.", Path(tmp), VoiceSettings(engine=name, chime=False))
        except AudioError as exc:
            rows.append((name, [], f"cannot speak here: {exc.code}"))
            continue
        voices: list[str | None] = list(engine.voices()) if name == "piper" else [None]
        rows.append((name, voices, ""))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine", default="all", help="one engine, or all that can speak")
    parser.add_argument("--voices", default="", help="voices to sweep (with one --engine)")
    parser.add_argument("--rates", default="", help="rates to sweep, wpm (default: the engine's)")
    parser.add_argument("--pitches", default="", help="espeak-ng pitches (0-99) to try")
    args = parser.parse_args()
    try:
        import vietasr
    except ImportError:
        print("viet-asr is not installed: pip install viet-asr", file=sys.stderr)
        return 1
    if args.engine == "all":
        plan = []
        for name, voices, skipped in speaking_engines():
            if skipped:
                print(f"{name}: skipped, {skipped}")
            plan += [(name, voice) for voice in voices]
    else:
        plan = [(args.engine, v or None) for v in (args.voices or "").split(",")]
    asr = vietasr.Pipeline.new().add("vietasr").build()
    print(f"{len(SENTENCES)} sentences, recognizer viet-asr")
    print(
        f"{'engine':<10} {'voice':<24} {'rate':>5} {'pitch':>5} {'WER':>7} "
        f"{'audio s':>8} {'bench s':>8}"
    )
    results = []
    rates: list[int | None] = [int(r) for r in args.rates.split(",") if r] or [None]
    pitches = [int(p) for p in args.pitches.split(",") if p] or [espeak.PITCH]
    for name, voice in plan:
        engine = engines.get(name)
        for rate in rates:
            for pitch in pitches if name == "espeak-ng" else [espeak.PITCH]:
                espeak.PITCH = pitch
                started = time.perf_counter()
                wer, seconds = score(asr, name, voice, rate)
                took = time.perf_counter() - started
                shown_voice = voice or engine.default_voice()
                shown_rate = rate or engine.default_rate()
                results.append((wer, name, shown_voice, shown_rate, pitch))
                print(
                    f"{name:<10} {shown_voice:<24} {shown_rate:>5} {pitch:>5} {wer:>7.1%} "
                    f"{seconds:>8.1f} {took:>8.1f}",
                    flush=True,
                )
    if not results:
        print("no engine could speak here", file=sys.stderr)
        return 1
    wer, name, voice, rate, pitch = min(results)
    print(f"best: engine={name} voice={voice} rate={rate} pitch={pitch} WER={wer:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
