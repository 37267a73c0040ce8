"""Folding Japanese names for search (model/names.py)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from shelterkit.errors import InputError
from shelterkit.model.names import (
    MAX_KEY_CHARS,
    MAX_TERMS_PER_PERSON,
    fold,
    matches,
    query_keys,
    search_terms,
)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("やまだ たろう", "ヤマダタロウ"),  # hiragana ≡ katakana, spaces optional
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),  # half width, voicing mark composed
        ("山田　太郎", "山田太郎"),  # ideographic space
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("齋藤", "斎藤"),
        ("齊藤", "斉藤"),
        ("濱田", "浜田"),
        ("澤田", "沢田"),
        ("櫻井", "桜井"),
        ("佐々木", "佐佐木"),
        ("ゆうこ", "ユーコ"),  # long vowel mark
        ("しょうた", "ショータ"),
        ("しよう", "しょう"),  # small kana
        ("おおの", "オーノ"),  # long o written two ways
        ("ＳＡＴＯ", "sato"),
        ("José", "jose"),
    ],
)
def test_folds_to_the_same_key(a: str, b: str) -> None:
    assert fold(a) == fold(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [("カ", "ガ"), ("はな", "はんな"), ("高橋", "高梁"), ("さとう", "さいとう")],
)
def test_different_names_stay_apart(a: str, b: str) -> None:
    assert fold(a) != fold(b)


def test_invisible_and_decorative_characters_do_not_split_keys() -> None:
    assert fold("山\u200b田") == fold("山田") == fold("山田🙂") == fold("山・田")


def test_terms_cover_parts_both_orders_and_reading() -> None:
    terms = search_terms("", "山田", "太郎", "やまだ たろう")
    for query in (
        "山田",
        "太郎",
        "山田太郎",
        "太郎 山田",
        "やまだ",
        "ﾀﾛｳ",
        "ヤマダ タロウ",
        "やまだた",
    ):
        assert matches(query_keys(query), terms), query
    for query in ("山", "田太", "たろうやまだx"):
        assert not matches(query_keys(query), terms), query


def test_two_character_queries_match_whole_parts_only() -> None:
    terms = search_terms("", "山田", "太郎", "やまだ たろう")
    assert not matches(query_keys("やま"), terms)  # not a prefix search below 3 characters
    assert matches(query_keys("林"), search_terms("", "林", "誠", ""))


@pytest.mark.parametrize("query", ["", " ", "あ", "a", "*", "%", "%%", "_", "?", "🙂🙂", "\u200b"])
def test_short_or_wildcard_query_rejected(query: str) -> None:
    with pytest.raises(InputError) as exc:
        query_keys(query)
    assert exc.value.code == "too_short"


@given(st.text(max_size=80))
@example("ォォ")  # once folded to オオ, which folds again to オウ
@settings(max_examples=500, deadline=None)
def test_fold_is_total_bounded_and_idempotent(text: str) -> None:
    key = fold(text)
    assert len(key) <= MAX_KEY_CHARS
    assert fold(key) == key
    assert all(not c.isspace() for c in key)


@given(st.text(max_size=50), st.text(max_size=50), st.text(max_size=50))
@settings(max_examples=200, deadline=None)
def test_terms_are_bounded(family: str, given_name: str, reading: str) -> None:
    terms = search_terms("", family, given_name, reading)
    assert len(terms) <= MAX_TERMS_PER_PERSON
    assert all(0 < len(t) <= MAX_KEY_CHARS for t in terms)
