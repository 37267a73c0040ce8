"""``shelterkit`` command line. User mistakes exit 2 with one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from shelterkit import __version__
from shelterkit.config import example_config, load_config, validate
from shelterkit.errors import ConfigError, InputError, ShelterkitError

# The CLI waits this long for a hub or node to answer.
HTTP_TIMEOUT_S = 30


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shelterkit",
        description="Offline communications kit for disaster shelters.",
    )
    p.add_argument("--version", action="version", version=f"shelterkit {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for name, text in (("node", "run one shelter node"), ("hub", "run the city-hall hub")):
        cmd = sub.add_parser(name, help=text, description=text)
        cmd.add_argument(
            "--config", type=Path, help="TOML config file (default: embedded defaults)"
        )
        cmd.add_argument("--data", help="data directory (overrides [node] data_dir)")
        cmd.add_argument("--listen", help="HOST:PORT to listen on (overrides [node] listen)")

    demo = sub.add_parser("demo", help="run a whole local city on this machine")
    demo.add_argument("--data", help="data directory (default: a fresh temporary one)")
    demo.add_argument("--port", type=int, default=8080, help="first port to use (default 8080)")

    cfg = sub.add_parser("config", help="configuration helpers")
    cfg.add_argument("--example", action="store_true", help="print a complete example config")

    net = sub.add_parser("net", help="the shelter Wi-Fi, DHCP/DNS and firewall on a Pi")
    nsub = net.add_subparsers(dest="net_command", required=True, metavar="ACTION")
    render = nsub.add_parser("render", help="write hostapd.conf, dnsmasq.conf, nftables.conf")
    render.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    render.add_argument("--out", type=Path, required=True, help="folder to write the files to")
    apply_ = nsub.add_parser("apply", help="set up the interface, write the files, reload (root)")
    apply_.add_argument("--config", type=Path, required=True, help="the node's TOML config")
    status = nsub.add_parser("status", help="report the Wi-Fi side and the uplinks as JSON")
    status.add_argument("--config", type=Path, required=True, help="the node's TOML config")

    prov = sub.add_parser(
        "provision",
        help="write one bundle per shelter of an inventory (keys, enrolment, config, sheet)",
        description="Write one bundle per shelter of an inventory CSV: node key, enrolment"
        " signed by the hub's authority key, node.toml, network files and the entrance sheet."
        " Re-running keeps keys and enrolments; a shelter removed from the inventory is"
        " revoked. See docs/provisioning.md.",
    )
    prov.add_argument("--inventory", type=Path, required=True, help="the shelters (CSV)")
    prov.add_argument("--out", type=Path, required=True, help="folder for the bundles")
    prov.add_argument(
        "--authority",
        type=Path,
        default=Path("shelterkit-data"),
        help="the hub's data directory, holding authority.key (default: shelterkit-data,"
        " as for `shelterkit hub`); created with a new authority key if absent",
    )
    prov.add_argument(
        "--hub-url",
        help="the hub's URL as the nodes reach it (remembered in OUT for later runs)",
    )
    prov.add_argument(
        "--rotate",
        action="append",
        default=[],
        metavar="ID",
        help="give this shelter's node a new key and revoke the old one (repeat for more)",
    )

    sim = sub.add_parser(
        "sim",
        help="run the city simulation; write report.json and report.html",
        description="Run every shelter's real node on emulated backhaul and LoRa links with a"
        " virtual clock (scenarios: a normal day, a city-wide blackout, a fifth of nodes off)"
        " and write report.json and report.html to OUT. See docs/simulation.md.",
    )
    sim.add_argument("--inventory", type=Path, required=True, help="the shelters (CSV)")
    sim.add_argument("--out", type=Path, required=True, help="folder for the reports")
    sim.add_argument("--seed", type=int, default=1, help="the same seed gives the same report")
    sim.add_argument(
        "--scenario",
        action="append",
        choices=["normal", "blackout", "nodes-off"],
        help="run only this scenario (repeat for more; default all)",
    )
    sim.add_argument("--hours", type=float, help="length of every scenario (default: its own)")

    token = sub.add_parser("token", help="print a staff token for a node or hub's admin API")
    token.add_argument("--data", default="shelterkit-data", help="the node or hub's data directory")
    token.add_argument("--ttl", default="7d", help="validity, e.g. 12h or 7d (default 7d)")

    tui = sub.add_parser(
        "tui",
        help="the staff TUI against a node, the hub, or the nodes found on the LAN",
        description="The staff TUI against a node's or the hub's admin API (several URLs: "
        "t switches between them). With no URL and no hub (or with --lan) it lists the "
        "nodes found on the LAN by zeroconf (_shelterkit._tcp).",
    )
    tui.add_argument("urls", nargs="*", metavar="URL", help="node or hub URL (default: --hub)")
    _remote_args(tui)
    tui.add_argument(
        "--lan",
        action="store_true",
        help="list the nodes found on the LAN by zeroconf, even if $SHELTERKIT_HUB is set",
    )
    tui.add_argument("--lang", choices=["ja", "en"], default="ja", help="language (key l switches)")

    alert = sub.add_parser("alert", help="issue or import alerts at the hub")
    asub = alert.add_subparsers(dest="alert_command", required=True, metavar="ACTION")
    issue = asub.add_parser("issue", help="issue a signed alert at the hub")
    _remote_args(issue)
    issue.add_argument("--headline", required=True, help="headline in Japanese")
    issue.add_argument("--headline-en", help="headline in English")
    issue.add_argument("--description", help="description in Japanese")
    issue.add_argument("--description-en", help="description in English")
    issue.add_argument("--instruction", help="what to do, in Japanese")
    issue.add_argument("--instruction-en", help="what to do, in English")
    issue.add_argument("--event", help="event name in Japanese, e.g. 大雨警報")
    issue.add_argument(
        "--severity", default="severe", choices=["extreme", "severe", "moderate", "minor"]
    )
    issue.add_argument(
        "--urgency", default="immediate", choices=["immediate", "expected", "future"]
    )
    issue.add_argument("--certainty", default="likely", choices=["observed", "likely", "possible"])
    issue.add_argument("--expires", default="24h", help="validity, e.g. 90m, 6h, 2d (default 24h)")
    issue.add_argument(
        "--target", action="append", default=[], help="shelter id (repeat; default all)"
    )
    imp = asub.add_parser("import", help="import a CAP 1.2 alert file at the hub")
    _remote_args(imp)
    imp.add_argument("file", type=Path, help="CAP 1.2 XML file")
    return p


def _remote_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--hub", default=os.environ.get("SHELTERKIT_HUB"), help="hub URL ($SHELTERKIT_HUB)"
    )
    p.add_argument(
        "--token",
        default=os.environ.get("SHELTERKIT_TOKEN"),
        help="staff token ($SHELTERKIT_TOKEN)",
    )


def run_service(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived service on uvloop: it serves the portal with about a third less CPU
    per request than the standard loop (docs/benchmarks.md). Netlink (pyroute2), which uvloop
    cannot register, runs on a standard loop of its own (``net.loopthread``)."""
    import uvloop

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``6h``, ``2d`` → seconds."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match:
        raise InputError("invalid", "duration", f"not a duration: {text!r} (e.g. 90m, 6h, 2d)")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
    except InputError as exc:
        print(f"shelterkit: {exc.detail or exc}", file=sys.stderr)
        return 2
    except ShelterkitError as exc:
        print(f"shelterkit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "config":
        if not args.example:
            print("shelterkit: config: say --example", file=sys.stderr)
            return 2
        sys.stdout.write(example_config())
        return 0
    if args.command in ("node", "hub"):
        config = load_config(args.config).with_overrides(data_dir=args.data, listen=args.listen)
        validate(config)
        if args.command == "node":
            from shelterkit.service.run import run_node

            run_service(run_node(config))
        else:
            from shelterkit.hub.run import run_hub

            run_service(run_hub(config))
        return 0
    if args.command == "demo":
        from shelterkit.demo import run_demo

        run_service(run_demo(args.data, args.port))
        return 0
    if args.command == "net":
        return _net(args)
    if args.command == "token":
        return _token(args)
    if args.command == "provision":
        return _provision(args)
    if args.command == "sim":
        from shelterkit.sim import SCENARIOS, run_sim

        asyncio.run(
            run_sim(
                args.inventory,
                args.out,
                args.seed,
                scenarios=args.scenario or tuple(SCENARIOS),
                hours=args.hours,
            )
        )
        print(f"wrote {args.out / 'report.json'} and {args.out / 'report.html'}")
        return 0
    if args.command == "alert":
        return _alert(args)
    if args.command == "tui":
        return _tui(args)
    raise AssertionError(args.command)


def _tui(args: argparse.Namespace) -> int:
    if args.lan and args.urls:
        raise ConfigError("give node or hub URLs, or --lan, not both")
    urls = [] if args.lan else list(args.urls) or ([args.hub] if args.hub else [])
    if not args.token:
        raise ConfigError("no token: give --token TOKEN or set SHELTERKIT_TOKEN")
    for url in urls:
        if not re.match(r"https?://[^/\s]+", url):
            raise InputError("invalid", "URL", f"not an http:// URL: {url!r}")
    from shelterkit.tui.app import create_app
    from shelterkit.tui.lan import ZeroconfSource

    # Lines on stderr would tear through the full-screen app; the TUI says what matters itself.
    logging.getLogger().handlers[:] = [logging.NullHandler()]
    if not urls:  # no node or hub named: the ones on this LAN
        create_app([], args.token, lang=args.lang, lan=ZeroconfSource()).run()
    else:
        create_app(urls, args.token, lang=args.lang).run()
    return 0


def _net(args: argparse.Namespace) -> int:
    from shelterkit import net

    settings = load_config(args.config).network_settings()
    if args.net_command == "render":
        for path in net.write_rendered(settings, args.out):
            print(path)
        return 0
    if args.net_command == "apply":
        try:
            net.apply(settings)
        except net.ApplyError as exc:
            raise ConfigError(f"network not changed: {exc}") from None
        print("network applied")
        return 0
    if args.net_command == "status":
        report = asyncio.run(net.collect_status(settings, time.time()))
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    raise AssertionError(args.net_command)


def _provision(args: argparse.Namespace) -> int:
    from shelterkit.provision import provision
    from shelterkit.service.run import wall_ms

    report = asyncio.run(
        provision(
            args.inventory,
            args.out,
            args.authority,
            args.hub_url,
            wall_ms,
            rotate=frozenset(args.rotate),
        )
    )
    print(
        f"{len(report.shelters)} bundles in {report.out}: {len(report.created)} new,"
        f" {len(report.changed)} changed, {len(report.revoked)} revoked"
        f" (authority {report.authority_key})"
    )
    return 0


def _token(args: argparse.Namespace) -> int:
    from shelterkit.admin.tokens import mint_token
    from shelterkit.model.keys import SEED_BYTES, Identity
    from shelterkit.paths import DataPaths

    paths = DataPaths(Path(args.data))
    path = paths.admin_token
    try:
        secret = bytes.fromhex(path.read_text("ascii").strip())
        seed = bytes.fromhex(paths.node_key.read_text("ascii").strip())
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"no admin secret or node key in {args.data}: start the node or hub once first"
        ) from exc
    # The token names its node, so the staff TUI sends it to that node only (docs/tui.md).
    node = Identity(seed).public if len(seed) == SEED_BYTES else b""
    print(mint_token(secret, time.time(), parse_duration(args.ttl), node))
    return 0


