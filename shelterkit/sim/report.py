"""``report.json`` and ``report.html`` from scenario results (pure: no clock, no I/O).

The HTML is one self-contained page: inline SVG (a map of shelters and planned radio links
from lat/lon, delivery-time distributions, airtime per node against the hourly budget),
no JavaScript, no external resources.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from typing import Any

from shelterkit.sim.city import ScenarioResult
from shelterkit.sim.topology import HUB_SITE, Topology

# The yardstick for airtime (docs/radio.md): 360 s in any hour, the cap of the jp920-upper
# and jp920-short regimes; jp920 itself has none.
HOURLY_BUDGET_S = 360.0
BACKHAUL_COLOURS = {"fiber": "#1b6ac9", "mobile": "#e08a00", "none": "#c62828"}


def _delays(table: dict[str, Any]) -> dict[str, float | None]:
    return {sid: d.delay_s for sid, d in sorted(table.items())}


def _summary(delays: dict[str, float | None]) -> dict[str, Any]:
    known = [v for v in delays.values() if v is not None]
    missing = sorted(k for k, v in delays.items() if v is None)
    return {
        "per_shelter": delays,
        "max": max(known) if known and not missing else None,
        "median": _median(known),
        "undelivered": missing,
    }


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else round((s[mid - 1] + s[mid]) / 2, 3)


def build_report(
    topology: Topology, results: Sequence[ScenarioResult], seed: int, inventory_name: str
) -> dict[str, Any]:
    scenarios: dict[str, Any] = {}
    for r in results:
        sc = r.scenario
        scenarios[sc.name] = {
            "description": sc.description,
            "duration_s": sc.duration_s,
            "alert_issued_s": sc.event_s,
            "alert_delivery_s": _summary(_delays(r.alerts)),
            "status_delivery_s": _summary(_delays(r.statuses)),
            "safety_delivery_s": _summary(_delays(r.registrations)),
            "records_lost": r.records_lost,
            "records_lost_detail": r.lost_detail,
            "airtime_violations": r.airtime_violations,
            "airtime_s": r.airtime,
            "frames": r.frames,
            "backhaul_rounds": r.backhaul_rounds,
            "faults": {
                "backhaul_down": {
                    k: [v.start_s, v.end_s] for k, v in sorted(sc.backhaul_down.items())
                },
                "power_off": {k: [v.start_s, v.end_s] for k, v in sorted(sc.power_off.items())},
                "radio_down": {
                    f"{a}-{b}": [v.start_s, v.end_s] for (a, b), v in sorted(sc.radio_down.items())
                },
            },
        }
    return {
        "inventory": inventory_name,
        "seed": seed,
        "shelters": len(topology.sites) - 1,
        "uncovered": sorted(s.id for s in topology.sites if s.backhaul == "none"),
        "radio": {
            "lora": "SF9/125 kHz CR4/5",
            "profile": "jp920",
            "hourly_budget_s": HOURLY_BUDGET_S,
        },
        "sites": [
            {
                "id": s.id,
                "x_m": round(s.x_m, 1),
                "y_m": round(s.y_m, 1),
                "terrain": s.terrain,
                "backhaul": s.backhaul,
                "hops": topology.hops[s.id],
            }
            for s in topology.sites
        ],
        "links": [
            {
                "a": ln.a,
                "b": ln.b,
                "distance_m": round(ln.distance_m, 1),
                "terrain": ln.terrain,
                "loss": round(ln.loss, 3),
            }
            for ln in topology.links
        ],
        "scenarios": scenarios,
    }


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


# -- HTML ----------------------------------------------------------------------------------


def _map_svg(report: dict[str, Any], width: int = 560, height: int = 460) -> str:
    sites = report["sites"]
    xs = [s["x_m"] for s in sites]
    ys = [s["y_m"] for s in sites]
    span = max(max(xs) - min(xs), max(ys) - min(ys), 1.0)
    scale = (min(width, height) - 40) / span

    def px(s: dict[str, Any]) -> tuple[float, float]:
        return 20 + (s["x_m"] - min(xs)) * scale, height - 20 - (s["y_m"] - min(ys)) * scale

    by_id = {s["id"]: s for s in sites}
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="map of shelters and radio links">',
        f'<rect width="{width}" height="{height}" fill="#f7f7f2"/>',
    ]
    for ln in report["links"]:
        (x1, y1), (x2, y2) = px(by_id[ln["a"]]), px(by_id[ln["b"]])
        q = 1 - ln["loss"]
        colour = "#2e7d32" if ln["loss"] < 0.05 else "#9e9d24" if ln["loss"] < 0.2 else "#ef6c00"
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="{1 + 2 * q:.1f}" opacity="0.8">'
            f"<title>{ln['a']}–{ln['b']}: {ln['distance_m']:.0f} m, {ln['terrain']}, "
            f"loss {ln['loss']:.0%}</title></line>"
        )
    for s in sites:
        x, y = px(s)
        if s["id"] == HUB_SITE:
            parts.append(
                f'<rect x="{x - 7:.1f}" y="{y - 7:.1f}" width="14" height="14" fill="#000">'
                "<title>city hall</title></rect>"
            )
            continue
        colour = BACKHAUL_COLOURS[s["backhaul"]]
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff">'
            f"<title>{html.escape(s['id'])}: {s['backhaul']}, {s['terrain']}, "
            f"{s['hops']} radio hops</title></circle>"
        )
        parts.append(
            f'<text x="{x + 6:.1f}" y="{y - 4:.1f}" font-size="9">{html.escape(s["id"])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _strip_svg(
    title: str, delays: dict[str, float | None], limit_s: float, width: int = 560
) -> str:
    """Delivery times on a log axis, one dot per shelter, with the target as a line."""
    values = sorted((v, k) for k, v in delays.items() if v is not None)
    missing = [k for k, v in delays.items() if v is None]
    height, left, right = 90, 40, 20
    lo, hi = 1.0, max(limit_s * 2, max((v for v, _ in values), default=1.0) * 1.2)

    def x(v: float) -> float:
        v = max(v, lo)
        return left + (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * (
            width - left - right
        )

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(title)}">',
        f'<text x="4" y="12" font-size="11">{html.escape(title)}'
        f"{' — undelivered: ' + ', '.join(missing) if missing else ''}</text>",
        f'<line x1="{left}" y1="60" x2="{width - right}" y2="60" stroke="#888"/>',
    ]
    tick = 1.0
    while tick <= hi:
        parts.append(
            f'<line x1="{x(tick):.1f}" y1="57" x2="{x(tick):.1f}" y2="63" stroke="#888"/>'
            f'<text x="{x(tick):.1f}" y="76" font-size="9" text-anchor="middle">'
            f"{_fmt_s(tick)}</text>"
        )
        tick *= 10
    parts.append(
        f'<line x1="{x(limit_s):.1f}" y1="18" x2="{x(limit_s):.1f}" y2="64" stroke="#c62828" '
        f'stroke-dasharray="3,2"/><text x="{x(limit_s) + 3:.1f}" y="26" font-size="9" '
        f'fill="#c62828">target {_fmt_s(limit_s)}</text>'
    )
    for i, (v, k) in enumerate(values):
        parts.append(
            f'<circle cx="{x(v):.1f}" cy="{52 - (i % 5) * 6}" r="3" fill="#1b6ac9" '
            f'opacity="0.7"><title>{html.escape(k)}: {v:.1f} s</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt_s(v: float) -> str:
    return f"{v:.0f} s" if v < 600 else f"{v / 60:.0f} min"


def _airtime_svg(airtime: dict[str, dict[str, float]], width: int = 560) -> str:
    rows = sorted(airtime.items(), key=lambda kv: (-kv[1]["max_hour_s"], kv[0]))
    bar_h, top = 9, 22
    height = top + len(rows) * (bar_h + 2) + 10
    left = 46
    scale = (width - left - 60) / HOURLY_BUDGET_S
    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        'aria-label="airtime per node in its busiest hour">',
        '<text x="4" y="12" font-size="11">airtime in the busiest hour per node '
        f"(bar), against {HOURLY_BUDGET_S:.0f} s (line)</text>",
    ]
    for i, (sid, a) in enumerate(rows):
        y = top + i * (bar_h + 2)
        w = min(a["max_hour_s"], HOURLY_BUDGET_S * 1.5) * scale
        colour = "#c62828" if a["max_hour_s"] > HOURLY_BUDGET_S else "#2e7d32"
        parts.append(
            f'<text x="{left - 4}" y="{y + 8}" font-size="8" text-anchor="end">'
            f"{html.escape(sid)}</text>"
            f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}">'
            f"<title>{html.escape(sid)}: {a['max_hour_s']:.1f} s in the busiest hour, "
            f"{a['total_s']:.1f} s in all</title></rect>"
        )
    x = left + HOURLY_BUDGET_S * scale
    parts.append(
        f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{height - 6}" stroke="#000" '
        'stroke-dasharray="4,2"/></svg>'
    )
    return "".join(parts)


def report_html(report: dict[str, Any]) -> str:
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        "<title>shelterkit city simulation</title>",
        "<style>body{font:14px/1.4 sans-serif;margin:1.5em;max-width:1150px}"
        "table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
        ".cols{display:flex;flex-wrap:wrap;gap:1.5em}h2{margin-top:1.5em}</style></head><body>",
        f"<h1>City simulation: {html.escape(report['inventory'])}</h1>",
        f"<p>{report['shelters']} shelters, {len(report['uncovered'])} without backhaul "
        f"({', '.join(report['uncovered'])}); radio {report['radio']['lora']}, profile "
        f"{report['radio']['profile']}; seed {report['seed']}.</p>",
        "<table><tr><th>scenario</th><th>max alert delivery</th><th>max status delivery</th>"
        "<th>max safety delivery</th><th>records lost</th><th>airtime violations</th></tr>",
    ]
    for name, sc in report["scenarios"].items():
        cells = [
            _cell(sc["alert_delivery_s"]),
            _cell(sc["status_delivery_s"]),
            _cell(sc["safety_delivery_s"]),
            str(sc["records_lost"]),
            str(sc["airtime_violations"]),
        ]
        out.append(
            f"<tr><th>{html.escape(name)}</th>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        )
    out.append("</table>")
    out.append('<h2>Shelters and planned radio links</h2><div class="cols">')
    out.append(_map_svg(report))
    out.append(
        "<p>Squares: city hall. Dots: shelters by backhaul — "
        + ", ".join(f'<span style="color:{c}">●</span> {k}' for k, c in BACKHAUL_COLOURS.items())
        + ". Lines: planned radio links, green (&lt;5 % frame loss), olive (&lt;20 %), "
        "orange (more); thicker is better.</p></div>"
    )
    for name, sc in report["scenarios"].items():
        out.append(f"<h2>Scenario: {html.escape(name)}</h2><p>{html.escape(sc['description'])}</p>")
        out.append('<div class="cols"><div>')
        out.append(
            _strip_svg(
                "alert: city hall → every portal", sc["alert_delivery_s"]["per_shelter"], 300
            )
        )
        out.append(
            _strip_svg(
                "status: every shelter → city hall", sc["status_delivery_s"]["per_shelter"], 1800
            )
        )
        out.append(
            _strip_svg(
                "safety registration: every shelter → city hall",
                sc["safety_delivery_s"]["per_shelter"],
                1800,
            )
        )
        out.append("</div>")
        out.append(_airtime_svg(sc["airtime_s"]))
        out.append("</div>")
    out.append("</body></html>\n")
    return "".join(out)


def _cell(summary: dict[str, Any]) -> str:
    if summary["undelivered"]:
        return f"{len(summary['undelivered'])} undelivered"
    return "—" if summary["max"] is None else f"{summary['max']:.1f} s"
