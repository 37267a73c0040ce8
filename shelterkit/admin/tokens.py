"""Staff bearer tokens: ``sk1.<expiry>.<mac>``, HMAC-SHA256 under a secret kept in the
data directory (mode 0600). Anyone holding the secret can mint tokens; tokens expire.
Pure: time is passed in."""

from __future__ import annotations

import base64
import hashlib
import hmac

from shelterkit.errors import InputError

TOKEN_PREFIX = "sk1"
# A demo or a shift: tokens for people last a week unless asked otherwise.
DEFAULT_TOKEN_TTL_S = 7 * 24 * 3600
MAX_TOKEN_CHARS = 128
_MAC_BYTES = 18


def _mac(secret: bytes, expiry_s: int) -> str:
    digest = hmac.new(secret, f"{TOKEN_PREFIX}.{expiry_s}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode()


def mint_token(secret: bytes, now_s: float, ttl_s: int = DEFAULT_TOKEN_TTL_S) -> str:
    expiry = int(now_s) + ttl_s
    return f"{TOKEN_PREFIX}.{expiry}.{_mac(secret, expiry)}"


def check_token(secret: bytes, token: str, now_s: float) -> None:
    """Raise ``InputError`` with code ``unauthorized`` or ``expired``."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InputError("unauthorized")
    prefix, _, rest = token.partition(".")
    expiry_text, _, mac = rest.partition(".")
    if prefix != TOKEN_PREFIX or not expiry_text.isdigit():
        raise InputError("unauthorized")
    expiry = int(expiry_text)
    if not hmac.compare_digest(mac.encode(), _mac(secret, expiry).encode()):
        raise InputError("unauthorized")
    if now_s >= expiry:
        raise InputError("expired")
