"""Abuse guards for the open Wi-Fi: CSRF tokens and per-client rate limits. Pure; the
caller passes ``now`` (seconds) and the secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
from collections import OrderedDict
from dataclasses import dataclass

from shelterkit.errors import InputError

# A form stays valid this long: long enough to write a post on a small screen.
CSRF_TTL_S = 2 * 3600
# Used tokens remembered to refuse replays; older than CSRF_TTL_S they expire anyway.
MAX_USED_TOKENS = 65536
_NONCE_BYTES = 8
_MAC_BYTES = 12
# Clients tracked by the rate limiter; the least recently seen is forgotten first.
MAX_RATE_CLIENTS = 4096


class CsrfTokens:
    """Tokens bound to a client address, valid once, for ``CSRF_TTL_S``.

    No cookie is needed: captive-portal mini-browsers keep none (anchors-tech §1.3).
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._used: OrderedDict[bytes, float] = OrderedDict()

    def issue(self, client: str, now: float, nonce: bytes) -> str:
        head = nonce[:_NONCE_BYTES].ljust(_NONCE_BYTES, b"\0") + struct.pack(">I", int(now))
        mac = hmac.new(self._secret, client.encode() + b"|" + head, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(head + mac[:_MAC_BYTES]).decode().rstrip("=")

    def redeem(self, token: str, client: str, now: float) -> None:
        """Accept ``token`` once for ``client``; raise ``InputError('csrf')`` otherwise."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (ValueError, TypeError):
            raise InputError("csrf", "csrf") from None
        if len(raw) != _NONCE_BYTES + 4 + _MAC_BYTES:
            raise InputError("csrf", "csrf")
        head, mac = raw[: _NONCE_BYTES + 4], raw[_NONCE_BYTES + 4 :]
        good = hmac.new(self._secret, client.encode() + b"|" + head, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, good[:_MAC_BYTES]):
            raise InputError("csrf", "csrf")
        (issued,) = struct.unpack(">I", head[_NONCE_BYTES:])
        if not issued - 60 <= now <= issued + CSRF_TTL_S:
            raise InputError("csrf_expired", "csrf")
        self._expire(now)
        if head in self._used:
            raise InputError("csrf_replayed", "csrf")
        self._used[head] = now
        if len(self._used) > MAX_USED_TOKENS:
            self._used.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._used:
            head, seen = next(iter(self._used.items()))
            if now - seen <= CSRF_TTL_S:
                break
            del self._used[head]


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token bucket per client: ``burst`` actions at once, one more every ``interval_s``."""

    def __init__(self, burst: int, interval_s: float, max_clients: int = MAX_RATE_CLIENTS):
        self._burst = float(burst)
        self._rate = 1.0 / interval_s
        self._max = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Spend one token. Returns 0 if allowed, else the seconds to wait."""
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self._burst, now)
            self._buckets[client] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        self._buckets.move_to_end(client)
        bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def __len__(self) -> int:
        return len(self._buckets)
