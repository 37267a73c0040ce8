"""Shared test helpers: deterministic identities and records."""

from __future__ import annotations

import hashlib

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import AlertBody, AnyBody, PostBody, Severity
from shelterkit.model.record import Record, sign_record


def identity(name: str) -> Identity:
    """A deterministic identity per name, so failures are reproducible."""
    return Identity(hashlib.sha256(name.encode()).digest())


def post(who: Identity, seq: int, hlc: int, text: str = "hello") -> Record:
    return sign_record(who, seq, hlc, PostBody(text=text))


def alert(who: Identity, seq: int, hlc: int, ident: str = "a1", **kw: object) -> Record:
    body: AnyBody = AlertBody(
        identifier=ident,
        headline={"ja": "避難指示", "en": "Evacuate"},
        **kw,  # type: ignore[arg-type]
    )
    return sign_record(who, seq, hlc, body)


__all__ = ["Severity", "alert", "identity", "post"]
