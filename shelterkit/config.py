"""The node's configuration: one declared schema, loaded from TOML, documented in place.

Every setting is a dataclass field with a default and a ``doc``; ``shelterkit config
--example`` renders this schema as a commented TOML file, and a test fails if a field has no
doc. Unknown sections or keys are an error, never silently ignored.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shelterkit.errors import ConfigError
from shelterkit.model.kinds import Stream
from shelterkit.net.settings import NetworkSettings


def setting(default: Any, doc: str) -> Any:
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True, slots=True)
class ShelterSettings:
    """[shelter] — which shelter this node serves."""

    id: str = setting("S00", "Shelter id from the city's inventory (e.g. S01).")
    name_ja: str = setting("デモ避難所", "Shelter name in Japanese, shown on the portal.")
    name_en: str = setting("Demo Shelter", "Shelter name in English.")
    address: str = setting("", "Street address, shown on the shelter information page.")
    capacity: int = setting(100, "Designed capacity in people (sizes DHCP and rate limits).")
    timezone: str = setting("Asia/Tokyo", "Time zone used to show times to people.")


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """[node] — the node process."""

    data_dir: str = setting("shelterkit-data", "Data directory (database, keys). Relative to cwd.")
    listen: str = setting("127.0.0.1:8080", "HOST:PORT of the evacuee portal.")
    authority_keys: list[str] = setting(
        [], "Hex Ed25519 public keys of city hall whose alerts this node trusts."
    )
    hub_url: str = setting("", "City-hall hub URL to sync with; empty: no hub.")
    peer_listen: str = setting(
        "",
        "HOST:PORT for peers and staff (sync, admin API); empty: the portal's port + 1.",
    )
    peers: list[str] = setting(
        [], "Further sync peers (URLs of other nodes' peer listeners), e.g. on a LAN."
    )
    sync_interval_s: int = setting(5, "Seconds between sync rounds while nothing changes.")
    first_contact_wait_s: int = setting(
        120,
        "After a start, own records wait this long at most for a peer to say which numbers"
        " this node already used (a card restored from an old image); 0: never wait.",
    )
    discovery: bool = setting(
        True,
        "Advertise the peer listener on the LAN by zeroconf (_shelterkit._tcp) and sync with"
        " the peers found there. Never when the peer listener is on loopback.",
    )
    discovery_interfaces: list[str] = setting(
        [],
        'Interfaces to advertise and browse on, e.g. ["eth0"]; empty: every interface'
        " with an IPv4 address except loopback and [network] wifi_interface.",
    )


@dataclass(frozen=True, slots=True)
class PortalSettings:
    """[portal] — the evacuee web portal."""

    hostname: str = setting(
        "shelter.lan", "Name of the portal on the shelter Wi-Fi (DNS answers it locally)."
    )
    public_url: str = setting(
        "", "URL phones are sent to (default: http://<hostname>/). Set for tests and demos."
    )
    extra_hosts: list[str] = setting(
        [], "Further host names or addresses that are this portal (e.g. the Wi-Fi address)."
    )
    default_language: str = setting("ja", "Language used when the phone asks for none we have.")
    post_burst: int = setting(5, "Board posts one phone may make at once before waiting.")
    post_interval_s: int = setting(30, "Seconds after which a phone earns one more post.")


@dataclass(frozen=True, slots=True)
class PowerSettings:
    """[power] — battery or UPS readings and the low-power policy (docs/durability.md)."""

    source: str = setting("none", "none, sysfs (Linux power_supply) or ups-hat (INA219 over I2C).")
    sysfs_root: str = setting("/sys/class/power_supply", "Where sysfs power supplies are.")
    i2c_bus: int = setting(1, "I2C bus number of the UPS HAT.")
    shutdown_command: list[str] = setting(
        ["systemctl", "poweroff"],
        "Run after a clean stop when the battery is nearly empty; [] to only stop the node.",
    )


@dataclass(frozen=True, slots=True)
class RadioSettings:
    """[[radio]] — one serial cable or LoRa radio port (docs/radio.md); repeat for more."""

    driver: str = setting(
        "cable", "cable (RS-232/USB), e220 (E220-900T22S(JP)), lora-e5 or rak3172."
    )
    port: str = setting("", "pyserial URL or device path, e.g. /dev/ttyUSB0.")
    baudrate: int = setting(0, "Serial speed; 0: the driver's default.")
    profile: str = setting(
        "", "Airtime rules: jp920, jp920-short, jp920-upper, unlimited; empty: by driver."
    )
    spreading_factor: int = setting(9, "LoRa spreading factor, 7–12.")
    bandwidth_khz: int = setting(125, "LoRa bandwidth in kHz.")
    frequency_mhz: float = setting(922.0, "Centre frequency for AT modems, in MHz.")
    channel: int = setting(0, "E220 channel number (0: 920.6 MHz).")
    tx_power_dbm: int = setting(13, "Transmit power; 13 dBm = 20 mW, the Japanese limit.")
    station_id: int = setting(
        0, "Link-level station id; 0: derived from the node key (one per routed port)."
    )
    streams: list[str] = setting(
        ["alerts", "notices", "anpi", "status", "control"],
        "What this link carries (no message board on radio by default).",
    )
    beacon_idle_s: float = setting(900.0, "Seconds between beacons while nothing changes.")
    routed: bool = setting(
        False, "Planned route: status and safety go towards city hall only (docs/radio.md)."
    )
    uplinks: list[int] = setting(
        [], "With routed: station ids one hop nearer city hall, best first (none at city hall)."
    )
    configure: bool = setting(False, "E220: write its registers at start (pins in mode 3).")
    fixed_mode: bool = setting(False, "E220: fixed transmission mode.")


@dataclass(frozen=True, slots=True)
class HubSettings:
    """[hub] — city hall only: where official CAP 1.2 alerts come from (docs/alerts.md)."""

    cap_certificates: list[str] = setting(
        [],
        "PEM files of the certificates whose XML signatures on CAP alerts are trusted"
        " (pinned); used by every import: the CLI, the admin API, the inbox and the feed.",
    )
    cap_inbox: str = setting(
        "",
        "Folder watched for CAP files; each is imported once, then moved to done/ or, with a"
        " .reason file, to rejected/. Empty: no folder. Relative to cwd.",
    )
    cap_feed_url: str = setting(
        "", "CAP 1.2 document or Atom feed of CAP alerts polled for new alerts; empty: none."
    )
    cap_feed_interval_s: int = setting(60, "Seconds between polls of cap_feed_url (10 to 86400).")


@dataclass(frozen=True, slots=True)
class Config:
    shelter: ShelterSettings = field(default_factory=ShelterSettings)
    node: NodeSettings = field(default_factory=NodeSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    power: PowerSettings = field(default_factory=PowerSettings)
    hub: HubSettings = field(default_factory=HubSettings)
    # [network] is declared by ``net.settings.NetworkSettings`` (validated on load); kept
    # raw here because several of its defaults derive from [shelter] and [portal].
    network: dict[str, Any] = field(default_factory=dict)
    radio: tuple[RadioSettings, ...] = ()

    def network_settings(self) -> NetworkSettings:
        """The [network] section completed from the shelter's settings, validated."""
        return NetworkSettings.for_shelter(
            self.network,
            shelter_id=self.shelter.id,
            shelter_name_ja=self.shelter.name_ja,
            shelter_capacity=self.shelter.capacity,
            portal_hostname=self.portal.hostname,
        )

    @property
    def peer_listen(self) -> str:
        """The peer/staff listener: as configured, or the portal's port + 1."""
        if self.node.peer_listen:
            return self.node.peer_listen
        host, _, port = self.node.listen.rpartition(":")
        return f"{host}:{int(port) + 1}"

    def with_overrides(self, *, data_dir: str | None = None, listen: str | None = None) -> Config:
        node = self.node
        if data_dir is not None:
            node = dataclasses.replace(node, data_dir=data_dir)
        if listen is not None:
            node = dataclasses.replace(node, listen=listen)
        return dataclasses.replace(self, node=node)


