"""TXT fields and addresses of ``_shelterkit._tcp`` advertisements (pure)."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Interface

import pytest

from shelterkit.discovery.ads import (
    AdvertisementError,
    LocalAddress,
    PeerAd,
    advertised_addresses,
    listen_is_loopback,
    parse_txt,
    peer_url,
)
from shelterkit.sync.limits import PROTOCOL_VERSION

KEY = bytes(range(32))
GOOD = {b"node": KEY.hex().encode(), b"shelter": b"S01", b"v": b"1", b"role": b"node"}


def txt(**changes: bytes | None) -> dict[bytes, bytes | None]:
    out = dict(GOOD)
    for name, value in changes.items():
        if value is None:
            out.pop(name.encode(), None)
        else:
            out[name.encode()] = value
    return out


def test_txt_round_trip() -> None:
    ad = PeerAd(KEY, "S01", role="hub")
    encoded = {k.encode(): v.encode() for k, v in ad.txt().items()}
    assert parse_txt(encoded) == ad
    assert ad.txt() == {"node": KEY.hex(), "shelter": "S01", "v": "1", "role": "hub"}
    assert ad.version == PROTOCOL_VERSION


def test_unknown_txt_keys_are_ignored() -> None:
    assert parse_txt({**GOOD, b"future": b"x", b"flag": None}) == PeerAd(KEY, "S01")


def test_names_are_readable_and_bounded() -> None:
    ad = PeerAd(KEY, "S01")
    assert ad.instance_name() == "shelterkit-S01-000102030405"
    assert ad.host_name() == "shelterkit-000102030405.local."
    long = PeerAd(KEY, "S" * 32)
    assert len(long.instance_name().encode()) <= 63


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"node": None}, "'node' is missing"),
        ({"node": b"00" * 31}, "64-hex-digit"),
        ({"node": KEY.hex().upper().encode()}, "64-hex-digit"),
        ({"node": b"zz" * 32}, "64-hex-digit"),
        ({"shelter": None}, "'shelter' is missing"),
        ({"shelter": b""}, "not a shelter id"),
        ({"shelter": b"S01; rm -rf"}, "not a shelter id"),
        ({"shelter": b"S" * 33}, "not a shelter id"),
        ({"shelter": "避難所".encode()}, "not ASCII"),
        ({"shelter": b"\xff\xfe"}, "not ASCII"),
        ({"v": b"one"}, "not a version number"),
        ({"v": b"-1"}, "not a version number"),
        ({"v": b"99999"}, "not a version number"),
        ({"role": b"relay-of-doom"}, "not one of"),
        ({"role": b"x" * 300}, "too long"),
    ],
)
def test_malformed_txt_rejected(changes: dict[str, bytes | None], reason: str) -> None:
    with pytest.raises(AdvertisementError, match=reason):
        parse_txt(txt(**changes))


def test_txt_key_without_value_rejected() -> None:
    with pytest.raises(AdvertisementError, match="'role' is missing"):
        parse_txt({**GOOD, b"role": None})


def local(interface: str, address: str) -> LocalAddress:
    return LocalAddress(interface, IPv4Interface(address))


LO = local("lo", "127.0.0.1/8")
ETH = local("eth0", "192.0.2.10/24")
USB = local("usb0", "198.51.100.7/24")
WLAN = local("wlan0", "10.42.0.1/22")
LINK_LOCAL = local("eth1", "169.254.3.4/16")
MACHINE = [LO, ETH, USB, WLAN, LINK_LOCAL]


def test_wildcard_listener_is_advertised_everywhere_but_loopback() -> None:
    assert advertised_addresses("0.0.0.0", MACHINE) == [ETH, USB, WLAN, LINK_LOCAL]
    assert advertised_addresses("", MACHINE) == [ETH, USB, WLAN, LINK_LOCAL]


def test_interfaces_limit_and_exclusions() -> None:
    assert advertised_addresses("0.0.0.0", MACHINE, interfaces=["eth0"]) == [ETH]
    assert advertised_addresses("0.0.0.0", MACHINE, excluded=["wlan0"]) == [
        ETH,
        USB,
        LINK_LOCAL,
    ]
    # naming an excluded interface explicitly is the operator's choice
    assert advertised_addresses("0.0.0.0", MACHINE, ["wlan0"], ["wlan0"]) == [WLAN]
    assert advertised_addresses("0.0.0.0", MACHINE, interfaces=["eth9"]) == []


def test_listener_on_one_address_is_advertised_only_there() -> None:
    assert advertised_addresses("192.0.2.10", MACHINE) == [ETH]
    assert advertised_addresses("203.0.113.1", MACHINE) == []  # not (yet) ours


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.1", False),
        ("shelter.lan", False),
    ],
)
def test_listen_is_loopback(host: str, loopback: bool) -> None:
    assert listen_is_loopback(host) is loopback


def test_peer_url_prefers_an_address_on_our_network() -> None:
    assert peer_url(["198.51.100.9", "192.0.2.20"], 8081, [ETH]) == "http://192.0.2.20:8081/"
    assert peer_url(["169.254.9.9"], 8081, [LINK_LOCAL]) == "http://169.254.9.9:8081/"


@pytest.mark.parametrize(
    "addresses",
    [
        ["203.0.113.5"],  # another network, the internet
        ["127.0.0.1"],  # our own loopback
        ["224.0.0.251"],
        ["0.0.0.0"],
        ["fe80::1", "2001:db8::1"],
        ["not an address"],
        [],
    ],
)
def test_ad_pointing_off_link_rejected(addresses: list[str]) -> None:
    with pytest.raises(AdvertisementError, match="no advertised address"):
        peer_url(addresses, 8081, [ETH, USB])


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_ad_with_bad_port_rejected(port: int) -> None:
    with pytest.raises(AdvertisementError, match="not a TCP port"):
        peer_url(["192.0.2.20"], port, [ETH])


def test_pure_parts_import_no_io() -> None:
    code = (
        "import sys\n"
        "import shelterkit.discovery.ads, shelterkit.discovery.table\n"
        "bad = [m for m in ('asyncio', 'aiohttp', 'zeroconf', 'socket', 'pyroute2')"
        " if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure discovery code imported: {out.stdout.strip()}"
