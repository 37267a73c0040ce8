"""City-hall views of the shelters' status records: per shelter and city totals, as JSON
and CSV (pure: heads in, rows out)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import EnrolBody, NeedLevel, StatusBody
from shelterkit.model.record import Record
from shelterkit.model.trust import HUB_SHELTER_ID

NEEDS = ("water", "food", "medicine", "blankets", "power")
CSV_COLUMNS = (
    "shelter",
    "name",
    "reported_at_ms",
    "headcount",
    "households",
    "needs_care",
    *(f"need_{n}" for n in NEEDS),
    "battery_pct",
    "clients",
    "links",
)


@dataclass(frozen=True, slots=True)
class ShelterStatus:
    shelter: str
    name: str
    reported_at_ms: int | None
    status: StatusBody | None


def shelter_statuses(heads: Mapping[bytes, Record]) -> list[ShelterStatus]:
    """One row per enrolled shelter (the hub itself left out), with its latest status."""
    rows = []
    for record in heads.values():
        body = record.body
        if not isinstance(body, EnrolBody) or body.shelter == HUB_SHELTER_ID:
            continue
        status = heads.get(b"S" + body.node_key)
        sb = status.body if status is not None and isinstance(status.body, StatusBody) else None
        at = wall_ms_of(status.hlc) if status is not None and sb is not None else None
        rows.append(ShelterStatus(body.shelter, body.name, at, sb))
    rows.sort(key=lambda r: r.shelter)
    return rows


def _row(s: ShelterStatus) -> dict[str, Any]:
    b = s.status
    row: dict[str, Any] = {"shelter": s.shelter, "name": s.name, "reported_at_ms": s.reported_at_ms}
    if b is None:
        return row
    row.update(
        headcount=b.headcount,
        households=b.households,
        needs_care=b.needs_care,
        battery_pct=None if b.battery_pct < 0 else b.battery_pct,
        clients=b.clients,
        links=b.links,
    )
    for need in NEEDS:
        row[f"need_{need}"] = getattr(b, f"need_{need}").name.lower()
    return row


def status_json(rows: list[ShelterStatus], now_ms: int) -> dict[str, Any]:
    reported = [r.status for r in rows if r.status is not None]
    totals: dict[str, Any] = {
        "shelters": len(rows),
        "reporting": len(reported),
        "headcount": sum(s.headcount for s in reported),
        "households": sum(s.households for s in reported),
        "needs_care": sum(s.needs_care for s in reported),
    }
    for need in NEEDS:
        levels = [getattr(s, f"need_{need}") for s in reported]
        totals[f"shelters_needing_{need}"] = sum(1 for lv in levels if lv is not NeedLevel.NONE)
    return {"now_ms": now_ms, "totals": totals, "shelters": [_row(r) for r in rows]}


def status_csv(rows: list[ShelterStatus]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in _row(r).items()})
    return out.getvalue()
