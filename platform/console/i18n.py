"""zh-CN and en from gettext catalogues (`locale/<lang>/LC_MESSAGES/*.po`).

The `.po` files are the source (one per feature, merged); they are compiled in
memory at start-up with Babel, so no binary `.mo` file is kept in the repository. The language of a
request comes from the `lang` cookie, else the browser's Accept-Language, else
Chinese.
"""

from __future__ import annotations

import gettext
import io
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LANG_COOKIE = "lang"

current_language: ContextVar[str] = ContextVar("current_language", default=DEFAULT_LANGUAGE)


@cache
def translations(language: str) -> gettext.NullTranslations:
    folder = LOCALE_DIR / language.replace("-", "_") / "LC_MESSAGES"
    merged: gettext.NullTranslations = gettext.NullTranslations()
    for po_path in sorted(folder.glob("*.po")):
        with po_path.open("rb") as handle:
            catalog = read_po(handle, locale=language.replace("-", "_"))
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        part = gettext.GNUTranslations(buffer)
        if isinstance(merged, gettext.GNUTranslations):
            merged.add_fallback(part)
        else:
            merged = part
    return merged


def gettext_current(message: str) -> str:
    return translations(current_language.get()).gettext(message)


def ngettext_current(singular: str, plural: str, n: int) -> str:
    return translations(current_language.get()).ngettext(singular, plural, n)


def pick_language(cookie: str | None, accept_language: str | None) -> str:
    if cookie in LANGUAGES:
        return cookie
    weighted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower()))
    for _quality, tag in sorted(weighted, key=lambda pair: -pair[0]):
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE
