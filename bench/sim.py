"""The city simulation on the 48-shelter inventory (issue 11), with its run times.

Runs every scenario of ``shelterkit sim`` on data/shelters-nasukarasuyama.csv (or the
inventory given), prints per scenario the maximum and median delivery times, records
lost, airtime violations and the busiest node's hour, and how long each run took; a
last line gives the targets (docs/simulation.md, "Targets") beside them.

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
# The copy kept with the tests, when the shared data is not beside the repository.
TESTS_INVENTORY = (
    Path(__file__).resolve().parents[1] / "tests" / "provision" / DEFAULT_INVENTORY.name
)
# Alert at every portal within 5 minutes; status and safety at city hall within 30.
ALERT_TARGET_S = 300
STATUS_TARGET_S = 1800


def main() -> None:
    p = argparse.ArgumentParser()
    default = DEFAULT_INVENTORY if DEFAULT_INVENTORY.exists() else TESTS_INVENTORY
    p.add_argument("inventory", nargs="?", type=Path, default=default)
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
    print(
        f"{'target':<10} {'':>7} {f'<= {ALERT_TARGET_S} s':>10} {'':>10} "
        f"{f'<= {STATUS_TARGET_S} s':>11} {f'<= {STATUS_TARGET_S} s':>11} {0:>5} {0:>5}"
    )


if __name__ == "__main__":
    main()
