"""[node] discovery settings, and how a running service turns them into a LanDiscovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelterkit.config import Config, NodeSettings, example_config, parse_config
from shelterkit.errors import ConfigError
from shelterkit.service.node import Node
from shelterkit.service.run import Service
from shelterkit.service.scheduler import SyncScheduler
from shelterkit.sync import Role

NOW_MS = 1_800_000_000_000


def test_discovery_is_on_by_default_and_documented() -> None:
    assert NodeSettings().discovery is True
    assert NodeSettings().discovery_interfaces == []
    example = example_config()
    assert "discovery = true" in example
    assert "discovery_interfaces = []" in example
    assert parse_config(example).node.discovery is True


def test_discovery_settings_parse() -> None:
    config = parse_config('[node]\ndiscovery = false\ndiscovery_interfaces = ["eth0", "usb0"]\n')
    assert config.node.discovery is False
    assert config.node.discovery_interfaces == ["eth0", "usb0"]


@pytest.mark.parametrize(
    "text",
    [
        '[node]\ndiscovery = "yes"\n',
        "[node]\ndiscovery_interfaces = [1]\n",
        '[node]\ndiscovery_interfaces = ["../etc"]\n',
        '[node]\ndiscovery_interfaces = ["an-interface-name-too-long"]\n',
        '[node]\ndiscovery_interfaces = [""]\n',
    ],
)
def test_bad_discovery_settings_rejected(text: str) -> None:
    with pytest.raises(ConfigError, match="discovery"):
        parse_config(text)


async def service(
    tmp_path: Path,
    roles: Role = Role.NODE,
    network: dict[str, object] | None = None,
    **node: object,
) -> Service:
    settings = NodeSettings(data_dir=str(tmp_path / "data"), **node)  # type: ignore[arg-type]
    config = Config(node=settings, network=network or {})
    n = await Node.open(config, lambda: NOW_MS)
    return Service(n, b"", SyncScheduler(n, roles))


async def test_node_on_loopback_does_not_discover(tmp_path: Path) -> None:
    s = await service(tmp_path, listen="127.0.0.1:8080")
    try:
        assert s.discovery() is None
    finally:
        await s.close()


async def test_node_advertises_its_peer_listener_and_keeps_off_the_evacuee_wifi(
    tmp_path: Path,
) -> None:
    s = await service(
        tmp_path,
        listen="0.0.0.0:8080",
        hub_url="http://192.0.2.1:8081",
        peers=["http://192.0.2.2:8081/"],
        network={"wifi_interface": "wlan1", "portal_port": 8080},
    )
    try:
        lan = s.discovery()
        assert lan is not None
        assert (lan.ad.role, lan.ad.shelter, lan.ad.node) == ("node", "S00", s.node.identity.public)
        assert (lan.listen_host, lan.port) == ("0.0.0.0", 8081)  # the peer listener
        assert lan.excluded == ("wlan1",)
        assert lan.static == {"http://192.0.2.1:8081/", "http://192.0.2.2:8081/"}
    finally:
        await s.close()


async def test_hub_advertises_its_one_listener(tmp_path: Path) -> None:
    s = await service(tmp_path, Role.HUB, listen="0.0.0.0:9000", discovery_interfaces=["eth0"])
    try:
        lan = s.discovery()
        assert lan is not None
        assert (lan.ad.role, lan.port, lan.interfaces) == ("hub", 9000, ("eth0",))
    finally:
        await s.close()
