"""The preset dictionary for compressing record bodies on radio (zlib/DEFLATE, RFC 1950 §2.2).

A record body is 100–300 bytes, too short for DEFLATE to find repeats within itself;
a preset dictionary of phrases that alerts share (避難指示, 直ちに避難してください, the
CBOR skeleton of an alert body …) lets the first occurrence already be a back-reference.
Both ends must hold the same dictionary, so it is a fixed artifact: built once by
``build_dictionary`` from the corpus in ``tests/data/alerts-ja.txt`` (written for this
project), stored in ``_zdict_data.py`` and pinned by ``DICTIONARY_SHA256``; a test rebuilds
it and checks. A new dictionary is a new radio format (``compact.BUNDLE_SYNC``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence

from shelterkit.model import codec
from shelterkit.model.fields import body_to_wire
from shelterkit.model.kinds import AlertBody, Severity, StatusBody, Urgency
from shelterkit.radio._zdict_data import DICTIONARY_HEX

# DEFLATE's window is 32 KiB (RFC 1951 §2); 8 KiB of phrases measured best on held-out
# alerts (about 72 B of 174 B compressed, against 84 B with 4 KiB): docs/radio.md.
DICTIONARY_BYTES = 8192
# Substring lengths considered (bytes): from a 4-byte CBOR head to a 10-character phrase.
_NGRAM_BYTES = (4, 6, 8, 10, 12, 15, 18, 21, 24, 30)
# Times ``sent_ms`` moves between samples, so that the dictionary holds no particular time.
_SAMPLE_TIME_STEP_MS = 977
_SAMPLE_TIME_MS = 1_790_000_000_000


def corpus_lines(text: str) -> list[str]:
    """Alert texts of a corpus file: one per line, ``#`` comments and blanks left out."""
    return [s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#")]


def sample_bodies(texts: Sequence[str]) -> list[bytes]:
    """Canonical CBOR bodies as the radio sees them: alerts with the texts, and a status."""
    out = []
    for i, text in enumerate(texts):
        body = AlertBody(
            identifier=f"nasukarasuyama-2026-{i:04d}",
            headline={"ja": text},
            severity=Severity.SEVERE,
            urgency=Urgency.IMMEDIATE,
            sent_ms=_SAMPLE_TIME_MS + i * _SAMPLE_TIME_STEP_MS,
        )
        out.append(codec.encode(body_to_wire(body)))
    status = StatusBody(shelter="S01", headcount=120, battery_pct=80, clients=30)
    out.append(codec.encode(body_to_wire(status)))
    return out


def build_dictionary(samples: Iterable[bytes], max_bytes: int = DICTIONARY_BYTES) -> bytes:
    """Most shared substrings first by (documents × length), most valuable placed last.

    DEFLATE codes a nearer match more cheaply, so the end of a preset dictionary is worth
    most. Deterministic: ties are broken by the bytes themselves.
    """
    counts: Counter[bytes] = Counter()
    for sample in samples:
        seen: set[bytes] = set()
        for n in _NGRAM_BYTES:
            for i in range(len(sample) - n + 1):
                seen.add(sample[i : i + n])
        counts.update(seen)
    ranked = sorted(
        ((count * len(gram), gram) for gram, count in counts.items() if count >= 2),
        key=lambda item: (-item[0], item[1]),
    )
    chosen: list[bytes] = []
    total = 0
    for _score, gram in ranked:
        if any(gram in c for c in chosen):
            continue
        chosen = [c for c in chosen if c not in gram]
        chosen.append(gram)
        total = sum(map(len, chosen))
        if total >= max_bytes:
            break
    return b"".join(reversed(chosen))[-max_bytes:]


ALERT_DICTIONARY = bytes.fromhex(DICTIONARY_HEX)
DICTIONARY_SHA256 = "a5a6dd9ffc2c586852f3ea56057cb0b7e5a4a0214a3cd5315078b96b3f9a7d2e"

if hashlib.sha256(ALERT_DICTIONARY).hexdigest() != DICTIONARY_SHA256:  # pragma: no cover
    raise ImportError("shelterkit/radio/_zdict_data.py does not match DICTIONARY_SHA256")
