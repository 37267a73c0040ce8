"""Languages of the portal: gettext catalogs (.po) loaded through Babel, and negotiation.

Japanese is the default. Strings live in ``locales/<lang>/LC_MESSAGES/portal.po``, never in
code; the English catalog is the source language (identity translation).
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

# Language code → its own name, in the order shown in the switcher.
LANGUAGES: dict[str, str] = {"ja": "日本語", "en": "English"}
BABEL_LOCALES = {"ja": "ja_JP", "en": "en_GB"}
# Accept-Language headers longer than this are not parsed (a phone sends < 100 bytes).
MAX_ACCEPT_LANGUAGE_CHARS = 512
MAX_ACCEPT_LANGUAGE_ITEMS = 16


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The catalog of ``lang``, compiled in memory from its .po file."""
    po = resources.files("shelterkit.portal") / "locales" / lang / "LC_MESSAGES" / "portal.po"
    if not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=BABEL_LOCALES.get(lang, lang))
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def parse_accept_language(header: str) -> list[str]:
    """Primary language subtags in preference order (q=0 dropped), bounded."""
    if len(header) > MAX_ACCEPT_LANGUAGE_CHARS:
        return []
    weighted: list[tuple[float, int, str]] = []
    for index, item in enumerate(header.split(",")[:MAX_ACCEPT_LANGUAGE_ITEMS]):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q <= 0 or not tag:
            continue
        weighted.append((-q, index, tag.split("-")[0].lower()))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(accept_language: str, cookie: str | None, default: str) -> str:
    if cookie in LANGUAGES:
        return cookie
    for tag in parse_accept_language(accept_language):
        if tag in LANGUAGES:
            return tag
    return default
