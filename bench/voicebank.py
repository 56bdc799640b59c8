"""Giọng xã: how many syllables a commune must record, how fast a bank reads, and what the
assembly costs a listener.

1. Coverage from Loa's corpus (audio/voicebank/corpus): syllables for 90/95/99 % of running
   text and the recording time (stated 1.5 s a syllable, pauses and re-takes included).
2. Held out: sheets ordered on 4/5 of the corpus (every 5th announcement left out), then the
   share of the held-out announcements' syllables, and of whole announcements, a bank of the
   first N syllables reads: what a commune sees on announcements written after recording.
3. Assembly time per minute of speech for a bank recorded by the stand-in announcer (espeak-ng
   saying each syllable alone, sheets cut by silence as in the tests): the engine alone, and
   the render pipeline up to the samples (trim, pauses), without MP3 encoding. Goal < 0.5 s.
4. With --asr (needs viet-asr: the `bench` extra): word error rate of viet-asr on the 32
   sentences of bench/audio_intelligibility.py, the stand-in bank's assembled speech against
   espeak-ng reading the same sentences whole in the same voice, so the difference is what the
   assembly costs or gains.

Run: .venv/bin/python bench/voicebank.py [--asr] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from audio import chunks  # noqa: E402
from audio.engines import giong_xa  # noqa: E402
from audio.ffmpeg import SAMPLE_RATE  # noqa: E402
from audio.normalize import normalize  # noqa: E402
from audio.render import synthesize_speech  # noqa: E402
from audio.voicebank import coverage, sheets  # noqa: E402
from audio.voicebank.bank import Bank, Consent, create_bank  # noqa: E402
from audio.voicebank.corpus import builtin_announcements  # noqa: E402
from audio.voicebank.syllables import spoken_syllables_many  # noqa: E402
from audio.voicebank.takes import cut_take  # noqa: E402

STAND_IN_VOICE = "vi+f2"


def coverage_section(texts: list[str]) -> None:
    counts = coverage.count_syllables(texts)
    table = coverage.coverage_table(counts, len(texts))
    print(f"## Coverage: {table.texts} announcements, {table.tokens} syllables said, "
          f"{table.distinct} distinct")  # fmt: skip
    print(f"{'coverage':>9} {'syllables':>10} {'sheets of 15':>13} {'recording':>10}")
    for row in table.levels:
        print(
            f"{row.level * 100:>8.0f}% {row.syllables:>10} {-(-row.syllables // 15):>13} "
            f"{coverage.format_duration(row.recording_s):>10}"
        )
    print(
        f"{'all':>9} {table.distinct:>10} {-(-table.distinct // 15):>13} "
        f"{coverage.format_duration(table.full_recording_s):>10}"
    )
    print(f"(recording time at a stated {coverage.SECONDS_PER_SYLLABLE:g} s a syllable)")


def held_out_section(texts: list[str]) -> None:
    train = [t for i, t in enumerate(texts) if i % 5]
    test = [t for i, t in enumerate(texts) if i % 5 == 0]
    order = [s for s, _ in coverage.ranked(coverage.count_syllables(train))]
    print(f"\n## Held out: ordered on {len(train)} announcements, read on the other {len(test)}")
    print(
        f"{'recorded':>9} {'syllables read':>15} {'whole announcements':>20} "
        f"{'missing per announcement (median, max)':>40}"
    )
    said = spoken_syllables_many(test)
    for n in (200, 400, 600, 800, 1000, len(order)):
        meter = coverage.bank_coverage(order[:n], test)
        have = set(order[:n])
        gaps = [len({s for s in one if s not in have}) for one in said]
        print(
            f"{n:>9} {meter.share * 100:>14.1f}% "
            f"{meter.readable_texts:>9}/{meter.texts} ({meter.readable_texts / meter.texts:>4.0%}) "
            f"{statistics.median(gaps):>33g}, {max(gaps)}"
        )


def record_stand_in(bank: Bank, syllables: list[str]) -> float:
    """The stand-in announcer reads every sheet; returns seconds of takes recorded."""
    sys.path.insert(0, str(ROOT))
    from tests.audio.voicebank.announcer import read_sheet

    seconds = 0.0
    for sheet in sheets.sheets_for(syllables, size=15):
        audio = read_sheet(sheet.syllables, voice=STAND_IN_VOICE)
        seconds += audio.size / SAMPLE_RATE
        bank.save_take(cut_take(audio, sheet.syllables))
    return seconds


def assembly_section(bank: Bank, texts: list[str], runs: int) -> None:
    text = "\n".join(texts[:12])
    normalized = normalize(text)
    parts = chunks.split(normalized)

    def engine_only() -> float:
        total = 0
        for chunk, _ in parts:
            total += len(giong_xa.synthesize(chunk, bank.name, giong_xa.DEFAULT_RATE))
        return total

    def pipeline() -> int:
        return int(synthesize_speech(giong_xa, normalized, bank.name, giong_xa.DEFAULT_RATE).size)

    speech_s = pipeline() / SAMPLE_RATE
    giong_xa._matched_unit.cache_clear()
    started = time.perf_counter()
    engine_only()
    cold = time.perf_counter() - started
    timings = {}
    for label, fn in (("engine (units → WAV)", engine_only), ("pipeline to samples", pipeline)):
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        timings[label] = statistics.median(times)
    print(f"\n## Assembly: {len(parts)} chunks, {speech_s:.1f} s of speech "
          f"({len(bank.syllables())} syllables in the bank)")  # fmt: skip
    print(f"{'step':<24} {'s per minute of speech':>23}")
    print(f"{'engine, first (cold)':<24} {cold / speech_s * 60:>23.3f}")
    for label, seconds in timings.items():
        print(f"{label:<24} {seconds / speech_s * 60:>23.3f}")
    print("(goal: under 0.5 s per minute)")


def asr_section(bank: Bank) -> None:
    try:
        import vietasr
    except ImportError:
        print("\n## Listening check: skipped (pip install viet-asr)")
        return
    from audio.render import VoiceSettings, render_text
    from bench.audio_intelligibility import SENTENCES, edit_distance, pcm16k, words

    asr = vietasr.Pipeline.new().add("vietasr").build()
    print(f"\n## Listening check: viet-asr on {len(SENTENCES)} sentences")
    print(f"{'speech':<40} {'WER':>6} {'audio s':>8}")
    for label, settings in (
        ("espeak-ng vi+f2, whole sentences", VoiceSettings(engine="espeak-ng",
                                                            voice=STAND_IN_VOICE, chime=False)),
        ("giọng xã, stand-in bank (same voice)", VoiceSettings(engine="giong-xa",
                                                                voice=bank.name, chime=False)),
    ):  # fmt: skip
        errors = total = 0
        seconds = 0.0
        with tempfile.TemporaryDirectory() as tmp:
            for sentence in SENTENCES:
                result = render_text(sentence, Path(tmp), settings)
                audio = pcm16k(result.path)
                seconds += audio.size / 16000
                hypothesis = asr.transcribe(audio, 16000.0).text
                reference = words(result.normalized_text)
                errors += edit_distance(reference, words(hypothesis))
                total += len(reference)
        print(f"{label:<40} {errors / total:>6.1%} {seconds:>8.1f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--asr", action="store_true", help="the listening check (viet-asr)")
    args = parser.parse_args()
    texts = builtin_announcements()
    coverage_section(texts)
    held_out_section(texts)
    with tempfile.TemporaryDirectory(prefix="loa-voicebank-bench-") as tmp:
        os.environ["LOA_VOICEBANK_DIR"] = tmp
        bank = create_bank(
            "stand-in", Consent("espeak-ng " + STAND_IN_VOICE, "Loa bench", "2026-12-04")
        )
        extra: list[str] = []
        if args.asr:
            from bench.audio_intelligibility import SENTENCES

            extra = list(SENTENCES)
        syllables = list(
            dict.fromkeys(s for said in spoken_syllables_many(texts + extra) for s in said)
        )
        started = time.perf_counter()
        take_s = record_stand_in(bank, syllables)
        took = time.perf_counter() - started
        print(f"\nstand-in bank: {len(bank.syllables())} syllables from "
              f"{-(-len(syllables) // 15)} sheets, {take_s / 60:.1f} min of takes, "
              f"read and cut in {took:.1f} s")  # fmt: skip
        assembly_section(bank, texts, args.runs)
        if args.asr:
            asr_section(bank)
    return 0


if __name__ == "__main__":
    sys.exit(main())
