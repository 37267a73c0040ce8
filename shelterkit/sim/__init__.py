"""The city simulation (issue 11): every shelter's real node on emulated links.

``run_sim(inventory, out, seed)`` runs the scenarios of ``scenario.py`` and writes
``report.json`` and ``report.html`` to ``out``; ``shelterkit sim`` calls it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

from shelterkit.errors import InputError
from shelterkit.sim.city import ScenarioResult, run_scenario
from shelterkit.sim.inventory import load_inventory
from shelterkit.sim.report import build_report, report_html, report_json
from shelterkit.sim.scenario import blackout, nodes_off, normal_day
from shelterkit.sim.topology import topology_of

SCENARIOS = {"normal": normal_day, "blackout": blackout, "nodes-off": nodes_off}


async def run_sim(
    inventory: Path,
    out: Path,
    seed: int = 1,
    *,
    scenarios: Sequence[str] = tuple(SCENARIOS),
    hours: float | None = None,
) -> dict[str, object]:
    """Run ``scenarios`` on ``inventory``; write the reports to ``out``; return the report."""
    for name in scenarios:
        if name not in SCENARIOS:
            raise InputError("unknown scenario", "--scenario", name)
    topology = topology_of(load_inventory(inventory))
    results: list[ScenarioResult] = []
    for name in scenarios:
        make = SCENARIOS[name]
        rng = random.Random(f"{seed}/{name}/faults")
        scenario = make(topology, rng) if hours is None else make(topology, rng, hours=hours)
        results.append(await run_scenario(topology, scenario, seed))
    report = build_report(topology, results, seed, inventory.name)
    await asyncio.to_thread(_write, out, report_json(report), report_html(report))
    return report


def _write(out: Path, json_text: str, html_text: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json_text, "utf-8")
    (out / "report.html").write_text(html_text, "utf-8")
