"""The rendered files pass the real tools' own parsers."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from shelterkit.net.render import write_rendered
from shelterkit.net.settings import NetworkSettings, ssid_for

pytestmark = pytest.mark.system

VARIANTS = {
    "default": NetworkSettings(),
    "japanese-ssid": NetworkSettings(ssid=ssid_for("那須烏山市立七合中学校", "S41"), channel=1),
    "sharing-https": NetworkSettings(
        uplink_interface="eth0",
        internet_sharing=True,
        captive_api_https=True,
        portal_cidr="192.168.77.1/23",
        shelter_capacity=100,
    ),
    "small-explicit": NetworkSettings(
        portal_cidr="172.20.5.1/26",
        dhcp_range_start="172.20.5.20",
        dhcp_range_end="172.20.5.60",
        dhcp_lease_s=600,
        shelter_capacity=10,
        max_clients=8,
        client_isolation=False,
    ),
}


@pytest.fixture(params=sorted(VARIANTS))
def rendered(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    write_rendered(VARIANTS[request.param], tmp_path)
    return tmp_path


def test_dnsmasq_accepts_rendered_config(system: Any, rendered: Path) -> None:
    dnsmasq = system.need_tool("dnsmasq")
    done = system.run(dnsmasq, "--test", "-C", str(rendered / "dnsmasq.conf"), check=False)
    assert done.returncode == 0, done.stderr
    assert "syntax check OK" in done.stderr + done.stdout


def test_nft_accepts_rendered_rules(system: Any, rendered: Path) -> None:
    system.need_root()
    nft = system.need_tool("nft")
    # check mode talks to the kernel; a fresh network namespace keeps the host untouched
    done = system.run(
        "unshare", "--net", nft, "-c", "-f", str(rendered / "nftables.conf"), check=False
    )
    assert done.returncode == 0, done.stderr
    # loading twice works: the file replaces only its own table
    script = f"{nft} -f {rendered / 'nftables.conf'} && {nft} -f {rendered / 'nftables.conf'}"
    done = system.run("unshare", "--net", "sh", "-c", f"{script} && {nft} list tables", check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["table", "inet", "shelterkit"]


# hostapd reads the whole file before it touches the driver; each bad line is reported as
# "Line N: …" followed by "N errors found in configuration file" (hostapd/config_file.c).
HOSTAPD_PARSE_ERROR = re.compile(r"^Line \d+:|errors found in configuration file", re.MULTILINE)
# Messages from the next stage, which only runs once the file parsed cleanly
# (src/drivers/driver_nl80211.c, hostapd/main.c).
HOSTAPD_DRIVER_STAGE = re.compile(
    r"nl80211|Failed to initialize driver|Could not read interface|wasn't started"
)


def _hostapd(system: Any, conf: Path) -> str:
    hostapd = system.need_tool("hostapd")
    argv = [hostapd, "-dd", str(conf)]
    if os.geteuid() == 0:
        # no wireless device exists in a fresh network namespace: nothing is ever started
        argv = ["unshare", "--net", *argv]
    done = system.run(*argv, timeout=20, check=False)
    return done.stdout + done.stderr


def _point_at_missing_interface(rendered: Path) -> Path:
    conf = rendered / "hostapd.conf"
    text = conf.read_text(encoding="utf-8").replace("interface=wlan0", "interface=sknowifi0")
    conf.write_text(text, encoding="utf-8")
    return conf


def test_hostapd_parses_rendered_config(system: Any, rendered: Path) -> None:
    output = _hostapd(system, _point_at_missing_interface(rendered))
    assert not HOSTAPD_PARSE_ERROR.search(output), output
    assert HOSTAPD_DRIVER_STAGE.search(output), output


def test_hostapd_parse_error_is_told_apart(system: Any, tmp_path: Path) -> None:
    write_rendered(NetworkSettings(), tmp_path)
    conf = _point_at_missing_interface(tmp_path)
    conf.write_text(conf.read_text(encoding="utf-8") + "max_num_stations=3\n", encoding="utf-8")
    output = _hostapd(system, conf)
    assert HOSTAPD_PARSE_ERROR.search(output), output
    assert not HOSTAPD_DRIVER_STAGE.search(output), output
