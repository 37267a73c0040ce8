"""The city-hall role: the authority key, enrolment, issuing alerts, the fleet view.

A hub is a node (same store, same sync) that also holds the authority key. Records it
signs as the authority get their own sequence numbers in the same store, so they
replicate like everything else.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shelterkit.config import Config
from shelterkit.errors import InputError
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
    def __init__(self, node: Node, authority: Identity) -> None:
        self.node = node
        self.authority = authority

    @classmethod
    async def open(
        cls,
        config: Config,
        wall_ms: Callable[[], int],
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> Hub:
        paths = DataPaths(Path(config.node.data_dir))
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
        hub = cls(node, authority)
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
