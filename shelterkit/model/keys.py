"""Ed25519 identities (PyNaCl / libsodium).

A node, a staff member or a city-hall authority is identified by its 32-byte Ed25519
public key. Private keys live in files written by provisioning (or created on first run);
this module only turns bytes into keys and signs/verifies.
"""

from __future__ import annotations

from dataclasses import dataclass

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from shelterkit.errors import ProtocolError, TrustError

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
SEED_BYTES = 32


@dataclass(frozen=True, slots=True)
class Identity:
    """A private signing identity. ``public`` is what other machines know it by."""

    seed: bytes

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise ProtocolError(f"a key seed is {SEED_BYTES} bytes, got {len(self.seed)}")

    @classmethod
    def from_random(cls, random_bytes: bytes) -> Identity:
        """Build from caller-supplied randomness (``os.urandom(32)`` at the edge)."""
        return cls(bytes(random_bytes))

    @property
    def public(self) -> bytes:
        return bytes(SigningKey(self.seed).verify_key)

    def sign(self, message: bytes) -> bytes:
        return SigningKey(self.seed).sign(message).signature

    def __repr__(self) -> str:  # never print the seed
        return f"Identity(public={self.public.hex()[:16]}…)"


def verify(public_key: bytes, message: bytes, signature: bytes) -> None:
    """Raise ``TrustError`` unless ``signature`` is ``public_key``'s over ``message``."""
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise TrustError("malformed key or signature")
    try:
        VerifyKey(public_key).verify(message, signature)
    except (BadSignatureError, ValueError) as exc:
        raise TrustError("bad signature") from exc


def short_id(public_key: bytes) -> str:
    """A human-sized name for a key, as shown in logs and the TUI."""
    return public_key.hex()[:12]
