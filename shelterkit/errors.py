"""The one exception tree of shelterkit.

Foreign exceptions (sqlite3, cbor2, nacl, OSError …) are translated into these at the
boundary where they occur, so callers only ever catch ``ShelterkitError`` subclasses.
"""

from __future__ import annotations


class ShelterkitError(Exception):
    """Base of every error shelterkit raises on purpose."""


class ConfigError(ShelterkitError):
    """A configuration file or option is invalid; the message says which and why."""


class InputError(ShelterkitError):
    """Input from a person (form, CLI argument, file) is not acceptable.

    ``code`` is a stable machine-readable reason used to pick a translated message;
    ``field`` names the offending field when there is one.
    """

    def __init__(self, code: str, field: str = "", detail: str = "") -> None:
        self.code = code
        self.field = field
        self.detail = detail
        where = f"{field}: " if field else ""
        super().__init__(f"{where}{code}{' (' + detail + ')' if detail else ''}")


class ProtocolError(ShelterkitError):
    """Bytes from a peer or a file do not form a valid message or record."""


class TrustError(ProtocolError):
    """A record is well-formed but its signature or its signer's authority is not valid."""


class StorageError(ShelterkitError):
    """The store cannot complete an operation (disk full, corruption, closed)."""


class LinkError(ShelterkitError):
    """A link to a peer (HTTP, serial, radio) failed."""
