"""The web UI's message catalog: gettext via Babel, Vietnamese first.

Vietnamese is the source language: templates and web code write their words in Vietnamese
inside ``_("…")``, so the Vietnamese locale needs no translation file and can never show a
missing key. Other locales (English for now) are ``.po`` files next to this module, compiled to
``.mo`` (committed). ``pybabel extract -F controller/i18n/babel.cfg`` collects every string of
``controller/templates`` and ``controller/web*.py`` into ``loa.pot``; see docs/ui.md.
"""

from __future__ import annotations

import functools
import gettext
from collections.abc import Callable
from pathlib import Path

from babel.support import Translations

DOMAIN = "loa"
DEFAULT_LOCALE = "vi"
LOCALES = ("vi", "en")
#: How each locale names itself in the language switch.
LOCALE_NAMES = {"vi": "Tiếng Việt", "en": "English"}
DIRECTORY = Path(__file__).parent

Gettext = Callable[..., str]


@functools.cache
def translations(locale: str) -> gettext.NullTranslations:
    if locale not in LOCALES or locale == DEFAULT_LOCALE:
        return gettext.NullTranslations()
    return Translations.load(str(DIRECTORY), [locale], DOMAIN)


def gettext_for(locale: str) -> Gettext:
    """``_("Đã phát %(n)s", n=3)``: translate, then fill named placeholders."""
    t = translations(locale)

    def _(message: str, **params: object) -> str:
        text = t.gettext(message)
        if params:
            try:
                return text % params
            except (KeyError, ValueError, TypeError):
                return message % params
        return text

    return _


def ngettext_for(locale: str) -> Callable[..., str]:
    """``ngettext("%(n)s cụm loa", "%(n)s cụm loa", n)``: the form for ``n`` (Vietnamese has one
    form for every number; English "1 speaker cluster", "2 speaker clusters", by the catalog's
    ``Plural-Forms``), then fill ``n`` and any other named placeholders.

    Extracted with the keyword ``ngettext`` (pybabel's default; docs/ui.md names it)."""
    t = translations(locale)

    def ngettext(singular: str, plural: str, n: int, **params: object) -> str:
        text = t.ngettext(singular, plural, n)
        values = {"n": n, **params}
        try:
            return text % values
        except (KeyError, ValueError, TypeError):
            return (singular if n == 1 else plural) % values

    return ngettext


def pick_locale(cookie: str | None) -> str:
    """The user's choice (a cookie) wins; otherwise Vietnamese, whatever the browser says:
    officials' browsers are often left in English by whoever set the machine up."""
    if cookie in LOCALES:
        return str(cookie)
    return DEFAULT_LOCALE