SECTIONS: dict[str, type[Any]] = {
    f.name: f.default_factory  # type: ignore[misc]
    for f in dataclasses.fields(Config)
    if f.name not in ("network", "radio")
}


def _check_value(section: str, f: dataclasses.Field[Any], expected: Any, value: Any) -> Any:
    origin = getattr(expected, "__origin__", expected)
    if origin is list:
        (item,) = getattr(expected, "__args__", (str,))
        if item is int:  # station ids (uplinks); TOML booleans are not numbers here
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value
            ):
                raise ConfigError(f"[{section}] {f.name}: expected a list of integers")
            return list(value)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"[{section}] {f.name}: expected a list of strings")
        return list(value)
    if origin is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise ConfigError(f"[{section}] {f.name}: expected an integer, got {value!r}")
    if origin is str and not isinstance(value, str):
        raise ConfigError(f"[{section}] {f.name}: expected a string, got {value!r}")
    if origin is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"[{section}] {f.name}: expected a number, got {value!r}")
        return float(value)
    if origin is bool and not isinstance(value, bool):
        raise ConfigError(f"[{section}] {f.name}: expected true or false, got {value!r}")
    return value


def _parse_table(cls: type[Any], name: str, values: dict[str, Any], source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}: unknown key {key!r} in [{name}]")
        kwargs[key] = _check_value(name, fields[key], hints[key], value)
    return cls(**kwargs)


