"""The inventory is read strictly: every fault is one line naming the row, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelterkit.cli import main
from shelterkit.errors import InputError
from shelterkit.provision.inventory import Backhaul, parse_inventory, read_inventory
from tests.provision.conftest import INVENTORY

HEADER = "id,name_ja,name_en,lat,lon,kind,capacity,backhaul,km_to_city_hall,real_name"
GOOD = "S01,烏山公民館,Karasuyama Community Hall,36.656,140.153,community_center,150,fiber,0.14,yes"


def test_city_inventory_reads() -> None:
    shelters = read_inventory(INVENTORY)
    assert len(shelters) == 48
    assert len({s.id for s in shelters}) == 48
    assert sum(s.backhaul is Backhaul.NONE for s in shelters) == 7
    assert shelters[0].name_ja == "烏山公民館" and shelters[0].row == 2


def test_byte_order_mark_and_blank_lines_are_accepted() -> None:
    shelters = parse_inventory("\ufeff" + HEADER + "\n\n" + GOOD + "\n")
    assert [s.id for s in shelters] == ["S01"]


def _row(**change: str) -> str:
    cells = dict(zip(HEADER.split(","), GOOD.split(","), strict=True))
    cells.update(change)
    return ",".join(cells.values())


BAD_INVENTORIES = [
    ("missing_column", HEADER.replace(",backhaul", "") + "\n" + GOOD, "row 1: missing column"),
    ("unknown_column", HEADER + ",extra\n" + GOOD + ",x", "row 1: unknown column 'extra'"),
    ("duplicate_column", HEADER + ",id\n" + GOOD + ",S09", "row 1: column 'id' appears twice"),
    ("duplicate_id", f"{HEADER}\n{GOOD}\n{_row(id='s01')}", "row 3: id s01 already used in row 2"),
    ("lat_out_of_range", f"{HEADER}\n{_row(lat='91')}", "row 2: lat 91 is outside -90..90"),
    ("lon_out_of_range", f"{HEADER}\n{_row(lon='-180.5')}", "row 2: lon -180.5 is outside"),
    ("lat_not_a_number", f"{HEADER}\n{_row(lat='north')}", "row 2: lat 'north' is not a number"),
    ("lat_nan", f"{HEADER}\n{_row(lat='nan')}", "row 2: lat nan is outside"),
    ("capacity_zero", f"{HEADER}\n{_row(capacity='0')}", "row 2: capacity '0'"),
    ("capacity_negative", f"{HEADER}\n{_row(capacity='-5')}", "row 2: capacity '-5'"),
    ("capacity_fraction", f"{HEADER}\n{_row(capacity='1.5')}", "row 2: capacity '1.5'"),
    ("backhaul_unknown", f"{HEADER}\n{_row(backhaul='satellite')}", "row 2: backhaul 'satellite'"),
    ("id_with_slash", f"{HEADER}\n{_row(id='../S1')}", "row 2: id '../S1'"),
    ("name_empty", f"{HEADER}\n{_row(name_ja='  ')}", "row 2: name_ja is empty"),
    ("too_few_fields", f"{HEADER}\nS01,烏山公民館", "row 2: 2 fields, the header has 10"),
    ("no_shelters", HEADER + "\n", "row 2: no shelters"),
    ("empty_file", "", "row 1: no header row"),
    ("same_host_name", f"{HEADER}\n{_row(id='S_1')}\n{_row(id='s-1')}", "row 3: id s-1 already"),
]


@pytest.mark.parametrize(
    ("content", "expected"),
    [pytest.param(c, e, id=name) for name, c, e in BAD_INVENTORIES],
)
def test_bad_inventory_rejected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    inventory = tmp_path / "inventory.csv"
    inventory.write_text(content + "\n", "utf-8")
    out = tmp_path / "out"
    code = main(
        [
            "provision",
            "--inventory",
            str(inventory),
            "--out",
            str(out),
            "--authority",
            str(tmp_path / "hub"),
            "--hub-url",
            "http://hub.test:8080/",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert expected in err and str(inventory) in err
    assert not out.exists() and not (tmp_path / "hub").exists()  # nothing was written


def test_non_utf8_inventory_rejected(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    path.write_bytes((HEADER + "\n" + GOOD + "\n").encode("shift_jis"))
    with pytest.raises(InputError, match="not UTF-8"):
        read_inventory(path)


def test_oversized_inventory_rejected(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"x" * (4 * 1024 * 1024 + 1))
    with pytest.raises(InputError, match="larger than"):
        read_inventory(path)


def test_missing_inventory_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["provision", "--inventory", str(tmp_path / "nope.csv"), "--out", str(tmp_path)])
    assert code == 2
    assert "cannot read" in capsys.readouterr().err
