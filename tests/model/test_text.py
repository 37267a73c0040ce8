from __future__ import annotations

import pytest

from shelterkit.errors import InputError
from shelterkit.model.text import check_text


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("a\x00b", "control_chars"),
        ("a\x1bb", "control_chars"),
        ("a\x85b", "control_chars"),
        ("zero\u200bwidth", "invisible_chars"),
        ("rtl\u202eoverride", "invisible_chars"),
        ("bom\ufeff", "invisible_chars"),
        ("private\ue000", "invalid_chars"),
        ("   ", "empty"),
        ("x" * 11, "too_long"),
    ],
)
def test_bad_text_rejected(text: str, code: str) -> None:
    with pytest.raises(InputError) as info:
        check_text(text, "f", max_chars=10, allow_empty=False)
    assert info.value.code == code


def test_newlines_only_in_multiline() -> None:
    assert check_text("a\r\nb", "f", max_chars=10, multiline=True) == "a\nb"
    with pytest.raises(InputError):
        check_text("a\nb", "f", max_chars=10)


def test_emoji_sequences_and_japanese_kept() -> None:
    family = "👨\u200d👩\u200d👧"
    assert check_text(family, "f", max_chars=10) == family
    assert check_text("ｶﾀｶﾅと漢字", "f", max_chars=10) == "ｶﾀｶﾅと漢字"


def test_nfc_normalisation() -> None:
    assert check_text("か\u3099", "f", max_chars=5) == "が"
