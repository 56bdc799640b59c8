"""The web UI's message catalog: every string in the templates and web code is in it, the
English locale translates all of them, and the committed .mo matches the .po."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from controller.i18n import DIRECTORY, gettext_for, ngettext_for

CONTROLLER = Path(__file__).resolve().parents[2] / "controller"
PO = DIRECTORY / "en" / "LC_MESSAGES" / "loa.po"
MO = DIRECTORY / "en" / "LC_MESSAGES" / "loa.mo"


def _method_map() -> list[tuple[str, str]]:
    """The same files pybabel extracts (babel.cfg, docs/ui.md), so the two cannot drift."""
    with (DIRECTORY / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, _options = parse_mapping_cfg(cfg)
    return method_map


#: The keywords of docs/ui.md's ``pybabel extract`` (``ngettext``: singular and plural forms).
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}


def _source_strings() -> set[str | tuple[str, ...]]:
    """Each string, or (singular, plural) of an ``ngettext``."""
    return {
        message if isinstance(message, str) else tuple(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(CONTROLLER), _method_map(), keywords=KEYWORDS
        )
        if isinstance(message, str) or all(isinstance(m, str) for m in message)
    }


def test_the_page_code_is_read_for_strings():
    """babel.cfg names the page modules where they are (a moved module was silently skipped)."""
    found = extract_from_dir(str(CONTROLLER), _method_map(), keywords=KEYWORDS)
    sources = {Path(f).parts[0] for f, *_ in found}
    assert {"web", "templates"} <= sources


def test_every_ui_string_has_an_english_translation():
    with PO.open("rb") as f:
        catalog = read_po(f)
    translated = {
        m.id for m in catalog if m.id and m.string and (isinstance(m.string, str) or all(m.string))
    }
    missing = sorted(map(str, _source_strings() - translated))
    assert not missing, f"not in en/loa.po (run the pybabel steps in docs/ui.md): {missing}"


def test_the_compiled_catalog_matches_its_source():
    def entry(m: Any) -> tuple[Any, Any]:  # plural entries: (singular, plural) → (forms)
        if isinstance(m.id, str):
            return m.id, m.string
        return tuple(m.id), tuple(m.string)

    with PO.open("rb") as f:
        po = dict(entry(m) for m in read_po(f) if m.id)
    with MO.open("rb") as f:
        mo = dict(entry(m) for m in read_mo(f) if m.id)
    assert mo == po, "recompile: pybabel compile -d controller/i18n -D loa -l en"


def test_vietnamese_is_the_source_and_placeholders_are_filled():
    vi, en = gettext_for("vi"), gettext_for("en")
    assert vi("Cụm loa") == "Cụm loa"
    assert en("Cụm loa") == "Speaker clusters"
    n_vi, n_en = ngettext_for("vi"), ngettext_for("en")
    assert n_vi("Đến %(n)s cụm loa", "Đến %(n)s cụm loa", 3) == "Đến 3 cụm loa"
    assert n_en("Đến %(n)s cụm loa", "Đến %(n)s cụm loa", 3) == "To 3 speaker clusters"
    assert n_en("Đến %(n)s cụm loa", "Đến %(n)s cụm loa", 1) == "To 1 speaker cluster"
    assert gettext_for("xx")("Cụm loa") == "Cụm loa", "an unknown locale falls back"