def _parse_radios(values: Any, source: str) -> tuple[RadioSettings, ...]:
    if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
        raise ConfigError(f"{source}: radio ports are [[radio]] tables")
    radios: list[RadioSettings] = []
    for i, table in enumerate(values, start=1):
        radio = _parse_table(RadioSettings, f"radio {i}", table, source)
        if not radio.port:
            raise ConfigError(f"{source}: [[radio]] {i}: port is required")
        if radio.driver not in ("cable", "e220", "lora-e5", "rak3172"):
            raise ConfigError(f"{source}: [[radio]] {i}: unknown driver {radio.driver!r}")
        unknown = [n for n in radio.streams if n.upper() not in Stream.__members__]
        if unknown:
            raise ConfigError(f"{source}: [[radio]] {i}: unknown stream {unknown[0]!r}")
        # a routed port keeps its hand-over state by station id (docs/radio.md): two
        # routed ports with one id (0: both derived from the node key) would mix theirs
        if radio.routed and any(r.routed and r.station_id == radio.station_id for r in radios):
            raise ConfigError(
                f"{source}: [[radio]] {i}: another routed port has station id"
                f" {radio.station_id or 'derived from the node key'}: give each its own"
                " station_id"
            )
        radios.append(radio)
    return tuple(radios)


def parse_config(text: str, source: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from exc
    sections: dict[str, Any] = {}
    for name, values in raw.items():
        cls = SECTIONS.get(name)
        if name == "network" and isinstance(values, dict):
            sections[name] = dict(values)
            continue
        if name == "radio":
            sections[name] = _parse_radios(values, source)
            continue
        if cls is None:
            raise ConfigError(f"{source}: unknown section [{name}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{name}] must be a table")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs = {}
        for key, value in values.items():
            if key not in fields:
                raise ConfigError(f"{source}: unknown key {key!r} in [{name}]")
            kwargs[key] = _check_value(name, fields[key], hints[key], value)
        sections[name] = cls(**kwargs)
    config = Config(**sections)
    validate(config)
    return config


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    return parse_config(text, str(path))


def validate(config: Config) -> None:
    for name in ("listen", "peer_listen"):
        value = getattr(config.node, name)
        if name == "peer_listen" and not value:
            continue
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"[node] {name}: expected HOST:PORT, got {value!r}")
    for url in [config.node.hub_url, *config.node.peers]:
        if url and not (url.startswith("http://") or url.startswith("https://")):
            raise ConfigError(f"[node] peer URL {url!r}: expected http:// or https://")
    if not 1 <= config.node.sync_interval_s <= 3600:
        raise ConfigError("[node] sync_interval_s: expected 1 to 3600")
    for name in config.node.discovery_interfaces:
        # Linux interface names are shorter than IFNAMSIZ = 16 bytes (include/uapi/linux/if.h).
        if not 0 < len(name.encode()) < 16 or any(c in name for c in "/ \t\n:"):
            raise ConfigError(f"[node] discovery_interfaces: {name!r} is not an interface name")
    for key in config.node.authority_keys:
        try:
            if len(bytes.fromhex(key)) != 32:
                raise ValueError
        except ValueError:
            raise ConfigError(f"[node] authority_keys: {key!r} is not a 64-hex-digit key") from None
    if config.network:
        net = config.network_settings()  # raises ConfigError with the reason
        portal_port = int(config.node.listen.rpartition(":")[2])
        peer_port = int(config.peer_listen.rpartition(":")[2])
        if net.portal_port != portal_port:
            raise ConfigError(
                f"[network] portal_port {net.portal_port} differs from [node] listen port"
                f" {portal_port}: phones would not reach the portal"
            )
        if net.admin_port != peer_port:
            raise ConfigError(
                f"[network] admin_port {net.admin_port} differs from the peer/staff port"
                f" {peer_port}: the firewall would not protect the admin API"
            )
    url = config.portal.public_url
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("[portal] public_url: expected an http:// or https:// URL")
    if config.portal.default_language not in ("ja", "en"):
        raise ConfigError("[portal] default_language: expected 'ja' or 'en'")
    if config.portal.post_burst < 1 or config.portal.post_interval_s < 1:
        raise ConfigError("[portal] post_burst and post_interval_s must be at least 1")
    if config.power.source not in ("none", "sysfs", "ups-hat"):
        raise ConfigError("[power] source: expected none, sysfs or ups-hat")
    url = config.hub.cap_feed_url
    if url and not (url.startswith("http://") or url.startswith("https://")):
        raise ConfigError("[hub] cap_feed_url: expected an http:// or https:// URL")
    if not 10 <= config.hub.cap_feed_interval_s <= 86_400:
        raise ConfigError("[hub] cap_feed_interval_s: expected 10 to 86400")
    if not 0 < config.shelter.capacity <= 100_000:
        raise ConfigError("[shelter] capacity: expected 1 to 100000")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


