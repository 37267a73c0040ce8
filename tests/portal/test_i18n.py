"""Every string the portal shows has a Japanese translation (Japanese is the default)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from shelterkit.portal.i18n import translations

PORTAL = Path(__file__).resolve().parents[2] / "shelterkit" / "portal"
METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {
    "**/templates/**.html": {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "true",
        "lstrip_blocks": "true",
    }
}


def portal_msgids() -> set[str]:
    ids = set()
    for _file, _line, message, _comments, _ctx in extract_from_dir(
        str(PORTAL), METHODS, options_map=OPTIONS, keywords={"_": None, "gettext": None}
    ):
        ids.add(message if isinstance(message, str) else message[0])
    return {m for m in ids if m}


def test_strings_are_extracted() -> None:
    ids = portal_msgids()
    assert "Official alerts" in ids and "Message board" in ids


def test_every_portal_string_has_a_japanese_translation() -> None:
    ja = translations("ja")
    missing = sorted(m for m in portal_msgids() if ja.gettext(m) == m)
    assert missing == [], f"no Japanese for: {missing}"
