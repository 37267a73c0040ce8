"""A small city of identities and in-memory replicas, shared by the sync tests."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import EnrolBody, PostBody, StatusBody
from shelterkit.model.record import Record
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync.memory import MemoryReplica
from shelterkit.sync.session import SessionConfig

WALL_MS = 1_790_000_000_000  # a fixed "now" (late 2026) for records and clocks


@dataclass
class City:
    """An authority (city hall) and nodes; replica 0 is the hub, which holds the authority."""

    authority: Identity
    nodes: list[Identity]
    replicas: list[MemoryReplica]
    written: dict[bytes, Record] = field(default_factory=dict)

    def enrol(self, index: int, wall_ms: int = WALL_MS) -> Record:
        body = EnrolBody(node_key=self.nodes[index].public, shelter=f"s{index}")
        return self.write_as_authority(body, wall_ms)

    def write_as_authority(self, body: object, wall_ms: int = WALL_MS) -> Record:
        record = self.replicas[0].write(self.authority, body, wall_ms)  # type: ignore[arg-type]
        self.written[record.id] = record
        return record

    def post(self, index: int, text: str, wall_ms: int = WALL_MS) -> Record:
        record = self.replicas[index].write(self.nodes[index], PostBody(text=text), wall_ms)
        self.written[record.id] = record
        return record

    def status(self, index: int, headcount: int, wall_ms: int = WALL_MS) -> Record:
        body = StatusBody(shelter=f"s{index}", headcount=headcount)
        record = self.replicas[index].write(self.nodes[index], body, wall_ms)
        self.written[record.id] = record
        return record

    def config(self, index: int, **kwargs: object) -> SessionConfig:
        return SessionConfig(self.nodes[index].public, **kwargs)  # type: ignore[arg-type]


def make_city(rng: random.Random, size: int, *, enrol_all: bool = True) -> City:
    authority = Identity(rng.randbytes(32))
    nodes = [Identity(rng.randbytes(32)) for _ in range(size)]
    replicas = [
        MemoryReplica(
            TrustPolicy(frozenset({authority.public}), own_key=node.public, own_shelter=f"s{index}")
        )
        for index, node in enumerate(nodes)
    ]
    city = City(authority, nodes, replicas)
    if enrol_all:
        for index in range(size):
            city.enrol(index)
        wires = [r.wire for r in replicas[0].records()]
        for replica in replicas[1:]:
            replica.store(wires, WALL_MS)  # as if provisioned with the enrolment list
    return city