def _request(args: argparse.Namespace, path: str, body: bytes, content_type: str) -> Any:
    if not args.hub:
        raise ConfigError("no hub: give --hub URL or set SHELTERKIT_HUB")
    if not args.token:
        raise ConfigError("no token: give --token TOKEN or set SHELTERKIT_TOKEN")
    url = args.hub.rstrip("/") + path
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {args.token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail") or exc.reason
        except (ValueError, AttributeError):
            detail = exc.reason
        raise ConfigError(f"the hub refused: {detail} (HTTP {exc.code})") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(f"cannot reach the hub at {args.hub}: {reason}") from None


def _alert(args: argparse.Namespace) -> int:
    if args.alert_command == "issue":

        def both(ja: str | None, en: str | None) -> dict[str, str]:
            return {k: v for k, v in (("ja", ja), ("en", en)) if v}

        payload = {
            "headline": both(args.headline, args.headline_en),
            "description": both(args.description, args.description_en),
            "instruction": both(args.instruction, args.instruction_en),
            "event": both(args.event, None),
            "severity": args.severity,
            "urgency": args.urgency,
            "certainty": args.certainty,
            "expires_in_s": parse_duration(args.expires),
            "targets": args.target,
        }
        result = _request(args, "/api/alerts", json.dumps(payload).encode(), "application/json")
        print(f"issued {result['identifier']} (record {result['id']})")
        return 0
    if args.alert_command == "import":
        try:
            xml = args.file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {args.file}: {exc.strerror}") from None
        result = _request(args, "/api/alerts/cap", xml, "application/cap+xml")
        for alert in result.get("alerts", []):
            done = "imported" if alert.get("imported", True) else "already held"
            print(f"{done} {alert['identifier']} (record {alert['id']})")
        return 0
    raise AssertionError(args.alert_command)


if __name__ == "__main__":
    sys.exit(main())
