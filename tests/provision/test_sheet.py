"""The entrance sheet: its QR codes decode (zbarimg) to the shelter's SSID and portal URL."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

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
    with Image.open(provisioned.out / "bundles/S01/sheet.png") as image:
        assert image.size == (2480, 3508)
        assert tuple(round(v) for v in image.info["dpi"]) == (300, 300)


def pdf_page(pdf: bytes, index: int = 0) -> Image.Image:
    """The ``index``-th page image of a PDF written by ``sheet_pdf``, without a PDF renderer.

    Each page is one bilevel image in a CCITT group 4 stream; wrapped in a minimal TIFF
    (the same compression), Pillow decodes it. ``BlackIs1 true`` in the PDF means the
    stream's white runs are the page's black pixels: photometric BlackIsZero here.
    """
    found = list(re.finditer(rb"/Subtype /Image(.*?)>>\s*stream\r?\n", pdf, re.S))
    match = found[index]
    head = match.group(1)
    assert b"/CCITTFaxDecode" in head and b"/K -1" in head and b"/BlackIs1 true" in head

    def number(key: bytes) -> int:
        found_number = re.search(rb"/" + key + rb" (\d+)", head)
        assert found_number is not None
        return int(found_number.group(1))

    width, height, length = number(b"Width"), number(b"Height"), number(b"Length")
    data = pdf[match.end() : match.end() + length]
    tags = [  # (tag, type: 3 = SHORT, 4 = LONG, value)
        (256, 3, width),
        (257, 3, height),
        (258, 3, 1),  # bits per sample
        (259, 3, 4),  # compression: CCITT group 4
        (262, 3, 1),  # photometric: BlackIsZero
        (273, 4, 8 + 2 + 12 * 8 + 4),  # strip offset: right after the IFD
        (278, 3, height),  # rows per strip
        (279, 4, length),  # strip byte count
    ]
    ifd = struct.pack("<H", len(tags))
    for tag, kind, value in tags:
        ifd += struct.pack(
            "<HHIHH" if kind == 3 else "<HHII", tag, kind, 1, value, *([0] * (kind == 3))
        )
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + data
    image = Image.open(io.BytesIO(tiff))
    image.load()
    return image.convert("L")


@needs_zbar
def test_printed_pdf_qr_codes_decode(provisioned: Provisioned, tmp_path: Path) -> None:
    manifest = json.loads((provisioned.out / "bundles/S02/bundle.json").read_text("utf-8"))
    expected = sorted([f"WIFI:T:nopass;S:{manifest['ssid']};;".encode(), b"http://shelter.lan/"])
    page = tmp_path / "page.png"
    pdf_page((provisioned.out / "bundles/S02/sheet.pdf").read_bytes()).save(page)
    assert sorted(decode_qr(page)) == expected
    # the same page in the city's print-all file (S02 is the inventory's second row)
    pdf_page((provisioned.out / "sheets.pdf").read_bytes(), 1).save(page)
    assert sorted(decode_qr(page)) == expected
