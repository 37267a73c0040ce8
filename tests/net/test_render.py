"""The renderers are pure and write exactly what the settings say, safely."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from shelterkit.errors import ConfigError
from shelterkit.net.render import (
    RENDERED_FILES,
    render_all,
    render_dnsmasq,
    render_hostapd,
    render_nftables,
    write_rendered,
)
from shelterkit.net.settings import NetworkSettings


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def test_render_all_is_pure_and_complete(settings: NetworkSettings) -> None:
    first = render_all(settings)
    assert set(first) == set(RENDERED_FILES)
    assert render_all(settings) == first


def test_hostapd_open_isolated_jp() -> None:
    settings = NetworkSettings(ssid="那須烏山 避難所", channel=11, max_clients=19)
    lines = _lines(render_hostapd(settings))
    assert f"ssid2={'那須烏山 避難所'.encode().hex()}" in lines
    for expected in (
        "interface=wlan0",
        "utf8_ssid=1",
        "country_code=JP",
        "ieee80211d=1",
        "channel=11",
        "wpa=0",
        "ap_isolate=1",
        "max_num_sta=19",
    ):
        assert expected in lines
    assert not any(line.startswith(("wpa_passphrase", "ssid=")) for line in lines)


def test_dnsmasq_answers_everything_with_the_portal() -> None:
    settings = NetworkSettings(shelter_capacity=100, portal_port=8080)
    lines = _lines(render_dnsmasq(settings))
    assert "address=/#/10.42.0.1" in lines
    assert "address=/shelter.lan/10.42.0.1" in lines
    assert "address=/dns.msftncsi.com/131.107.255.255" in lines
    assert "no-resolv" in lines
    assert not any(line.startswith("server=") for line in lines)
    assert "interface=wlan0" in lines
    assert "dhcp-range=10.42.0.10,10.42.1.53,255.255.252.0,43200" in lines
    assert 'dhcp-option-force=114,"http://shelter.lan/api/captive-portal"' in lines
    # the specific answers come before the catch-all
    assert lines.index("address=/dns.msftncsi.com/131.107.255.255") < lines.index(
        "address=/#/10.42.0.1"
    )


def test_captive_api_https_when_asked() -> None:
    text = render_dnsmasq(NetworkSettings(captive_api_https=True))
    assert 'dhcp-option-force=114,"https://shelter.lan/api/captive-portal"' in text
    assert "{ 8080, 443 }" in render_nftables(NetworkSettings(captive_api_https=True))


def test_nftables_own_table_redirect_and_admin_closed() -> None:
    text = render_nftables(NetworkSettings(wifi_interface="wlan1", portal_port=8000))
    assert "flush ruleset" not in text
    assert text.count("table inet shelterkit {") == 1
    assert 'iifname "wlan1" tcp dport 80 dnat ip to 10.42.0.1:8000' in text
    assert "tcp dport 8081 reject with tcp reset" in text
    assert "ct count over 64" in text
    assert "masquerade" not in text
    assert 'oifname "wlan1" drop' in text


def test_sharing_makes_a_plain_router_with_a_local_portal() -> None:
    settings = NetworkSettings(uplink_interface="eth0", internet_sharing=True)
    dns = _lines(render_dnsmasq(settings))
    assert "address=/shelter.lan/10.42.0.1" in dns
    assert not any(line.startswith(("address=/#/", "local=", "no-resolv")) for line in dns)
    assert 'dhcp-option-force=114,"urn:ietf:params:capport:unrestricted"' in dns
    nft = render_nftables(settings)
    assert 'iifname "wlan0" ip daddr 10.42.0.1 tcp dport 80 dnat ip to 10.42.0.1:8080' in nft
    assert 'iifname "wlan0" tcp dport 80 dnat' not in nft
    assert "tcp dport 8081 reject with tcp reset" in nft


def test_nftables_sharing_only_when_configured() -> None:
    text = render_nftables(
        NetworkSettings(uplink_interface="eth0", internet_sharing=True, client_max_connections=9)
    )
    assert 'iifname "wlan0" oifname "eth0" accept' in text
    assert 'oifname "eth0" masquerade' in text
    assert "ct count over 9" in text
    without = render_nftables(NetworkSettings(uplink_interface="eth0"))
    assert "eth0" not in without


def test_render_refuses_invalid_settings() -> None:
    with pytest.raises(ConfigError, match="ssid"):
        render_all(NetworkSettings(ssid="x" * 40))


def test_hostile_ssid_cannot_add_lines() -> None:
    # newline injection is refused; everything else is hex and cannot break a line
    with pytest.raises(ConfigError):
        render_all(NetworkSettings(ssid="a\nwpa=2"))
    text = render_hostapd(NetworkSettings(ssid='"; wpa=2 #'))
    assert "wpa=2" not in text


def test_write_rendered_atomically(tmp_path: Path, settings: NetworkSettings) -> None:
    out = tmp_path / "out"
    written = write_rendered(settings, out)
    assert sorted(p.name for p in written) == sorted(RENDERED_FILES)
    assert sorted(os.listdir(out)) == sorted(RENDERED_FILES)  # no temporary files left
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert path.read_text(encoding="utf-8") == render_all(settings)[path.name]
    # rewriting replaces the files in place
    write_rendered(NetworkSettings(channel=1), out)
    assert "channel=1\n" in (out / "hostapd.conf").read_text(encoding="utf-8")


def test_write_rendered_unwritable_is_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="cannot"):
        write_rendered(NetworkSettings(), blocker / "sub")
