"""Render hostapd, dnsmasq and nftables configuration from ``NetworkSettings``.

The ``render_*`` functions are pure: settings in, text out. Every value that reaches a file
has been validated by ``NetworkSettings.validate()`` (interface names, addresses, ports), and
the SSID is written as hex (``ssid2=``) so no character of a shelter's name can break a line.
``write_rendered`` is the only function here that touches the filesystem.

Why each line is there is explained in docs/networking.md.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shelterkit.errors import ConfigError
from shelterkit.net.settings import DNS_PORT, HTTP_PORT, HTTPS_PORT, NetworkSettings

HOSTAPD_FILE = "hostapd.conf"
DNSMASQ_FILE = "dnsmasq.conf"
NFTABLES_FILE = "nftables.conf"
RENDERED_FILES = (HOSTAPD_FILE, DNSMASQ_FILE, NFTABLES_FILE)

# The nftables table that holds every rule shelterkit installs; nothing else is touched.
NFT_TABLE = "shelterkit"
# Windows NCSI resolves dns.msftncsi.com and expects exactly these answers
# (learn.microsoft.com NCSI troubleshooting; dnscrypt-proxy wiki "Windows NCSI").
NCSI_DNS_HOST = "dns.msftncsi.com"
NCSI_DNS_IPV4 = "131.107.255.255"
NCSI_DNS_IPV6 = "fd3e:4f5a:5b81::1"
# DHCPv4 option 114 carries the captive-portal API URI (RFC 8910 §2.1); dnsmasq 2.90 has no
# name for it, and only dhcp-option-force sends it to clients that did not ask (dnsmasq(8)).
DHCP_OPTION_CAPTIVE_PORTAL = 114
# The RFC 8910 §2 URN for a network without a captive portal (IANA "capport" URN registry).
CAPPORT_UNRESTRICTED = "urn:ietf:params:capport:unrestricted"
# Entries in the per-client meters of the firewall: one per phone, more than the largest pool
# a /22 can give (1022 hosts); nftables needs a size for dynamic sets.
NFT_CLIENT_METER_ENTRIES = 4096
# New connections a phone may open in a burst: Chromium opens at most 6 per host
# (kMaxSocketsPerGroup, net/socket/client_socket_pool_manager.cc); 60 allows ten page loads.
NFT_NEW_CONNECTION_BURST_PACKETS = 60
# hostapd's control socket directory (Debian's hostapd.conf default), read by hostapd_cli.
HOSTAPD_CTRL_DIR = "/run/hostapd"

_HEADER = "rendered by shelterkit from the node's [network] settings; edits are overwritten"


def render_all(settings: NetworkSettings) -> dict[str, str]:
    """``{file name: content}`` for hostapd, dnsmasq and nftables; validates first."""
    settings.validate()
    return {
        HOSTAPD_FILE: render_hostapd(settings),
        DNSMASQ_FILE: render_dnsmasq(settings),
        NFTABLES_FILE: render_nftables(settings),
    }


def render_hostapd(settings: NetworkSettings) -> str:
    """An open 2.4 GHz access point with client isolation and a station limit."""
    ssid_hex = settings.ssid.encode("utf-8").hex()
    lines = [
        f"# {_HEADER}",
        f"interface={settings.wifi_interface}",
        "driver=nl80211",
        f"ctrl_interface={HOSTAPD_CTRL_DIR}",
        "ctrl_interface_group=0",
        "# the SSID as hex so that any UTF-8 name is written exactly; utf8_ssid marks it UTF-8",
        f"ssid2={ssid_hex}",
        "utf8_ssid=1",
        f"country_code={settings.country}",
        "ieee80211d=1",
        "hw_mode=g",
        f"channel={settings.channel}",
        "ieee80211n=1",
        "wmm_enabled=1",
        "# open network: no WPA, no MAC filtering, SSID broadcast",
        "auth_algs=1",
        "wpa=0",
        "macaddr_acl=0",
        "ignore_broadcast_ssid=0",
        f"ap_isolate={1 if settings.client_isolation else 0}",
        f"max_num_sta={settings.max_clients}",
    ]
    return "\n".join(lines) + "\n"


def render_dnsmasq(settings: NetworkSettings) -> str:
    """DHCP for the evacuee subnet and a DNS that answers every name with the portal."""
    portal = settings.portal_ip
    first, last = settings.dhcp_range()
    netmask = settings.subnet.netmask
    # with internet sharing there is nothing to pass: RFC 8910 §2 "unrestricted" lets phones
    # skip portal detection
    url = CAPPORT_UNRESTRICTED if settings.internet_sharing else settings.captive_api_url()
    if '"' in url or "\\" in url:  # cannot happen after validate(); keeps the quoting honest
        raise ConfigError("network.portal_hostname: cannot be quoted for dnsmasq")
    lines = [
        f"# {_HEADER}",
        "# serve only the evacuee interface; never the loopback or the uplink",
        f"interface={settings.wifi_interface}",
        "except-interface=lo",
        "bind-dynamic",
        *_dns_lines(settings),
        "# DHCP",
        "dhcp-authoritative",
        "dhcp-rapid-commit",
        f"dhcp-range={first},{last},{netmask},{settings.lease_seconds()}",
        f"dhcp-option=option:router,{portal}",
        f"dhcp-option=option:dns-server,{portal}",
        f"dhcp-leasefile={settings.dhcp_lease_file}",
        "# RFC 8910 captive-portal API URI, sent even to clients that do not request it",
        f'dhcp-option-force={DHCP_OPTION_CAPTIVE_PORTAL},"{url}"',
    ]
    return "\n".join(lines) + "\n"


def _dns_lines(settings: NetworkSettings) -> list[str]:
    portal = settings.portal_ip
    if settings.internet_sharing:
        return [
            "# internet sharing: names resolve through the node's own resolvers",
            "# (/etc/resolv.conf); only the portal's name is answered here",
            "no-hosts",
            f"port={DNS_PORT}",
            f"address=/{settings.portal_hostname}/{portal}",
        ]
    return [
        "# no upstream resolvers, no /etc/hosts: every answer comes from the lines below",
        "no-resolv",
        "no-poll",
        "no-hosts",
        f"port={DNS_PORT}",
        "# the portal's own name, the Windows NCSI DNS probe, then every other name",
        f"address=/{settings.portal_hostname}/{portal}",
        f"address=/{NCSI_DNS_HOST}/{NCSI_DNS_IPV4}",
        f"address=/{NCSI_DNS_HOST}/{NCSI_DNS_IPV6}",
        f"address=/#/{portal}",
        "# every name is local: other record types (AAAA, HTTPS …) get an empty answer, not",
        "# REFUSED, so a phone that asks for both A and AAAA uses the A answer at once",
        "local=/#/",
    ]


def render_nftables(settings: NetworkSettings) -> str:
    """One table of its own: redirect, isolation, admin closed, per-client limits."""
    wifi = f'"{settings.wifi_interface}"'
    portal = settings.portal_ip
    pport = settings.portal_port
    aport = settings.admin_port
    uplink = f'"{settings.uplink_interface}"' if settings.uplink_interface else None
    portal_tcp = f"{{ {pport}, {HTTPS_PORT} }}" if settings.captive_api_https else str(pport)
    sharing = settings.internet_sharing and uplink is not None

    forward = [
        "        # phones talk only to the portal: no phone-to-phone and, unless sharing is",
        "        # configured, no route to the uplink (the backhaul is kept for sync)",
        f"        iifname {wifi} oifname {wifi} reject with icmpx admin-prohibited",
    ]
    if sharing:
        forward += [
            f"        iifname {wifi} oifname {uplink} accept",
            f"        iifname {uplink} oifname {wifi} ct state established,related accept",
        ]
    forward += [
        f"        iifname {wifi} meta l4proto tcp reject with tcp reset",
        f"        iifname {wifi} reject with icmpx admin-prohibited",
        f"        oifname {wifi} drop",
    ]
    if sharing:
        redirect = [
            "        # internet sharing: only web requests to the portal's address are redirected",
            f"        iifname {wifi} ip daddr {portal} tcp dport {HTTP_PORT} "
            f"dnat ip to {portal}:{pport}",
        ]
    else:
        redirect = [
            "        # every web request of a phone, to any address, lands on the portal",
            f"        iifname {wifi} tcp dport {HTTP_PORT} dnat ip to {portal}:{pport}",
        ]
    postrouting = []
    if sharing:
        postrouting = [
            "    chain postrouting {",
            "        type nat hook postrouting priority srcnat; policy accept;",
            f"        iifname {wifi} oifname {uplink} masquerade",
            "    }",
        ]

    lines = [
        f"# {_HEADER}",
        "# only the table below is replaced; other tables on the node are left alone",
        f"table inet {NFT_TABLE}",
        f"delete table inet {NFT_TABLE}",
        "",
        f"table inet {NFT_TABLE} {{",
        "    set portal_conns {",
        "        type ipv4_addr",
        f"        size {NFT_CLIENT_METER_ENTRIES}",
        "        flags dynamic",
        "    }",
        "    set portal_rate {",
        "        type ipv4_addr",
        f"        size {NFT_CLIENT_METER_ENTRIES}",
        "        flags dynamic,timeout",
        "        timeout 1m",
        "    }",
        "",
        "    chain prerouting {",
        "        type nat hook prerouting priority dstnat; policy accept;",
        *redirect,
        "        # DNS sent to any resolver is answered by the node's dnsmasq",
        f"        iifname {wifi} meta l4proto {{ tcp, udp }} th dport {DNS_PORT} "
        f"dnat ip to {portal}:{DNS_PORT}",
        "    }",
        "",
        "    chain input {",
        "        type filter hook input priority filter; policy accept;",
        f"        iifname != {wifi} accept",
        "        # the staff admin API is never reachable from the evacuee side",
        f"        tcp dport {aport} reject with tcp reset",
        "        ct state invalid drop",
        "        ct state established,related accept",
        "        meta l4proto { icmp, ipv6-icmp } accept",
        "        udp dport 67 accept",
        f"        meta l4proto {{ tcp, udp }} th dport {DNS_PORT} accept",
        "        # per phone: concurrent and new connections to the portal are capped",
        f"        tcp dport {portal_tcp} ct state new add @portal_conns "
        f"{{ ip saddr ct count over {settings.client_max_connections} }} "
        "reject with tcp reset",
        f"        tcp dport {portal_tcp} ct state new add @portal_rate "
        f"{{ ip saddr limit rate over {settings.client_new_connections_per_s}/second "
        f"burst {NFT_NEW_CONNECTION_BURST_PACKETS} packets }} reject with tcp reset",
        f"        ip daddr {portal} tcp dport {portal_tcp} accept",
        "        meta l4proto tcp reject with tcp reset",
        "        reject with icmpx admin-prohibited",
        "    }",
        "",
        "    chain forward {",
        "        type filter hook forward priority filter; policy accept;",
        *forward,
        "    }",
        *postrouting,
        "}",
    ]
    return "\n".join(lines) + "\n"


def write_rendered(settings: NetworkSettings, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Render and write every file into ``out_dir`` atomically; return the paths written."""
    rendered = render_all(settings)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out}: {exc.strerror}") from None
    return [write_atomically(out / name, text) for name, text in rendered.items()]


def write_atomically(path: Path, data: str | bytes, mode: int = 0o644) -> Path:
    """Write through a temporary file in the same directory: fsync, rename, fsync the dir."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return path
