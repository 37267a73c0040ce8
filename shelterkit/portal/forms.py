"""Strict parsing of form bodies from phones: bounded, UTF-8 only, no duplicate fields."""

from __future__ import annotations

from urllib.parse import parse_qsl

from shelterkit.errors import InputError
from shelterkit.model.kinds import MAX_NAME_CHARS, MAX_POST_CHARS, PostBody, PostCategory
from shelterkit.model.text import check_text

# A post of 500 characters of 3-byte UTF-8, percent-encoded (×3), plus the other fields.
MAX_FORM_BYTES = 8192
MAX_FORM_FIELDS = 8

CATEGORY_NAMES: dict[str, PostCategory] = {
    "needs": PostCategory.NEEDS,
    "offers": PostCategory.OFFERS,
    "info": PostCategory.INFO,
    "looking": PostCategory.LOOKING,
}
CATEGORY_SLUGS = {v: k for k, v in CATEGORY_NAMES.items()}


def parse_form(body: bytes) -> dict[str, str]:
    if len(body) > MAX_FORM_BYTES:
        raise InputError("too_large")
    try:
        text = body.decode("ascii")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=False,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError:
        raise InputError("bad_encoding") from None
    except ValueError:
        raise InputError("bad_form") from None
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise InputError("bad_form", key)
        out[key] = value
    return out


def post_from_form(form: dict[str, str], shelter: str) -> PostBody:
    """Validate a board form into a post body, or raise ``InputError`` naming the field."""
    text = check_text(
        form.get("text", ""), "text", max_chars=MAX_POST_CHARS, multiline=True, allow_empty=False
    ).strip()
    author = check_text(form.get("name", ""), "name", max_chars=MAX_NAME_CHARS).strip()
    category = CATEGORY_NAMES.get(form.get("category", "info"))
    if category is None:
        raise InputError("bad_choice", "category")
    return PostBody(text=text, category=category, author=author, shelter=shelter)
