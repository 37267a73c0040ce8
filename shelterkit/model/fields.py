"""Declarative wire fields for record bodies.

A body is a frozen dataclass whose fields carry a small integer wire key and a converter.
``to_wire`` turns a body into a CBOR map with integer keys (compact enough for radio);
``from_wire`` validates every field once, at the edge, and builds the dataclass. Fields
equal to their default are left out of the wire form.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeVar

from shelterkit.errors import InputError, ProtocolError
from shelterkit.model.text import check_text as _check_text

# A language tag as used in bodies: BCP 47, small ("ja", "en", "ja-x-easy", "pt-BR").
MAX_LANG_TAG_CHARS = 16
MAX_LANGS_PER_TEXT = 12


def check_text(value: str, name: str, **limits: Any) -> str:
    """``model.text.check_text`` for bytes that came off the wire: a ``ProtocolError``."""
    try:
        return _check_text(value, name, **limits)
    except InputError as exc:
        raise ProtocolError(f"{name}: {exc.code}") from exc


class Converter(Protocol):
    def to_wire(self, value: Any) -> Any: ...
    def from_wire(self, raw: Any, name: str) -> Any: ...


@dataclasses.dataclass(frozen=True, slots=True)
class Text:
    max_chars: int
    multiline: bool = False
    allow_empty: bool = True

    def to_wire(self, value: Any) -> Any:
        return value

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, str):
            raise ProtocolError(f"{name}: expected text")
        return check_text(
            raw,
            name,
            max_chars=self.max_chars,
            multiline=self.multiline,
            allow_empty=self.allow_empty,
        )


@dataclasses.dataclass(frozen=True, slots=True)
class Int:
    low: int = 0
    high: int = 2**63 - 1

    def to_wire(self, value: Any) -> Any:
        return value

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, int) or isinstance(raw, bool) or not self.low <= raw <= self.high:
            raise ProtocolError(f"{name}: expected an integer in [{self.low}, {self.high}]")
        return raw


@dataclasses.dataclass(frozen=True, slots=True)
class Bool:
    def to_wire(self, value: Any) -> Any:
        return value

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, bool):
            raise ProtocolError(f"{name}: expected a boolean")
        return raw


@dataclasses.dataclass(frozen=True, slots=True)
class Bytes:
    exact: int | None = None
    max_len: int = 1024

    def to_wire(self, value: Any) -> Any:
        return value

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, bytes):
            raise ProtocolError(f"{name}: expected bytes")
        if self.exact is not None and len(raw) != self.exact:
            raise ProtocolError(f"{name}: expected {self.exact} bytes")
        if len(raw) > self.max_len:
            raise ProtocolError(f"{name}: longer than {self.max_len} bytes")
        return raw


@dataclasses.dataclass(frozen=True, slots=True)
class Enum:
    cls: type[enum.IntEnum]

    def to_wire(self, value: Any) -> Any:
        return int(value)

    def from_wire(self, raw: Any, name: str) -> Any:
        try:
            return self.cls(raw)
        except (ValueError, TypeError) as exc:
            raise ProtocolError(f"{name}: unknown value {raw!r}") from exc


@dataclasses.dataclass(frozen=True, slots=True)
class Seq:
    item: Converter
    max_items: int

    def to_wire(self, value: Any) -> Any:
        return [self.item.to_wire(v) for v in value]

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, list) or len(raw) > self.max_items:
            raise ProtocolError(f"{name}: expected a list of at most {self.max_items} items")
        return tuple(self.item.from_wire(v, name) for v in raw)


@dataclasses.dataclass(frozen=True, slots=True)
class Tuple:
    """A fixed-length list of differently typed items, e.g. ``(area, name, value)``."""

    items: tuple[Converter, ...]

    def to_wire(self, value: Any) -> Any:
        return [c.to_wire(v) for c, v in zip(self.items, value, strict=True)]

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, list) or len(raw) != len(self.items):
            raise ProtocolError(f"{name}: expected a list of {len(self.items)} items")
        return tuple(c.from_wire(v, name) for c, v in zip(self.items, raw, strict=True))


@dataclasses.dataclass(frozen=True, slots=True)
class LangText:
    """Text in several languages: ``{"ja": "…", "en": "…"}``; at least one language."""

    max_chars: int
    multiline: bool = False

    def to_wire(self, value: Any) -> Any:
        return dict(value)

    def from_wire(self, raw: Any, name: str) -> Any:
        if not isinstance(raw, dict) or len(raw) > MAX_LANGS_PER_TEXT:
            raise ProtocolError(f"{name}: expected a map of language to text")
        out: dict[str, str] = {}
        for lang, text in raw.items():
            if not isinstance(lang, str) or not 2 <= len(lang) <= MAX_LANG_TAG_CHARS:
                raise ProtocolError(f"{name}: bad language tag {lang!r}")
            if not all(c.isascii() and (c.isalnum() or c == "-") for c in lang):
                raise ProtocolError(f"{name}: bad language tag {lang!r}")
            if not isinstance(text, str):
                raise ProtocolError(f"{name}: expected text")
            out[lang] = check_text(text, name, max_chars=self.max_chars, multiline=self.multiline)
        return out


def wire(key: int, conv: Converter, default: Any = dataclasses.MISSING) -> Any:
    """Declare a body field with wire key ``key`` (0–23 encode in one CBOR byte)."""
    meta = {"key": key, "conv": conv}
    if default is dataclasses.MISSING:
        return dataclasses.field(metadata=meta)
    if isinstance(default, dict | list):
        return dataclasses.field(metadata=meta, default_factory=lambda: type(default)(default))
    return dataclasses.field(metadata=meta, default=default)


class Body(Protocol):
    KIND: ClassVar[Any]


B = TypeVar("B")


def body_to_wire(body: Any) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for f in dataclasses.fields(body):
        value = getattr(body, f.name)
        if f.default is not dataclasses.MISSING and value == f.default:
            continue
        if f.default_factory is not dataclasses.MISSING and value == f.default_factory():
            continue
        out[f.metadata["key"]] = f.metadata["conv"].to_wire(value)
    return out


def body_from_wire(cls: type[B], raw: Any) -> B:
    """Validate ``raw`` (a CBOR map with int keys) into ``cls``. Unknown keys are ignored
    so that newer nodes can add fields; the signature still covers them."""
    if not isinstance(raw, Mapping):
        raise ProtocolError(f"{cls.__name__}: body is not a map")
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        key = f.metadata["key"]
        if key in raw:
            kwargs[f.name] = f.metadata["conv"].from_wire(raw[key], f.name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ProtocolError(f"{cls.__name__}: missing field {f.name}")
    return cls(**kwargs)


def checked_body(body: B) -> B:
    """``body`` round-tripped through its wire form, every field checked as a peer would
    check it; ``InputError`` says what is wrong (for bodies built from staff input)."""
    try:
        return body_from_wire(type(body), body_to_wire(body))
    except ProtocolError as exc:
        raise InputError("invalid", detail=str(exc)) from None
