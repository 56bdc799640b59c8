"""``loa voicebank …``: coverage, sheets, and managing commune voice banks from a terminal.

Only argparse is imported here (the ``loa`` command imports this module to register it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    vb = subparsers.add_parser(
        "voicebank", help="giọng xã: độ phủ âm tiết, tờ đọc, ghi và quản lý giọng phát thanh viên"
    )
    sub = vb.add_subparsers(dest="voicebank_command", required=True, metavar="VOICEBANK_COMMAND")

    p = sub.add_parser(
        "coverage", help="bao nhiêu tiếng phủ 90/95/99%% văn bản, và thời gian ghi tương ứng"
    )
    _texts_options(p)
    p.add_argument(
        "--seconds-per-syllable",
        type=float,
        default=None,
        help="thời gian ghi mỗi tiếng, kể cả nghỉ và ghi lại (mặc định 1,5 giây)",
    )
    p.add_argument("--bank", help="tên giọng xã: thêm đồng hồ độ phủ của giọng này")
    p.add_argument("--top", type=int, default=0, help="in thêm N tiếng hay gặp nhất")
    p.add_argument("--frequencies", type=Path, help="ghi bảng tần suất (TSV) vào tệp này")
    p.set_defaults(func=_coverage)

    p = sub.add_parser("sheets", help="các tờ đọc tiếp theo, tờ có lợi nhất trước")
    _texts_options(p)
    p.add_argument("--bank", help="bỏ qua các tiếng giọng xã này đã ghi")
    p.add_argument("--size", type=int, default=15, help="số tiếng mỗi tờ (10-20)")
    p.add_argument("--limit", type=int, default=5, help="số tờ in ra")
    p.set_defaults(func=_sheets)

    p = sub.add_parser("create", help="tạo giọng xã mới (cần ghi rõ sự đồng ý)")
    p.add_argument("name", help="tên ngắn: chữ thường không dấu, số, gạch ngang")
    p.add_argument("--speaker", required=True, help="giọng của ai (họ tên phát thanh viên)")
    p.add_argument("--consent-by", required=True, help="ai đồng ý (thường là chính người đó)")
    p.add_argument("--consent-at", required=True, help="ngày đồng ý (YYYY-MM-DD)")
    p.add_argument("--note", default="", help="ghi chú (vd. nơi lưu giấy đồng ý)")
    p.set_defaults(func=_create)

    p = sub.add_parser("take", help="cắt một bản ghi tờ đọc và lưu từng tiếng vào giọng xã")
    p.add_argument("name")
    p.add_argument("audio", type=Path, help="bản ghi (WAV, MP3, WebM …)")
    p.add_argument("syllables", nargs="+", help="các tiếng trên tờ, theo thứ tự đọc")
    p.set_defaults(func=_take)

    p = sub.add_parser("missing", help="các tiếng giọng xã còn thiếu để đọc một bản tin")
    p.add_argument("name")
    p.add_argument("text", help="nội dung bản tin")
    p.set_defaults(func=_missing)

    p = sub.add_parser("list", help="các giọng xã trên máy này")
    p.set_defaults(func=_list)

    p = sub.add_parser("export", help="xuất giọng xã thành một tệp .loavoice")
    p.add_argument("name")
    p.add_argument("dest", type=Path, help="tệp hoặc thư mục đích")
    p.set_defaults(func=_export)

    p = sub.add_parser("import", help="nhập giọng xã từ tệp .loavoice")
    p.add_argument("file", type=Path)
    p.add_argument("--name", help="nhập dưới tên khác")
    p.add_argument("--replace", action="store_true", help="thay giọng xã cùng tên")
    p.set_defaults(func=_import)

    p = sub.add_parser("delete", help="xóa giọng xã và mọi thứ làm từ nó")
    p.add_argument("name")
    p.add_argument("--cache-dir", type=Path, help="bộ nhớ đệm đọc bản tin (xóa bản đọc cũ)")
    p.add_argument("--media-dir", type=Path, help="thư mục tệp phát (xóa tệp đã đọc bằng giọng)")
    p.add_argument("--yes", action="store_true", help="xác nhận xóa")
    p.set_defaults(func=_delete)


def _texts_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--texts",
        type=Path,
        action="append",
        default=[],
        help="các bản tin cũ của xã: tệp văn bản hoặc cơ sở dữ liệu của Loa (có thể lặp lại)",
    )
    p.add_argument("--since-days", type=int, help="chỉ các bản tin trong N ngày qua (với CSDL)")
    p.add_argument("--no-corpus", action="store_true", help="không dùng kho bản tin mẫu của Loa")


def _fail(exc: Exception) -> int:
    message = getattr(exc, "message", str(exc))
    code = getattr(exc, "code", "error")
    print(f"loa voicebank: {message} [{code}]", file=sys.stderr)
    return 2


def _gather(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """(Loa's corpus, the commune's texts)."""
    from audio.voicebank.corpus import builtin_announcements, read_source

    corpus = [] if args.no_corpus else builtin_announcements()
    own: list[str] = []
    for path in args.texts:
        own += read_source(path, args.since_days)
    return corpus, own


def _coverage(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank import coverage

    try:
        corpus, own = _gather(args)
        texts = corpus + own
        counts = coverage.count_syllables(texts)
        sps = args.seconds_per_syllable or coverage.SECONDS_PER_SYLLABLE
        table = coverage.coverage_table(counts, len(texts), sps)
        print(
            f"{table.texts} bản tin ({len(corpus)} mẫu của Loa, {len(own)} của xã), "
            f"{table.tokens} tiếng, {table.distinct} tiếng khác nhau"
        )
        for row in table.levels:
            print(
                f"phủ {row.level * 100:.0f}%: {row.syllables} tiếng, "
                f"ghi khoảng {coverage.format_duration(row.recording_s)}"
            )
        print(
            f"tất cả {table.distinct} tiếng: ghi khoảng "
            f"{coverage.format_duration(table.full_recording_s)} "
            f"(tính {sps:g} giây mỗi tiếng, kể cả nghỉ và ghi lại)"
        )
        if args.frequencies:
            with args.frequencies.open("w", encoding="utf-8") as f:
                f.write("syllable\tcount\tshare\tcumulative\ttone\n")
                for s, n, share, cum, tone in coverage.frequency_rows(counts):
                    f.write(f"{s}\t{n}\t{share:.6f}\t{cum:.6f}\t{tone}\n")
        if args.top:
            rows = coverage.frequency_rows(counts)[: args.top]
            print(" ".join(f"{s}({n})" for s, n, *_ in rows))
        if args.bank:
            from audio.voicebank.bank import open_bank

            bank = open_bank(args.bank)
            meter = coverage.bank_coverage(bank.syllables(), own or texts)
            period = "trong các bản tin của xã" if own else "trong kho bản tin mẫu"
            print(f"{meter.meter(period)}; đọc trọn {meter.readable_texts}/{meter.texts} bản tin")
    except AudioError as exc:
        return _fail(exc)
    return 0


def _sheets(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank import coverage, sheets

    try:
        corpus, own = _gather(args)
        counts = coverage.count_syllables(corpus + own)
        recorded: set[str] = set()
        if args.bank:
            from audio.voicebank.bank import open_bank

            recorded = open_bank(args.bank).syllables()
        for sheet in sheets.make_sheets(counts, recorded, args.size, args.limit):
            print(
                f"Tờ {sheet.number} (+{sheet.gain} tiếng, phủ {sheet.coverage_after * 100:.1f}%)"
                f": {sheet.text}"
            )
    except AudioError as exc:
        return _fail(exc)
    return 0


def _create(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank.bank import Consent, create_bank

    try:
        bank = create_bank(
            args.name, Consent(args.speaker, args.consent_by, args.consent_at, args.note)
        )
    except AudioError as exc:
        return _fail(exc)
    print(f"đã tạo giọng xã {bank.name} ({bank.speaker}) tại {bank.path}")
    return 0


def _take(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank.bank import open_bank
    from audio.voicebank.takes import cut_take

    try:
        bank = open_bank(args.name)
        take = cut_take(args.audio, args.syllables)
        version = bank.save_take(take)
    except AudioError as exc:
        return _fail(exc)
    print(
        f"đã lưu {len(take.units)} tiếng (mức {take.level_db:.0f} dBFS, ồn {take.noise_db:.0f} "
        f"dBFS); giọng xã {bank.name} phiên bản {version}, {len(bank.syllables())} tiếng"
    )
    return 0


def _missing(args: argparse.Namespace) -> int:
    from audio.engines.giong_xa import missing_message, missing_syllables
    from audio.errors import AudioError

    try:
        missing = missing_syllables(args.text, args.name)
    except AudioError as exc:
        return _fail(exc)
    print(missing_message(missing) if missing else "giọng xã đọc được cả bản tin")
    return 1 if missing else 0


def _list(args: argparse.Namespace) -> int:
    from audio.voicebank.bank import banks_dir, list_banks

    for bank in list_banks():
        consent = bank.consent
        print(
            f"{bank.name}\t{bank.speaker}\t{len(bank.syllables())} tiếng\tphiên bản "
            f"{bank.version}\tđồng ý: {consent.get('given_by')} {consent.get('given_at')}"
        )
    print(f"({banks_dir()})", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank.archive import export_bank

    try:
        path = export_bank(args.name, args.dest)
    except AudioError as exc:
        return _fail(exc)
    print(f"đã xuất {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank.archive import import_bank

    try:
        bank = import_bank(args.file, name=args.name, replace=args.replace)
    except AudioError as exc:
        return _fail(exc)
    print(f"đã nhập giọng xã {bank.name} ({bank.speaker}), {len(bank.syllables())} tiếng")
    return 0


def _delete(args: argparse.Namespace) -> int:
    from audio.errors import AudioError
    from audio.voicebank.bank import delete_bank

    if not args.yes:
        print("loa voicebank: thêm --yes để xác nhận xóa", file=sys.stderr)
        return 2
    try:
        done = delete_bank(args.name, cache_dir=args.cache_dir, media_dir=args.media_dir)
    except AudioError as exc:
        return _fail(exc)
    print(
        f"đã xóa giọng xã {done.bank}: {done.files} tệp, {done.cached_chunks} đoạn và "
        f"{done.cached_renders} bản đọc trong bộ nhớ đệm, {len(done.media_sha256)} tệp phát"
    )
    return 0
