"""``shelterkit`` command line. User mistakes exit 2 with one line on stderr."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from shelterkit import __version__
from shelterkit.config import example_config, load_config
from shelterkit.errors import ShelterkitError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="shelterkit",
        description="Offline communications kit for disaster shelters.",
    )
    p.add_argument("--version", action="version", version=f"shelterkit {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    node = sub.add_parser("node", help="run one shelter node")
    node.add_argument("--config", type=Path, help="TOML config file (default: embedded defaults)")
    node.add_argument("--data", help="data directory (overrides [node] data_dir)")
    node.add_argument("--listen", help="HOST:PORT of the portal (overrides [node] listen)")

    demo = sub.add_parser("demo", help="run a whole local city on this machine")
    demo.add_argument("--data", help="data directory (default: a fresh temporary one)")
    demo.add_argument("--port", type=int, default=8080, help="first port to use (default 8080)")

    cfg = sub.add_parser("config", help="configuration helpers")
    cfg.add_argument("--example", action="store_true", help="print a complete example config")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _dispatch(args)
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
    if args.command == "node":
        from shelterkit.service.run import run_node

        config = load_config(args.config).with_overrides(data_dir=args.data, listen=args.listen)
        from shelterkit.config import validate

        validate(config)
        asyncio.run(run_node(config))
        return 0
    if args.command == "demo":
        from shelterkit.demo import run_demo

        asyncio.run(run_demo(args.data, args.port))
        return 0
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
