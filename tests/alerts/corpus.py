"""The CAP test corpus (tests/data/cap) and the import path the hub takes, for tests."""

from __future__ import annotations

from pathlib import Path

from shelterkit.cap import parse_cap
from shelterkit.model.kinds import AlertBody
from shelterkit.model.record import Record, sign_record
from shelterkit.service.node import Node
from tests.conftest import CITY

DATA = Path(__file__).resolve().parents[1] / "data" / "cap"
GOOD = sorted((DATA / "good").glob("*.xml"))
SIGNED = sorted((DATA / "signed").glob("*.xml"))
BAD = DATA / "bad"
CITY_CERT = (DATA / "signed" / "city-test-cert.pem").read_text()
# The node fixture's wall clock: 2027-01-15 17:00 in Japan, while every corpus alert is in force.
NODE_NOW_MS = 1_800_000_000_000


def good(name: str) -> bytes:
    (path,) = [p for p in GOOD + SIGNED if p.name.startswith(name)]
    return path.read_bytes()


def bad(name: str) -> bytes:
    return (BAD / f"{name}.xml").read_bytes()


def known_identifiers(node: Node) -> set[str]:
    return {r.body.identifier for r in node.heads.values() if isinstance(r.body, AlertBody)}


class CitySigner:
    """Signs imported alerts as the city-hall authority, one sequence per test, a second
    apart."""

    def __init__(self) -> None:
        self.seq = 0

    def sign(self, body: AlertBody) -> Record:
        self.seq += 1
        return sign_record(CITY, self.seq, (NODE_NOW_MS + 1000 * self.seq) << 16, body)


async def import_cap(node: Node, signer: CitySigner, xml: bytes) -> Record:
    """What the hub does with a CAP file: parse (refusing bad input), sign, deliver."""
    body = parse_cap(xml, node.wall_ms(), known_identifiers=known_identifiers(node))
    record = signer.sign(body)
    result = await node.ingest([record.wire])
    assert result.stored == (record,), result.rejected
    return record
