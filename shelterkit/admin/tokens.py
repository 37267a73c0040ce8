"""Staff bearer tokens: ``sk1.<expiry>.<mac>[.<node>]``, HMAC-SHA256 under a secret kept
in the data directory (mode 0600). Anyone holding the secret can mint tokens; tokens expire.
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
# A token may name the node it opens by the first hex digits of its key
# (``sk1.<expiry>.<mac>.<node>``), so that a client finding nodes on a LAN sends it to that
# node only, and only after the node has proved it holds that key (``proof_message``).
NODE_HEX_DIGITS = 16
# What a node signs to prove its key to a staff client before a token is sent.
PROOF_DOMAIN = b"shelterkit/staff-proof/v1\x00"
PROOF_NONCE_BYTES = 32


def _mac(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, f"{TOKEN_PREFIX}.{payload}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:_MAC_BYTES]).decode()


def mint_token(
    secret: bytes, now_s: float, ttl_s: int = DEFAULT_TOKEN_TTL_S, node: bytes = b""
) -> str:
    """A token that expires after ``ttl_s``; with ``node``, one that names that node."""
    expiry = int(now_s) + ttl_s
    if not node:
        return f"{TOKEN_PREFIX}.{expiry}.{_mac(secret, str(expiry))}"
    named = node.hex()[:NODE_HEX_DIGITS]
    return f"{TOKEN_PREFIX}.{expiry}.{_mac(secret, f'{expiry}.{named}')}.{named}"


def token_node(token: str) -> str | None:
    """The hex prefix of the node key a token names, if it names one."""
    parts = token.split(".")
    if len(parts) == 4 and _is_node_prefix(parts[3]):
        return parts[3]
    return None


def _is_node_prefix(text: str) -> bool:
    return len(text) == NODE_HEX_DIGITS and all(c in "0123456789abcdef" for c in text)


def check_token(secret: bytes, token: str, now_s: float, node: bytes = b"") -> None:
    """Raise ``InputError`` with code ``unauthorized`` or ``expired``. A token that names a
    node opens only the node whose key (``node``) it names."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise InputError("unauthorized")
    parts = token.split(".")
    if len(parts) not in (3, 4) or parts[0] != TOKEN_PREFIX or not parts[1].isdigit():
        raise InputError("unauthorized")
    expiry_text, mac = parts[1], parts[2]
    payload = expiry_text
    if len(parts) == 4:
        named = parts[3]
        if not _is_node_prefix(named) or (node and named != node.hex()[:NODE_HEX_DIGITS]):
            raise InputError("unauthorized")
        payload = f"{expiry_text}.{named}"
    if not hmac.compare_digest(mac.encode(), _mac(secret, payload).encode()):
        raise InputError("unauthorized")
    if now_s >= int(expiry_text):
        raise InputError("expired")


def proof_message(nonce: bytes) -> bytes:
    """What a node signs, with its key, to show a staff client it is who it advertises."""
    return PROOF_DOMAIN + nonce
