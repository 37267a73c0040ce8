"""Which language of an official alert to show, and how to name and link its languages.

Shared by the home page (``app.py``) and the alert pages (``feeds.py``). An alert carries
its texts per language (``ja``, ``en``, ``pt``, ``vi``, ``zh-Hans``, ``tl`` …, and
``ja-x-easy`` for やさしい日本語); the portal itself speaks Japanese and English.
"""

from __future__ import annotations

from urllib.parse import quote

from babel import Locale, UnknownLocaleError

from shelterkit.model.kinds import EASY_JAPANESE, AlertBody

# Names of alert languages in themselves; Babel names the rest. やさしい日本語 has no locale.
LANGUAGE_NAMES = {
    "ja": "日本語",
    EASY_JAPANESE: "やさしい日本語",
    "en": "English",
    "pt": "Português",
    "vi": "Tiếng Việt",
    "zh": "中文",
    "zh-Hans": "中文（简体）",
    "zh-Hant": "中文（繁體）",
    "tl": "Tagalog",
    "ko": "한국어",
    "es": "Español",
    "ne": "नेपाली",
    "id": "Bahasa Indonesia",
    "th": "ไทย",
    "my": "မြန်မာဘာသာ",
}


def alert_path(identifier: str) -> str:
    return "/alerts/" + quote(identifier, safe="")


def language_name(tag: str) -> str:
    if tag in LANGUAGE_NAMES:
        return LANGUAGE_NAMES[tag]
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return tag
    return str(locale.get_display_name(locale) or tag)


def pick_language(texts: dict[str, str], wanted: list[str]) -> str:
    """The language of ``texts`` to show: the first wanted that the alert carries (exact,
    then by primary subtag), else Japanese, English, or the first it has. Easy Japanese is
    shown only when asked for by name."""
    for tag in [*wanted, "ja", "en"]:
        if tag in texts:
            return tag
        for have in texts:
            if have != EASY_JAPANESE and have.split("-")[0] == tag.split("-")[0]:
                return have
    return next(iter(texts), "ja")


def alert_languages(body: AlertBody, shown: str) -> list[dict[str, str]]:
    """Links to the alert page in each language the alert carries, but ``shown``."""
    path = alert_path(body.identifier)
    return [
        {"tag": tag, "name": language_name(tag), "url": f"{path}?text={tag}"}
        for tag in body.headline
        if tag != shown
    ]


__all__ = [
    "LANGUAGE_NAMES",
    "alert_languages",
    "alert_path",
    "language_name",
    "pick_language",
]
