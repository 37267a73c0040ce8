"""The city-hall role: the authority key, enrolment, issuing alerts, the fleet view.

A hub is a node (same store, same sync) that also holds the authority key. Records it
signs as the authority get their own sequence numbers in the same store, so they
replicate like everything else.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from shelterkit.cap import CapRefused, parse_cap
from shelterkit.config import Config
from shelterkit.errors import ConfigError, InputError
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.keys import Identity, short_id
from shelterkit.model.kinds import (
    AlertBody,
    AnyBody,
    EnrolBody,
    Kind,
    NoticeBody,
    RevokeBody,
    StatusBody,
)
from shelterkit.model.record import Record
from shelterkit.model.trust import HUB_SHELTER_ID
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import Node, load_or_create_identity

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
# A file of pinned certificates holds a chain at most; a city pins a handful.
MAX_PINNED_CERT_FILE_BYTES = 64 * 1024
MAX_PINNED_CERTS = 32


def load_pinned_certs(paths: Sequence[str]) -> tuple[str, ...]:
    """The PEM certificates of ``[hub] cap_certificates``, one string each; ``ConfigError``
    with the reason for a file that cannot be read or holds no certificate."""
    if not paths:
        return ()
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    certs: list[str] = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_PINNED_CERT_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigError(
                f"[hub] cap_certificates: cannot read {path}: {exc.strerror}"
            ) from None
        if len(data) > MAX_PINNED_CERT_FILE_BYTES:
            raise ConfigError(f"[hub] cap_certificates: {path} is not a PEM certificate file")
        try:
            loaded = x509.load_pem_x509_certificates(data)
        except ValueError:
            raise ConfigError(f"[hub] cap_certificates: {path} holds no PEM certificate") from None
        certs += [c.public_bytes(Encoding.PEM).decode() for c in loaded]
    if len(certs) > MAX_PINNED_CERTS:
        raise ConfigError(f"[hub] cap_certificates: more than {MAX_PINNED_CERTS} certificates")
    return tuple(certs)


@dataclass(frozen=True, slots=True)
class CapImport:
    """One imported CAP document: its record, and whether it was new (False: the hub held
    the same alert already, so nothing was signed)."""

    identifier: str
    record: Record
    new: bool


@dataclass(frozen=True, slots=True)
class ShelterView:
    """One row of the fleet overview."""

    shelter: str
    name: str
    node: str  # hex key
    revoked: bool
    last_contact_ms: int | None
    headcount: int | None
    battery_pct: int | None
    clients: int | None
    status_ms: int | None


class Hub:
    def __init__(self, node: Node, authority: Identity, pinned_certs: Sequence[str] = ()) -> None:
        self.node = node
        self.authority = authority
        # PEM certificates whose CAP XML signatures are trusted ([hub] cap_certificates).
        self.pinned_certs = tuple(pinned_certs)
        self._import_lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        config: Config,
        wall_ms: Callable[[], int],
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> Hub:
        paths = DataPaths(Path(config.node.data_dir))
        pinned = load_pinned_certs(config.hub.cap_certificates)
        authority = load_or_create_identity(paths.authority_key, random_bytes)
        keys = list(config.node.authority_keys)
        if authority.public.hex() not in keys:
            keys.append(authority.public.hex())
        config = dataclasses.replace(
            config,
            node=dataclasses.replace(config.node, authority_keys=keys),
            shelter=dataclasses.replace(config.shelter, id=HUB_SHELTER_ID),
        )
        # City hall signs at once (alerts are urgent); see docs/durability.md for the risk.
        node = await Node.open(config, wall_ms, random_bytes, sign_at_once=True)
        node.add_signer(authority.public)
        hub = cls(node, authority, pinned)
        if node.enrolment is None:
            record = await hub.enrol(node.identity.public, HUB_SHELTER_ID, "City hall hub")
            write_private_file(paths.enrolment, record.wire)
            node.enrolment = record
        log.info(
            "hub: authority %s, node %s", short_id(authority.public), short_id(node.identity.public)
        )
        return hub

    async def close(self) -> None:
        await self.node.close()

    async def sign_as_authority(self, body: AnyBody) -> Record:
        return await self.node.publish_as(self.authority, body)

    async def enrol(self, node_key: bytes, shelter: str, name: str = "") -> Record:
        if node_key in self.node.trust.revoked:
            raise InputError("revoked", "node_key", "a revoked key cannot be enrolled again")
        return await self.sign_as_authority(
            EnrolBody(node_key=node_key, shelter=shelter, name=name)
        )

    async def revoke(self, node_key: bytes, reason: str = "") -> Record:
        return await self.sign_as_authority(RevokeBody(node_key=node_key, reason=reason))

    async def issue_alert(self, body: AlertBody) -> Record:
        return await self.sign_as_authority(body)

    def alert_identifiers(self) -> set[str]:
        return {
            r.body.identifier for r in self.node.heads.values() if isinstance(r.body, AlertBody)
        }

    async def import_cap(self, xml: bytes) -> CapImport:
        """Import one CAP 1.2 document (every import path comes here): parsed and checked
        with the pinned certificates, signed as the authority. Idempotent: a document whose
        alert the hub already holds, identical, signs nothing, so a file imported twice
        (a restart between import and moving it, a feed polled again) is one record."""
        async with self._import_lock:
            body = parse_cap(
                xml,
                self.node.wall_ms(),
                known_identifiers=self.alert_identifiers(),
                pinned_certs=self.pinned_certs,
            )
            held = self.node.heads.get(b"A" + body.identifier.encode())
            if held is not None and held.body == body:
                return CapImport(body.identifier, held, False)
            record = await self.issue_alert(body)
            log.info("hub: imported CAP alert %s", body.identifier)
            return CapImport(body.identifier, record, True)

    async def import_cap_batch(
        self, documents: Sequence[tuple[K, bytes]]
    ) -> dict[K, CapImport | CapRefused]:
        """Import several documents in the given order. One that refers to an alert not
        yet held (an Update read before its original) is tried again after the others,
        so the order files arrive in does not matter; what still fails is refused."""
        results: dict[K, CapImport | CapRefused] = {}
        pending = list(documents)
        while pending:
            waiting: list[tuple[K, bytes]] = []
            for key, xml in pending:
                try:
                    results[key] = await self.import_cap(xml)
                except CapRefused as exc:
                    results[key] = exc
                    if exc.code == "unknown_reference":
                        waiting.append((key, xml))
            if len(waiting) == len(pending):
                break
            pending = waiting
        return results

    async def issue_notice(self, body: NoticeBody) -> Record:
        return await self.sign_as_authority(body)

    async def fleet(self) -> list[ShelterView]:
        """Every enrolled shelter with its last contact and latest status."""
        enrolments = await self.node.store.heads([Kind.ENROL, Kind.REVOKE])
        rows = []
        for record in enrolments.values():
            body = record.body
            if not isinstance(body, EnrolBody | RevokeBody):
                continue
            key = body.node_key
            if isinstance(body, RevokeBody):
                rows.append(ShelterView("?", "", key.hex(), True, None, None, None, None, None))
                continue
            if body.shelter == HUB_SHELTER_ID:
                continue
            contact = self.node.peers.get(key)
            status = self.node.heads.get(b"S" + key)
            sb = status.body if status is not None else None
            rows.append(
                ShelterView(
                    shelter=body.shelter,
                    name=body.name,
                    node=key.hex(),
                    revoked=key in self.node.trust.revoked,
                    last_contact_ms=contact.last_ms if contact else None,
                    headcount=sb.headcount if isinstance(sb, StatusBody) else None,
                    battery_pct=sb.battery_pct if isinstance(sb, StatusBody) else None,
                    clients=sb.clients if isinstance(sb, StatusBody) else None,
                    status_ms=wall_ms_of(status.hlc) if status is not None else None,
                )
            )
        rows.sort(key=lambda r: r.shelter)
        return rows
