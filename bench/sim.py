"""The city simulation on the 48-shelter inventory (issue 11), with its run times.

Runs every scenario of ``shelterkit sim`` on data/shelters-nasukarasuyama.csv (or the
inventory given), prints per scenario the maximum and median delivery times, records
lost, airtime violations and the busiest node's hour, and how long each run took.

    .venv/bin/python bench/sim.py [INVENTORY.csv] [--hours H] [--out DIR] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from shelterkit.sim import SCENARIOS, run_sim

DEFAULT_INVENTORY = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "shelters-nasukarasuyama.csv"
)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("inventory", nargs="?", type=Path, default=DEFAULT_INVENTORY)
    p.add_argument("--hours", type=float, help="length of every scenario (default: its own)")
    p.add_argument("--out", type=Path, default=Path("sim-report"))
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scenario", action="append", choices=list(SCENARIOS))
    args = p.parse_args()
    print(
        f"{'scenario':<10} {'run s':>7} {'alert max':>10} {'alert med':>10} "
        f"{'status max':>11} {'safety max':>11} {'lost':>5} {'viol':>5} {'busiest h':>10}"
    )
    for name in args.scenario or list(SCENARIOS):
        started = time.monotonic()
        report = asyncio.run(
            run_sim(args.inventory, args.out / name, args.seed, scenarios=[name], hours=args.hours)
        )
        took = time.monotonic() - started
        sc = report["scenarios"][name]  # type: ignore[index]
        busiest = max(sc["airtime_s"].values(), key=lambda a: a["max_hour_s"])

        def fmt(summary: dict[str, object], key: str) -> str:
            if summary["undelivered"]:
                return f"{len(summary['undelivered'])} miss"  # type: ignore[arg-type]
            value = summary[key]
            return "-" if value is None else f"{value:.0f} s"

        print(
            f"{name:<10} {took:>7.0f} {fmt(sc['alert_delivery_s'], 'max'):>10} "
            f"{fmt(sc['alert_delivery_s'], 'median'):>10} "
            f"{fmt(sc['status_delivery_s'], 'max'):>11} "
            f"{fmt(sc['safety_delivery_s'], 'max'):>11} {sc['records_lost']:>5} "
            f"{sc['airtime_violations']:>5} {busiest['max_hour_s']:>8.0f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
