"""Canonical binary encoding: deterministic CBOR (RFC 8949 §4.2.1) through cbor2.

Every byte string that is signed or hashed is produced here, and every byte string that
arrives from outside is checked here to be in canonical form: decoding and re-encoding
must give the same bytes, so that one logical value has exactly one encoding and a
signature can never be made to cover two different readings.
"""

from __future__ import annotations

from typing import Any

import cbor2

from shelterkit.errors import ProtocolError

# A record travels in one radio burst after compression; 8 KiB bounds any single value the
# decoder will look at (records are far smaller; sync batches are framed per record).
MAX_CANONICAL_BYTES = 8192


def encode(value: Any) -> bytes:
    """Encode ``value`` as deterministic CBOR (sorted map keys, shortest forms)."""
    try:
        return cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, TypeError, ValueError) as exc:
        raise ProtocolError(f"value cannot be encoded: {exc}") from exc


def decode(data: bytes, *, max_bytes: int = MAX_CANONICAL_BYTES) -> Any:
    """Decode canonical CBOR, refusing oversized, trailing, tagged or non-canonical input."""
    if len(data) > max_bytes:
        raise ProtocolError(f"encoded value is {len(data)} bytes, limit {max_bytes}")
    if not data:
        raise ProtocolError("empty input")
    try:
        value = cbor2.loads(data, tag_hook=_refuse_tag, str_errors="strict")
    except ProtocolError:
        raise
    except Exception as exc:  # cbor2 raises a family of errors, plus ValueError/TypeError
        raise ProtocolError(f"not valid CBOR: {exc}") from exc
    if _has_float(value):
        raise ProtocolError("floating point values are not allowed")
    if encode(value) != data:
        raise ProtocolError("not in canonical CBOR form")
    return value


def _refuse_tag(_decoder: Any, tag: Any) -> Any:
    raise ProtocolError(f"CBOR tag {tag.tag} is not allowed")


def _has_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    if isinstance(value, dict):
        return any(_has_float(k) or _has_float(v) for k, v in value.items())
    return False