# [network] keys whose value comes from [shelter] / [portal] unless written.
_NETWORK_DERIVED = frozenset({"ssid", "shelter_capacity", "portal_hostname"})


def example_config() -> str:
    """A complete, commented configuration with every default."""
    lines = ["# shelterkit node configuration (TOML). Every key is optional.", ""]
    defaults = Config()
    for section in dataclasses.fields(Config):
        if section.name in ("network", "radio"):
            continue
        value = getattr(defaults, section.name)
        lines.append(f"# {type(value).__doc__}")
        lines.append(f"[{section.name}]")
        for f in dataclasses.fields(value):
            lines.append(f"# {f.metadata['doc']}")
            lines.append(f"{f.name} = {_toml_value(getattr(value, f.name))}")
        lines.append("")
    lines.append(f"# {RadioSettings.__doc__}")
    lines.append("# A node without radio has none; an example for an E220 module:")
    lines.append("# [[radio]]")
    for f in dataclasses.fields(RadioSettings):
        value = "/dev/ttyUSB0" if f.name == "port" else getattr(RadioSettings(), f.name)
        lines.append(f"# {f.name} = {_toml_value('e220' if f.name == 'driver' else value)}")
        lines.append(f"#   {f.metadata['doc']}")
    lines.append("")
    lines.append("# [network] — the shelter Wi-Fi, DHCP/DNS and firewall on the Pi")
    lines.append("# (shelterkit net render/apply). Leave it out on a machine that is not a node.")
    lines.append("[network]")
    for name, default, doc in NetworkSettings.documentation():
        lines.append(f"# {doc}")
        if default is None or name in _NETWORK_DERIVED:
            lines.append(f"# {name} = (derived when unset)")
        else:
            lines.append(f"{name} = {_toml_value(default)}")
    lines.append("")
    return "\n".join(lines)
