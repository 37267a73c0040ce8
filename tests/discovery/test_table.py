"""The bounded table of discovered peers, with the clock moved by hand (pure)."""

from __future__ import annotations

import hashlib

from shelterkit.discovery.ads import PeerAd
from shelterkit.discovery.table import (
    ADVERTISE_TTL_S,
    MAX_DISCOVERED_PEERS,
    PEER_STALE_S,
    Outcome,
    PeerTable,
)
from shelterkit.sync.limits import PROTOCOL_VERSION

OWN = b"\x01" * 32


def key(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def ad(name: str, **kw: object) -> PeerAd:
    return PeerAd(key(name), "S02", **kw)  # type: ignore[arg-type]


def test_new_peer_added_then_unchanged_then_moved() -> None:
    table = PeerTable(OWN)
    assert table.offer("b._shelterkit._tcp.local.", ad("b"), "http://10.0.0.2:8081/", 0) is (
        Outcome.ADDED
    )
    assert table.offer("b._shelterkit._tcp.local.", ad("b"), "http://10.0.0.2:8081/", 1) is (
        Outcome.UNCHANGED
    )
    assert table.offer("b._shelterkit._tcp.local.", ad("b"), "http://10.0.0.3:8081/", 2) is (
        Outcome.MOVED
    )
    assert table.urls() == ["http://10.0.0.3:8081/"]


def test_our_own_advertisement_is_ignored() -> None:
    table = PeerTable(OWN)
    assert table.offer("me", PeerAd(OWN, "S01"), "http://10.0.0.1:8081/", 0) is Outcome.OURS
    assert len(table) == 0


def test_other_protocol_versions_are_ignored() -> None:
    table = PeerTable(OWN)
    table.offer("b", ad("b"), "http://10.0.0.2:8081/", 0)
    newer = ad("b", version=PROTOCOL_VERSION + 1)
    assert table.offer("b", newer, "http://10.0.0.2:8081/", 1) is Outcome.INCOMPATIBLE
    assert "b" not in table  # an upgraded peer we cannot speak to any more is dropped


def test_node_under_a_new_name_replaces_its_old_entry() -> None:
    table = PeerTable(OWN)
    table.offer("b", ad("b"), "http://10.0.0.2:8081/", 0)
    assert table.offer("b (2)", ad("b"), "http://10.0.0.2:8081/", 1) is Outcome.ADDED
    assert table.names() == ["b (2)"]


def test_withdraw_removes_and_tells_what_left() -> None:
    table = PeerTable(OWN)
    table.offer("b", ad("b"), "http://10.0.0.2:8081/", 0)
    gone = table.withdraw("b")
    assert gone is not None and gone.url == "http://10.0.0.2:8081/"
    assert table.withdraw("b") is None
    assert table.urls() == []


def test_advertisement_flood_attack_is_bounded() -> None:
    """Anyone on the LAN can advertise: thousands of fake peers keep at most the cap."""
    table = PeerTable(OWN)
    outcomes = [
        table.offer(f"fake{i}", ad(f"fake{i}"), f"http://10.0.{i // 250}.{i % 250}:8081/", i)
        for i in range(2000)
    ]
    assert len(table) == MAX_DISCOVERED_PEERS
    assert outcomes.count(Outcome.ADDED) == MAX_DISCOVERED_PEERS
    assert outcomes.count(Outcome.FULL) == 2000 - MAX_DISCOVERED_PEERS
    # a slot that frees up can be taken again
    table.withdraw("fake0")
    assert table.offer("real", ad("real"), "http://10.9.9.9:8081/", 3000) is Outcome.ADDED
    # known peers still update while the table is full
    assert table.offer("real", ad("real"), "http://10.9.9.8:8081/", 3001) is Outcome.MOVED


def test_unconfirmed_entries_expire_with_time() -> None:
    table = PeerTable(OWN)
    table.offer("b", ad("b"), "http://10.0.0.2:8081/", 1000)
    table.offer("c", ad("c"), "http://10.0.0.3:8081/", 1000)
    table.confirm("c", 1000 + ADVERTISE_TTL_S)
    assert table.expire(1000 + PEER_STALE_S) == []  # not yet older than the limit
    gone = table.expire(1000 + PEER_STALE_S + 1)
    assert [p.name for p in gone] == ["b"]
    assert table.names() == ["c"]
    table.confirm("c", 0)  # a late, older confirmation never moves time back
    assert table.expire(1000 + ADVERTISE_TTL_S + PEER_STALE_S) == []


def test_same_url_from_two_names_is_one_peer() -> None:
    table = PeerTable(OWN)
    table.offer("b", ad("b"), "http://10.0.0.2:8081/", 0)
    table.offer("c", ad("c"), "http://10.0.0.2:8081/", 0)
    assert table.urls() == ["http://10.0.0.2:8081/"]
    table.withdraw("b")
    assert table.urls() == ["http://10.0.0.2:8081/"]
