"""Speed and size of delivered speech: a one-minute announcement, text → delivery-ready MP3
with espeak-ng (goal: under 1.5 s), and the bytes per minute of delivered audio.

Run: .venv/bin/python bench/audio_speed.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from audio import chunks, engines
from audio.loudness import normalize_loudness
from audio.normalize import normalize
from audio.post import assemble, store
from audio.render import VoiceSettings, render_text, synthesize_speech

ANNOUNCEMENT = """Kính thưa bà con nhân dân trong toàn xã.
UBND xã thông báo: theo tin của Trung tâm Khí tượng Thủy văn, bão số 3 sẽ đổ bộ vào tỉnh ta \
từ chiều ngày 15/9. Lượng mưa phổ biến từ 100-150mm, có nơi trên 200mm.
Để chủ động PCTT và TKCN, đề nghị bà con không ra khơi, neo đậu tàu thuyền ở nơi an toàn, \
chằng chống nhà cửa, cắt tỉa cây xanh quanh nhà. Các hộ ở vùng trũng thấp dọc QL27 cần di chuyển \
người và tài sản lên nơi cao trước 17h ngày 15/9.
Khi có sự cố, bà con gọi ngay 114 hoặc 112, hoặc đường dây nóng của xã 0912 345 678.
Xin trân trọng cảm ơn bà con."""


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (espeak-ng, ffmpeg)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def time_it(fn: object, runs: int) -> tuple[float, object]:
    """Median wall-clock seconds of ``runs`` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def cpu_it(fn: object, runs: int) -> float:
    """Median CPU seconds of ``runs`` calls: what the work costs on an idle machine."""
    times = []
    for _ in range(runs):
        started = cpu_seconds()
        fn()  # type: ignore[operator]
        times.append(cpu_seconds() - started)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    espeak = engines.get("espeak-ng")
    voice, rate = espeak.default_voice(), espeak.default_rate()
    with tempfile.TemporaryDirectory() as tmp:
        media = Path(tmp)
        render_text("Khởi động.", media, VoiceSettings(engine="espeak-ng"))  # warm imports
        settings = VoiceSettings(engine="espeak-ng", chime=False)
        total, result = time_it(lambda: render_text(ANNOUNCEMENT, media, settings), args.runs)
        cpu = cpu_it(lambda: render_text(ANNOUNCEMENT, media, settings), args.runs)
        chimed = VoiceSettings(engine="espeak-ng")
        total_chimed, result_chimed = time_it(
            lambda: render_text(ANNOUNCEMENT, media, chimed), args.runs
        )
        t_norm, spoken = time_it(lambda: normalize(ANNOUNCEMENT), args.runs)
        t_synth, speech = time_it(
            lambda: synthesize_speech(espeak, str(spoken), voice, rate), args.runs
        )
        t_loud, _ = time_it(lambda: normalize_loudness(speech), args.runs)  # type: ignore[arg-type]
        loud = normalize_loudness(speech)  # type: ignore[arg-type]
        t_encode, _ = time_it(lambda: store(assemble(loud, settings), media), args.runs)
    r = result  # type: ignore[assignment]
    rc = result_chimed  # type: ignore[assignment]
    load = os.getloadavg()[0]
    print(f"espeak-ng voice={voice} rate={rate}; median of {args.runs} runs")
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} while measuring")
    print(f"announcement: {len(ANNOUNCEMENT)} characters, {len(chunks.split(str(spoken)))} chunks")
    print(f"speech duration:           {r.duration_s:7.1f} s")  # type: ignore[attr-defined]
    print(f"text -> MP3, no chime:     {total:7.3f} s")
    print(f"text -> MP3, with chimes:  {total_chimed:7.3f} s  ({rc.duration_s:.1f} s of audio)")  # type: ignore[attr-defined]
    per_minute = total / (r.duration_s / 60)  # type: ignore[attr-defined]
    print(f"wall seconds per 60 s:     {per_minute:7.3f} s  (goal < 1.5 s)")
    cpu_per_minute = cpu / (r.duration_s / 60)  # type: ignore[attr-defined]
    print(f"CPU seconds per 60 s:      {cpu_per_minute:7.3f} s  (wall time on an idle machine)")
    print(f"  normalize:               {t_norm:7.3f} s")
    print(f"  synthesize (espeak-ng):  {t_synth:7.3f} s")
    print(f"  loudness (BS.1770+gain): {t_loud:7.3f} s")
    print(f"  assemble + encode MP3:   {t_encode:7.3f} s")
    bpm = r.bytes / (r.duration_s / 60)  # type: ignore[attr-defined]
    print(f"delivered size:            {r.bytes} bytes for {r.duration_s:.1f} s")  # type: ignore[attr-defined]
    print(f"bytes per minute:          {bpm:,.0f} B/min = {bpm / 1024:.0f} KiB/min (limit 400 KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
