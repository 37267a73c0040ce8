"""NetworkSettings: one declared schema, refused with one clear line when it is wrong."""

from __future__ import annotations

import dataclasses
import ipaddress
import unicodedata
from typing import Any

import pytest

from shelterkit.errors import ConfigError
from shelterkit.net.settings import MAX_SSID_BYTES, NetworkSettings, check_ssid, ssid_for


def test_defaults_are_valid_and_documented() -> None:
    settings = NetworkSettings()
    settings.validate()
    for field in dataclasses.fields(NetworkSettings):
        assert field.default is not dataclasses.MISSING, field.name
        assert field.metadata.get("doc", "").strip(), f"{field.name} has no description"
    names = [name for name, _, _ in NetworkSettings.documentation()]
    assert names == [f.name for f in dataclasses.fields(NetworkSettings)]


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        NetworkSettings().ssid = "x"  # type: ignore[misc]


def test_dhcp_pool_and_lease_derived_from_capacity() -> None:
    small = NetworkSettings(shelter_capacity=50)
    first, _last = small.dhcp_range()
    assert first == ipaddress.IPv4Address("10.42.0.10")
    assert small.dhcp_pool_size() == 150  # 50 people x 1.5 devices x 2 headroom
    assert small.lease_seconds() == 12 * 3600
    # a /24 cannot give 2x headroom to 150 people: the pool is capped, leases are short
    tight = NetworkSettings(shelter_capacity=150, portal_cidr="192.168.50.1/24")
    tight.validate()
    assert tight.dhcp_range()[1] == ipaddress.IPv4Address("192.168.50.254")
    assert tight.lease_seconds() == 3600


def test_derived_pool_avoids_a_portal_in_the_middle() -> None:
    settings = NetworkSettings(portal_cidr="192.168.77.1/23", shelter_capacity=50)
    settings.validate()
    assert [str(a) for a in settings.dhcp_range()] == ["192.168.77.10", "192.168.77.159"]
    # the larger side when neither holds the wanted headroom
    bigger = NetworkSettings(portal_cidr="192.168.77.1/23", shelter_capacity=100)
    bigger.validate()
    assert [str(a) for a in bigger.dhcp_range()] == ["192.168.76.1", "192.168.77.0"]
    assert bigger.lease_seconds() == 3600
    with pytest.raises(ConfigError, match="wider prefix"):
        NetworkSettings(portal_cidr="192.168.77.1/23", shelter_capacity=300).validate()
    high = NetworkSettings(portal_cidr="10.1.0.254/24", shelter_capacity=20)
    high.validate()
    assert [str(a) for a in high.dhcp_range()] == ["10.1.0.194", "10.1.0.253"]


def test_explicit_range_and_lease_are_kept() -> None:
    settings = NetworkSettings(
        dhcp_range_start="10.42.1.0", dhcp_range_end="10.42.1.200", dhcp_lease_s=7200
    )
    settings.validate()
    assert settings.dhcp_pool_size() == 201
    assert settings.lease_seconds() == 7200


def test_from_mapping_rejects_unknown_keys_and_wrong_types() -> None:
    assert NetworkSettings.from_mapping({"ssid": "避難所"}).ssid == "避難所"
    with pytest.raises(ConfigError, match="unknown setting 'sid'"):
        NetworkSettings.from_mapping({"sid": "x"})
    with pytest.raises(ConfigError, match="channel: expected int"):
        NetworkSettings.from_mapping({"channel": "6"})
    with pytest.raises(ConfigError, match="max_clients: expected int"):
        NetworkSettings.from_mapping({"max_clients": True})


