"""Search keys for names, made for Japanese (issue 8; anchors-reliability §3.4 U3–U4).

A name is stored as typed; matching happens on a folded form, computed the same way for
what is stored and for what is searched:

1. NFKC: full-width Latin and digits become ASCII, half-width katakana become full width
   (``ﾔﾏﾀﾞ`` → ``ヤマダ``, the voicing mark composed), compatibility ideographs become their
   unified form.
2. Case folded; accents on Latin letters dropped (``José`` → ``jose``); kana voicing kept.
3. Hiragana → katakana (``jaconv``), so ``やまだ`` and ``ヤマダ`` are one key.
4. The long vowel mark becomes the vowel it stands for (``ユーコ`` → ``ユウコ``), and an
   ``オ`` lengthening an o-row kana becomes ``ウ`` (``オオノ`` ≡ ``オウノ``), the two ways
   people spell a long o.
5. Small kana become large (``ショウ`` ≡ ``シヨウ``): old rosters and phones disagree.
6. Common variant kanji become the form in everyday use (``VARIANT_KANJI``); ``々``
   repeats the kanji before it (``佐々木`` ≡ ``佐佐木``).
7. Everything that is not a letter, digit or kana voicing mark is removed: spaces,
   middle dots, hyphens, zero-width and other invisible characters, emoji, wildcards.

Pure: standard library and ``jaconv`` only; no dictionary is loaded, so a kanji name is
found by its kanji or by the kana reading that was registered with it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

import jaconv

from shelterkit.errors import InputError

# A query shorter than this (after folding) is refused: one kana would list half the
# registry (anti-enumeration, issue 8). A kanji counts double: 林 and 森 are whole names.
MIN_QUERY_CHARS = 2
# Queries this long or longer match as a prefix of a name or reading; shorter ones (a
# two-kanji family name such as 山田) must match a whole name part.
PREFIX_MIN_CHARS = 3
# Folded keys are cut to this length: longer than any name part, bounds index size.
MAX_KEY_CHARS = 64
# Search terms kept per person (family, given, full both ways, reading parts and whole).
MAX_TERMS_PER_PERSON = 12
# Space-separated words of a query that are matched separately.
MAX_QUERY_TOKENS = 4

# Variant (旧字体 / 異体字) → everyday form, for kanji common in family names that NFKC does
# not unify. Sources: 常用漢字表 (内閣告示第2号, 2010), the traditional forms in its
# brackets; 戸籍法施行規則 別表第二 (人名用漢字) 二, variants of 常用漢字; and the 異体字 of
# family names that registry staff meet most (髙, 﨑, 邊/邉, 齋/齊).
VARIANT_KANJI: dict[str, str] = {
    "髙": "高",
    "﨑": "崎",
    "嵜": "崎",
    "碕": "崎",
    "邊": "辺",
    "邉": "辺",
    "齋": "斎",
    "齊": "斎",
    "斉": "斎",
    "濱": "浜",
    "澤": "沢",
    "櫻": "桜",
    "嶋": "島",
    "嶌": "島",
    "廣": "広",
    "國": "国",
    "圀": "国",
    "德": "徳",
    "惠": "恵",
    "榮": "栄",
    "眞": "真",
    "實": "実",
    "淺": "浅",
    "壽": "寿",
    "藏": "蔵",
    "萬": "万",
    "與": "与",
    "冨": "富",
    "峯": "峰",
    "槇": "槙",
    "瀨": "瀬",
    "條": "条",
    "戶": "戸",
    "龍": "竜",
    "舘": "館",
    "檜": "桧",
    "籠": "篭",
    "曾": "曽",
    "驒": "騨",
    "鷗": "鴎",
    "兒": "児",
    "淵": "渕",
    "渊": "渕",
    "莊": "荘",
    "來": "来",
    "傳": "伝",
    "驛": "駅",
    "縣": "県",
    "靜": "静",
    "彌": "弥",
    "禮": "礼",
    "晉": "晋",
    "亞": "亜",
    "惡": "悪",
    "乘": "乗",
}

_SMALL_KANA = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_LONG_MARKS = "ー〜～"
_ITERATION_MARK = "々"
# Kana voicing marks survive accent stripping: ガ decomposes to カ + U+3099.
_KANA_MARKS = frozenset({"\u3099", "\u309a"})
_VOWEL_OF: dict[str, str] = {}
for _row, _vowel in (
    ("アカサタナハマヤラワガザダバパァャヮヵ", "ア"),
    ("イキシチニヒミリギジヂビピィ", "イ"),
    ("ウクスツヌフムユルグズヅブプゥッュヴ", "ウ"),
    ("エケセテネヘメレゲゼデベペェヶ", "エ"),
    ("オコソトノホモヨロヲゴゾドボポォョ", "オ"),
):
    for _kana in _row:
        _VOWEL_OF[_kana] = _vowel
# What a long vowel mark after each vowel row is usually written as.
_LONG_VOWEL = {"ア": "ア", "イ": "イ", "ウ": "ウ", "エ": "イ", "オ": "ウ"}


def _strip_latin_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    kept = (
        c for c in decomposed if c in _KANA_MARKS or not unicodedata.category(c).startswith("M")
    )
    return unicodedata.normalize("NFC", "".join(kept))


def _lengthen(text: str) -> str:
    out: list[str] = []
    for ch in text:
        prev = out[-1] if out else ""
        if ch in _LONG_MARKS:
            vowel = _VOWEL_OF.get(prev)
            if vowel is not None:
                out.append(_LONG_VOWEL[vowel])
            continue  # a lone mark (or after a kanji) carries nothing to match on
        if ch == "オ" and _VOWEL_OF.get(prev) == "オ":
            ch = "ウ"
        elif ch == _ITERATION_MARK:
            ch = prev if prev and not _is_kana(prev) else ""
        out.append(ch)
    return "".join(out)


def _is_kana(ch: str) -> bool:
    return "\u30a0" <= ch <= "\u30ff"


def _keep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "LN" or ch in _KANA_MARKS


def fold(text: str) -> str:
    """The matching form of ``text``: see the module docstring. Never raises."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _strip_latin_accents(text)
    text = "".join(VARIANT_KANJI.get(c, c) for c in text)
    text = jaconv.hira2kata(text)
    text = "".join(c for c in text if _keep(c) or c in _LONG_MARKS or c == _ITERATION_MARK)
    # small kana first: a small ォ after the オ row is lengthened like a full-size one, so
    # that folding twice changes nothing (ォォ → オウ, never オオ)
    text = _lengthen(text.translate(_SMALL_KANA))
    return text[:MAX_KEY_CHARS]


