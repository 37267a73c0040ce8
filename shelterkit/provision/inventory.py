"""The city's shelter inventory (a CSV file), validated strictly, row by row.

The format is the one of ``data/shelters-nasukarasuyama.csv``::

    id,name_ja,name_en,lat,lon,kind,capacity,backhaul,km_to_city_hall,real_name

``read_inventory`` returns frozen ``Shelter`` objects or raises ``InputError`` whose detail is
one line naming the file, the row (as a spreadsheet numbers it: the header is row 1) and the
problem. Nothing is written before the whole file has been read and checked.
"""

from __future__ import annotations

import csv
import enum
import io
import math
import re
from dataclasses import dataclass
from pathlib import Path

from shelterkit.errors import InputError
from shelterkit.net.settings import ssid_for

REQUIRED_COLUMNS = ("id", "name_ja", "name_en", "lat", "lon", "capacity", "backhaul")
OPTIONAL_COLUMNS = ("kind", "km_to_city_hall", "real_name")
# A city has tens of shelters; a file ten times larger than Japan's largest municipal list
# (about 1,000 designated shelters) is not an inventory.
MAX_INVENTORY_ROWS = 10_000
MAX_INVENTORY_BYTES = 4 * 1024 * 1024
# Shelter names are shown on a portal and printed on a sheet; a paragraph is not a name.
MAX_NAME_CHARS = 80
# Same bound as [shelter] capacity in the node's configuration (config.validate).
MAX_CAPACITY_PEOPLE = 100_000
# Shelter ids become folder names, SSID suffixes and host names: the SSID rule (net.settings).
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")


class Backhaul(enum.StrEnum):
    """How a shelter reaches city hall without the radio."""

    FIBER = "fiber"
    MOBILE = "mobile"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Shelter:
    """One row of the inventory."""

    id: str
    name_ja: str
    name_en: str
    lat: float
    lon: float
    capacity: int
    backhaul: Backhaul
    kind: str = ""
    row: int = 0  # row number in the file (header = 1), for messages


def read_inventory(path: Path) -> list[Shelter]:
    """Every shelter of the CSV file at ``path``, in file order; ``InputError`` on any fault."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_INVENTORY_BYTES + 1)
    except OSError as exc:
        raise InputError("unreadable", "inventory", f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_INVENTORY_BYTES:
        raise _error(str(path), 0, f"larger than {MAX_INVENTORY_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _error(str(path), 0, f"not UTF-8 (byte {exc.start})") from None
    return parse_inventory(text, str(path))


def parse_inventory(text: str, source: str = "<inventory>") -> list[Shelter]:
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise _error(source, reader.line_num, f"not valid CSV: {exc}") from None
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise _error(source, 1, "no header row")
    header = [cell.strip() for cell in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise _error(
            source, 1, f"missing column {missing[0]!r} (need {', '.join(REQUIRED_COLUMNS)})"
        )
    duplicated = sorted({c for c in header if header.count(c) > 1})
    if duplicated:
        raise _error(source, 1, f"column {duplicated[0]!r} appears twice")
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        raise _error(source, 1, f"unknown column {unknown[0]!r}")
    if len(rows) - 1 > MAX_INVENTORY_ROWS:
        raise _error(source, 0, f"more than {MAX_INVENTORY_ROWS} shelters")
    shelters: list[Shelter] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue  # a blank line between rows is harmless
        if len(cells) != len(header):
            raise _error(source, number, f"{len(cells)} fields, the header has {len(header)}")
        shelter = _shelter(source, number, dict(zip(header, cells, strict=True)))
        # ids become host names (lower case, "_" as "-"): they must differ beyond that
        folded = shelter.id.casefold().replace("_", "-")
        if folded in seen:
            raise _error(source, number, f"id {shelter.id} already used in row {seen[folded]}")
        seen[folded] = number
        shelters.append(shelter)
    if not shelters:
        raise _error(source, 2, "no shelters")
    return shelters


def _shelter(source: str, row: int, cells: dict[str, str]) -> Shelter:
    sid = cells["id"].strip()
    if not _ID_RE.fullmatch(sid):
        raise _error(source, row, f"id {sid!r}: use 1–16 letters, digits, '-' or '_'")
    names = {}
    for column in ("name_ja", "name_en"):
        name = " ".join(cells[column].split())
        if not name:
            raise _error(source, row, f"{column} is empty")
        if len(name) > MAX_NAME_CHARS or any(ord(c) < 0x20 or c == "\x7f" for c in name):
            raise _error(source, row, f"{column}: at most {MAX_NAME_CHARS} printable characters")
        names[column] = name
    lat = _number(source, row, "lat", cells["lat"], -90.0, 90.0)
    lon = _number(source, row, "lon", cells["lon"], -180.0, 180.0)
    text = cells["capacity"].strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_CAPACITY_PEOPLE:
        raise _error(source, row, f"capacity {text!r}: expected 1 to {MAX_CAPACITY_PEOPLE} people")
    backhaul = cells["backhaul"].strip()
    if backhaul not in {b.value for b in Backhaul}:
        raise _error(source, row, f"backhaul {backhaul!r}: expected fiber, mobile or none")
    kind = cells.get("kind", "").strip()
    ssid_for(names["name_ja"], sid)  # cannot fail for a valid id, but keep the rule in one place
    return Shelter(
        id=sid,
        name_ja=names["name_ja"],
        name_en=names["name_en"],
        lat=lat,
        lon=lon,
        capacity=int(text),
        backhaul=Backhaul(backhaul),
        kind=kind,
        row=row,
    )


def _number(source: str, row: int, column: str, text: str, low: float, high: float) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise _error(source, row, f"{column} {text.strip()!r} is not a number") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise _error(source, row, f"{column} {text.strip()} is outside {low:g}..{high:g}")
    return value


def _error(source: str, row: int, reason: str) -> InputError:
    where = f"{source} row {row}" if row else source
    return InputError("invalid", "inventory", f"{where}: {reason}")


# Mean Earth radius (IUGG), enough for ranking neighbours a few kilometres apart.
EARTH_RADIUS_KM = 6371.0088


def distance_km(a: Shelter, b: Shelter) -> float:
    """Great-circle (haversine) distance between two shelters."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