def test_for_shelter_derives_from_the_shelter_and_lets_network_win() -> None:
    facts: dict[str, Any] = {
        "shelter_id": "S07",
        "shelter_name_ja": "烏山公民館",
        "shelter_capacity": 80,
        "portal_hostname": "s07.shelter.lan",
    }
    derived = NetworkSettings.for_shelter({}, **facts)
    assert derived.ssid == "烏山公民館-S07"
    assert derived.shelter_capacity == 80
    assert derived.captive_api_url() == "http://s07.shelter.lan/api/captive-portal"
    assert NetworkSettings.for_shelter({"ssid": "避難所"}, **facts).ssid == "避難所"
    with pytest.raises(ConfigError, match="unknown setting"):
        NetworkSettings.for_shelter({"bogus": 1}, **facts)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ssid": "あ" * 11}, "33 bytes of UTF-8, at most 32"),
        ({"ssid": "x" * 33}, "33 bytes"),
        ({"ssid": ""}, "must not be empty"),
        ({"ssid": "bad\ud800"}, "not encodable"),
        ({"ssid": "line\nbreak"}, "control characters"),
        ({"wifi_interface": "wlan0; reboot"}, "not a valid interface name"),
        ({"wifi_interface": "a" * 16}, "not a valid interface name"),
        ({"wifi_interface": ".."}, "not a valid interface name"),
        ({"uplink_interface": "wlan0"}, "must differ"),
        ({"channel": 14}, "channel 1–13"),
        ({"country": "jp"}, "two-letter"),
        ({"max_clients": 0}, "max_clients"),
        ({"portal_cidr": "10.42.0.1"}, "prefix must be /29"),
        ({"portal_cidr": "10.42.0.0/22"}, "network or broadcast"),
        ({"portal_cidr": "8.8.8.1/24"}, "private"),
        ({"portal_cidr": "nonsense"}, "not an IPv4 address/prefix"),
        ({"dhcp_range_start": "10.43.0.10", "dhcp_range_end": "10.43.0.200"}, "outside"),
        ({"dhcp_range_start": "10.42.0.1", "dhcp_range_end": "10.42.0.200"}, "portal address"),
        ({"dhcp_range_start": "10.42.0.100", "dhcp_range_end": "10.42.0.50"}, "comes before"),
        ({"dhcp_range_start": "10.42.0.10", "dhcp_range_end": "10.42.0.15"}, "fewer than"),
        ({"dhcp_range_start": "10.42.0.10"}, "both dhcp_range_start"),
        ({"portal_cidr": "10.42.0.1/24", "shelter_capacity": 500}, "wider prefix"),
        ({"dhcp_lease_s": 60}, "at least 120"),
        ({"portal_port": 8081}, "clashes"),
        ({"portal_port": 53}, "DNS/DHCP"),
        ({"admin_port": 80}, "must reach"),
        ({"admin_port": 70000}, "not a TCP port"),
        ({"admin_address": "0.0.0.0"}, "wildcard"),
        ({"admin_address": "::"}, "wildcard"),
        ({"admin_address": "10.42.0.1"}, "evacuee subnet"),
        ({"admin_address": "10.42.3.7"}, "evacuee subnet"),
        ({"portal_hostname": "shelter"}, "dotted host name"),
        ({"portal_hostname": 'a"b.lan'}, "dotted host name"),
        ({"internet_sharing": True}, "needs an uplink"),
        ({"dhcp_lease_file": "leases"}, "absolute path"),
        ({"client_max_connections": 0}, "at least 1"),
    ],
)
def test_bad_settings_rejected(changes: dict[str, object], message: str) -> None:
    settings = NetworkSettings(**changes)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message) as caught:
        settings.validate()
    assert "\n" not in str(caught.value)


def test_admin_on_staff_network_accepted() -> None:
    NetworkSettings(uplink_interface="eth0", admin_address="192.168.10.5").validate()


def test_ssid_for_fits_and_never_cuts_a_character() -> None:
    name = "那須烏山市立烏山小学校体育館"
    ssid = ssid_for(name, "S12")
    assert ssid == "那須烏山市立烏山小-S12"
    assert len(ssid.encode("utf-8")) <= MAX_SSID_BYTES
    check_ssid(ssid)
    assert ssid_for("公民館", "S3") == "公民館-S3"
    assert ssid_for("", "S3") == "S3"


@pytest.mark.parametrize(
    "name",
    [
        "か\u3099" * 20,  # kana + combining voicing mark: NFC makes one character
        "e\u0301" * 40,  # e + combining acute
        "👨\u200d👩\u200d👧" * 5,  # ZWJ family sequences
        "葛\U000e0100" * 12,  # ideographic variation selector
        "☃\ufe0f" * 20,
        "a" * 40,
        "  避難所\t\n\x00 ",
        "\u202eevil\u202c避難所",
    ],
)
def test_ssid_for_shortens_by_whole_characters(name: str) -> None:
    ssid = ssid_for(name, "S07")
    raw = ssid.encode("utf-8")
    assert len(raw) <= MAX_SSID_BYTES
    assert ssid.endswith("-S07")
    check_ssid(ssid)
    body = ssid[: -len("-S07")]
    spaced = unicodedata.normalize("NFC", " ".join(name.split()))
    whole = "".join(c for c in spaced if unicodedata.category(c)[0] != "C" or c == "\u200d")
    assert not any(unicodedata.category(c) in ("Cc", "Cf") and c != "\u200d" for c in body)
    assert whole.startswith(body)
    rest = whole[len(body) :]
    # the cut falls between whole characters: what follows is not attached to what is kept
    assert not rest or not (unicodedata.combining(rest[0]) or rest[0] in "\u200d\ufe0f")
    assert not rest or not 0xE0100 <= ord(rest[0]) <= 0xE01EF
    assert not body.endswith((" ", "\u200d"))


def test_ssid_for_rejects_bad_shelter_id() -> None:
    with pytest.raises(ConfigError, match="shelter id"):
        ssid_for("公民館", "S 1")
    with pytest.raises(ConfigError, match="shelter id"):
        ssid_for("公民館", "x" * 17)
