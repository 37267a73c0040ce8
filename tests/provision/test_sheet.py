"""The entrance sheet: its QR codes decode (zbarimg) to the shelter's SSID and portal URL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from shelterkit.provision.sheet import (
    SheetText,
    render_sheet,
    sheet_pdf,
    sheet_png,
    wifi_uri,
)
from tests.provision.conftest import Provisioned

ZBARIMG = shutil.which("zbarimg")
# Under CI nothing skips: scripts/bootstrap installs zbar-tools there.
needs_zbar = pytest.mark.skipif(
    ZBARIMG is None and os.environ.get("CI") != "true",
    reason="zbarimg missing: apt-get install zbar-tools (scripts/bootstrap test)",
)


def decode_qr(image: Path) -> list[bytes]:
    """Every QR code in ``image``, one per line of zbarimg's raw output, as UTF-8 bytes."""
    assert ZBARIMG is not None, "zbarimg missing: apt-get install zbar-tools"
    done = subprocess.run(
        [ZBARIMG, "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [s for s in done.stdout.split(b"\n") if s]


@pytest.mark.parametrize(
    ("ssid", "uri"),
    [
        ("烏山公民館-S01", "WIFI:T:nopass;S:烏山公民館-S01;;"),
        ('a;b,c:d"e\\f', 'WIFI:T:nopass;S:a\\;b\\,c\\:d\\"e\\\\f;;'),
        ("CAFE", 'WIFI:T:nopass;S:"CAFE";;'),
        ("cafe shop", "WIFI:T:nopass;S:cafe shop;;"),
    ],
)
def test_wifi_uri_escapes_special_characters(ssid: str, uri: str) -> None:
    assert wifi_uri(ssid) == uri


@needs_zbar
@pytest.mark.parametrize("shelter", ["S01", "S07", "S24"])
def test_bundle_sheet_qr_codes_decode(provisioned: Provisioned, shelter: str) -> None:
    folder = provisioned.out / "bundles" / shelter
    manifest = json.loads((folder / "bundle.json").read_text("utf-8"))
    symbols = decode_qr(folder / "sheet.png")
    assert sorted(symbols) == sorted(
        [
            f"WIFI:T:nopass;S:{manifest['ssid']};;".encode(),
            b"http://shelter.lan/",
        ]
    )


@needs_zbar
def test_sheet_with_special_characters_decodes(tmp_path: Path) -> None:
    # ASCII only: zbar shows a backslash next to non-ASCII text as "¥" (its Shift_JIS
    # heritage) even when the code says UTF-8; Japanese SSIDs are checked on the bundles
    text = SheetText(
        "X1", "テスト避難所", "Test, Shelter", 'a;b,c:"d"\\e-X1', "http://portal.test:8080/"
    )
    path = tmp_path / "sheet.png"
    path.write_bytes(sheet_png(render_sheet(text)))
    assert sorted(decode_qr(path)) == sorted(
        [b'WIFI:T:nopass;S:a\\;b\\,c\\:\\"d\\"\\\\e-X1;;', b"http://portal.test:8080/"]
    )


def test_sheet_is_a4_and_stable(tmp_path: Path) -> None:
    text = SheetText(
        "S07",
        "白久中学校体育館",
        "Shiraku Junior High Gym",
        "白久中学校体育館-S07",
        "http://shelter.lan/",
    )
    first, second = render_sheet(text), render_sheet(text)
    assert first.size == (2480, 3508)
    assert sheet_png(first) == sheet_png(second)
    pdf = sheet_pdf([first])
    assert pdf == sheet_pdf([second])  # no date inside
    assert pdf.startswith(b"%PDF-") and b"CreationDate" not in pdf
    box = re.search(rb"/MediaBox \[ ?0 0 ([\d.]+) ([\d.]+) ?\]", pdf)
    assert box is not None
    # A4 in points: 210 mm × 297 mm = 595.3 × 841.9 pt
    assert abs(float(box.group(1)) - 595.3) < 1 and abs(float(box.group(2)) - 841.9) < 1


def test_sheet_png_has_print_resolution(provisioned: Provisioned) -> None:
    from PIL import Image

    with Image.open(provisioned.out / "bundles/S01/sheet.png") as image:
        assert image.size == (2480, 3508)
        assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)
