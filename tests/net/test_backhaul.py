"""The backhaul monitor: the pure decision, and real netlink events in a namespace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from shelterkit.net.backhaul import (
    IFF_LOWER_UP,
    IFF_UP,
    RT_TABLE_MAIN,
    AddressInfo,
    BackhaulMonitor,
    LinkInfo,
    RouteInfo,
    UplinkState,
    uplink_state,
)

UP = IFF_UP | IFF_LOWER_UP
# A change must be reported within this time (seconds): "within seconds", not a minute.
REACTION_BUDGET_S = 2.0


def test_usable_needs_carrier_address_and_default_route() -> None:
    links = [LinkInfo(1, "lo", UP), LinkInfo(2, "eth0", UP), LinkInfo(3, "usb0", IFF_UP)]
    addrs = [AddressInfo(2, "192.168.1.20"), AddressInfo(3, "10.0.0.2")]
    routes = [RouteInfo(0, 2, RT_TABLE_MAIN), RouteInfo(24, 3, RT_TABLE_MAIN)]
    assert uplink_state("eth0", links, addrs, routes).usable
    usb = uplink_state("usb0", links, addrs, routes)
    assert (usb.present, usb.carrier, usb.default_route, usb.usable) == (True, False, False, False)
    assert uplink_state("wwan0", links, addrs, routes) == UplinkState(
        "wwan0", False, False, False, False
    )
    # a default route in another table (policy routing) does not make the uplink the default
    assert not uplink_state("eth0", links, addrs, [RouteInfo(0, 2, 100)]).usable
    assert not uplink_state("eth0", links, [], routes).usable


async def _next_state(states: Any, budget_s: float) -> tuple[UplinkState, ...]:
    async with asyncio.timeout(budget_s):
        return tuple(await anext(states))


@pytest.mark.system
async def test_monitor_follows_netlink_events(system: Any, netns: str, unique: str) -> None:
    uplink, peer = f"sku{unique}", f"skr{unique}"
    system.run("ip", "-n", netns, "link", "add", uplink, "type", "veth", "peer", "name", peer)
    states = BackhaulMonitor([uplink, "skabsent0"], netns=netns).states()
    try:
        first = await _next_state(states, 10)
        assert first[0].present and not first[0].usable
        assert not first[1].present

        started = time.monotonic()
        await asyncio.to_thread(_bring_up, system, netns, uplink, peer)
        state = await _until(states, lambda s: s[0].usable)
        assert time.monotonic() - started < REACTION_BUDGET_S + 1.0
        assert state[0] == UplinkState(uplink, True, True, True, True)

        started = time.monotonic()
        await asyncio.to_thread(system.run, "ip", "-n", netns, "link", "set", peer, "down")
        state = await _until(states, lambda s: not s[0].usable)
        assert time.monotonic() - started < REACTION_BUDGET_S
        assert not state[0].carrier
    finally:
        await states.aclose()


def _bring_up(system: Any, ns: str, uplink: str, peer: str) -> None:
    system.run("ip", "-n", ns, "link", "set", peer, "up")
    system.run("ip", "-n", ns, "link", "set", uplink, "up")
    system.run("ip", "-n", ns, "addr", "add", "192.0.2.10/24", "dev", uplink)
    system.run("ip", "-n", ns, "route", "add", "default", "via", "192.0.2.1", "dev", uplink)


async def _until(states: Any, done: Any) -> tuple[UplinkState, ...]:
    deadline = time.monotonic() + REACTION_BUDGET_S
    while True:
        state = await _next_state(states, max(deadline - time.monotonic(), 0.01))
        if done(state):
            return state
