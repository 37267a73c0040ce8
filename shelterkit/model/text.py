"""Validation of human text: one policy for every field that a person types.

Rejected rather than silently stripped, so a person sees what was wrong and nothing is
stored that differs from what they meant: C0/C1 control characters (except newline and
tab in multi-line fields), invisible format characters that hide or reorder text (zero
width space, bidi overrides, BOM) and unassigned code points. Text is normalised to NFC.
The zero-width joiner and variation selectors are kept: emoji sequences need them.
"""

from __future__ import annotations

import unicodedata

from shelterkit.errors import InputError

# Format characters (category Cf) that are legitimate inside emoji and Indic/Arabic text.
_ALLOWED_FORMAT = frozenset({"\u200d", "\u200c"})  # ZWJ, ZWNJ


def check_text(
    value: str, field: str, *, max_chars: int, multiline: bool = False, allow_empty: bool = True
) -> str:
    """Return ``value`` normalised to NFC, or raise ``InputError`` with a reason code."""
    if multiline:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", value)
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            if multiline and ch in "\n\t":
                continue
            raise InputError("control_chars", field)
        if cat == "Cf" and ch not in _ALLOWED_FORMAT:
            raise InputError("invisible_chars", field)
        if cat in ("Cn", "Cs", "Co"):
            raise InputError("invalid_chars", field)
    if not allow_empty and not text.strip():
        raise InputError("empty", field)
    if len(text) > max_chars:
        raise InputError("too_long", field, f"{len(text)} > {max_chars}")
    return text