def _words(text: str) -> list[str]:
    return [w for w in unicodedata.normalize("NFKC", text).split() if w]


def search_terms(
    full_name: str, family_name: str, given_name: str, reading: str
) -> tuple[str, ...]:
    """The keys under which a person is found: each name part and the whole name in both
    orders, for the written name and for its reading. Sorted, deduplicated, bounded."""
    terms: list[str] = []
    family, given = fold(family_name), fold(given_name)
    terms += [family, given, family + given, given + family]
    full_words = [fold(w) for w in _words(full_name)]
    terms += [*full_words, "".join(full_words), "".join(reversed(full_words))]
    reading_words = [fold(w) for w in _words(reading)]
    terms += [*reading_words, "".join(reading_words), "".join(reversed(reading_words))]
    unique = sorted({t[:MAX_KEY_CHARS] for t in terms if t})
    return tuple(unique[:MAX_TERMS_PER_PERSON])


def _weight(key: str) -> int:
    """Length of a folded key for the minimum-length rule; an ideograph counts as two."""
    return sum(2 if unicodedata.name(c, "").startswith("CJK") else 1 for c in key)


@dataclass(frozen=True, slots=True)
class NameQuery:
    """A folded search: the whole query without spaces, and its words."""

    whole: str
    words: tuple[str, ...]

    @property
    def prefix(self) -> bool:
        """Whether ``whole`` may match the beginning of a longer name."""
        return len(self.whole) >= PREFIX_MIN_CHARS


def query_keys(text: str, field: str = "q") -> NameQuery:
    """Fold a search as typed; refuse one that is too short to be a name (enumeration)."""
    words = [fold(w) for w in _words(text)]
    words = [w for w in words if w]
    whole = "".join(words)[:MAX_KEY_CHARS]
    if _weight(whole) < MIN_QUERY_CHARS:
        raise InputError("too_short", field)
    kept = tuple(w for w in words if _weight(w) >= MIN_QUERY_CHARS)[:MAX_QUERY_TOKENS]
    return NameQuery(whole, kept if len(kept) > 1 else ())


def matches(query: NameQuery, terms: Iterable[str]) -> bool:
    """The store's matching rule as a pure function (tests and the hub's in-memory view):
    the whole query equals a term (or begins one, if long enough), or every word does."""

    def hit(key: str, candidates: list[str]) -> bool:
        if len(key) >= PREFIX_MIN_CHARS:
            return any(t.startswith(key) for t in candidates)
        return key in candidates

    items = list(terms)
    if hit(query.whole, items):
        return True
    return bool(query.words) and all(hit(w, items) for w in query.words)


__all__ = [
    "MIN_QUERY_CHARS",
    "PREFIX_MIN_CHARS",
    "VARIANT_KANJI",
    "NameQuery",
    "fold",
    "matches",
    "query_keys",
    "search_terms",
]
