"""The shelter inventory of a city (``data/shelters-nasukarasuyama.csv`` and its kind).

Columns: ``id,name_ja,name_en,lat,lon,kind,capacity,backhaul,km_to_city_hall,real_name``;
the simulation reads ``id``, ``name_ja``, ``lat``, ``lon``, ``kind``, ``capacity`` and
``backhaul`` and ignores the rest. City hall is not a row: it sits at ``CITY_HALL`` unless
an ``HUB`` row gives its position (``id`` = ``HUB``, any backhaul).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from shelterkit.errors import InputError

# 烏山庁舎 (Karasuyama city hall), data/README.md.
CITY_HALL = (36.6567, 140.1517)
HUB_ROW_ID = "HUB"
BACKHAULS = ("fiber", "mobile", "none")
# An inventory is a city's shelters; a few hundred is a large city (bounds memory and time).
MAX_SHELTERS = 400
REQUIRED_COLUMNS = ("id", "name_ja", "lat", "lon", "kind", "capacity", "backhaul")


@dataclass(frozen=True, slots=True)
class Shelter:
    id: str
    name: str
    lat: float
    lon: float
    kind: str
    capacity: int
    backhaul: str  # fiber | mobile | none


@dataclass(frozen=True, slots=True)
class Inventory:
    shelters: tuple[Shelter, ...]
    city_hall: tuple[float, float]  # lat, lon


def parse_inventory(text: str, source: str = "inventory") -> Inventory:
    """Validate an inventory CSV (``InputError`` naming the row and field otherwise)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise _bad(source, f"missing columns: {', '.join(missing)}")
    shelters: list[Shelter] = []
    hall = CITY_HALL
    seen: set[str] = set()
    for line, row in enumerate(reader, start=2):
        where = f"{source} line {line}"
        sid = (row.get("id") or "").strip()
        if not sid:
            raise _bad(where, "empty id")
        if sid in seen:
            raise _bad(where, f"duplicate id {sid}")
        seen.add(sid)
        try:
            lat, lon = float(row["lat"]), float(row["lon"])
            capacity = int(row["capacity"] or 0)
        except (TypeError, ValueError):
            raise _bad(where, "lat, lon and capacity must be numbers") from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise _bad(where, f"position out of range: {lat}, {lon}")
        if sid == HUB_ROW_ID:
            hall = (lat, lon)
            continue
        backhaul = (row.get("backhaul") or "").strip()
        if backhaul not in BACKHAULS:
            raise _bad(where, f"backhaul must be fiber, mobile or none, not {backhaul!r}")
        shelters.append(
            Shelter(
                sid, (row.get("name_ja") or sid).strip(), lat, lon, row["kind"], capacity, backhaul
            )
        )
    if not shelters:
        raise _bad(source, "no shelters")
    if len(shelters) > MAX_SHELTERS:
        raise _bad(source, f"too many shelters: {len(shelters)} > {MAX_SHELTERS}")
    return Inventory(tuple(shelters), hall)


def load_inventory(path: Path) -> Inventory:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _bad(str(path), f"cannot read the inventory: {exc}") from None
    return parse_inventory(text, str(path))


def _bad(where: str, why: str) -> InputError:
    return InputError("invalid", "inventory", f"{where}: {why}")
