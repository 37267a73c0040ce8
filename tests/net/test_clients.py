"""Client counting from dnsmasq's lease file."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from shelterkit.errors import StorageError
from shelterkit.net.clients import active_leases, parse_leases, read_lease_file

LEASES = """\
1700003600 aa:bb:cc:00:00:01 10.42.0.10 Pixel-8 01:aa:bb:cc:00:00:01
1700000100 AA:BB:CC:00:00:02 10.42.0.11 * *
0 aa:bb:cc:00:00:03 10.42.0.12 staff-laptop *
duid 00:01:00:01:2c:aa
1700009999 not-a-mac 10.42.0.13 x *
1700009999 aa:bb:cc:00:00:04 10.42.0.999 x *
garbage
"""


def test_parse_keeps_well_formed_ipv4_leases() -> None:
    leases = parse_leases(LEASES)
    assert [str(lease.ip) for lease in leases] == ["10.42.0.10", "10.42.0.11", "10.42.0.12"]
    assert leases[0].hostname == "Pixel-8"
    assert leases[1].hostname == "" and leases[1].mac == "aa:bb:cc:00:00:02"


def test_active_leases_at_a_given_time() -> None:
    now = 1_700_000_200
    active = active_leases(LEASES, now)
    assert [lease.ip for lease in active] == [
        ipaddress.IPv4Address("10.42.0.10"),
        ipaddress.IPv4Address("10.42.0.12"),  # infinite lease
    ]
    assert len(active_leases(LEASES, 1_600_000_000)) == 3


def test_huge_lease_file_is_bounded_attack() -> None:
    line = "1700003600 aa:bb:cc:00:00:01 10.42.0.10 x *\n"
    assert len(parse_leases(line * 100_000)) == 4096


def test_read_lease_file(tmp_path: Path) -> None:
    assert read_lease_file(tmp_path / "absent") == ""
    (tmp_path / "leases").write_text(LEASES, encoding="utf-8")
    assert read_lease_file(tmp_path / "leases") == LEASES
    with pytest.raises(StorageError):
        read_lease_file(tmp_path)
