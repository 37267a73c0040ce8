"""The sheet posted at a shelter's entrance: two QR codes and how to use them, ja and en.

One A4 page: the shelter's name, a QR code that joins the open Wi-Fi (the ``WIFI:`` URI that
phone cameras understand) and one that opens the portal, with short instructions in Japanese
first and English. Rendered with Pillow and a CJK font from Debian's ``fonts-noto-cjk``; the
PNG keeps grey levels, the PDF is the same page in black and white (crisp when printed, and
no JPEG blur on the QR modules). Nothing in either file depends on the date, so rendering the
same shelter twice gives the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from shelterkit.errors import ConfigError

# A4 at 300 dots per inch (ISO 216: 210 × 297 mm), the usual office-printer resolution.
SHEET_DPI = 300
SHEET_WIDTH_PX = 2480
SHEET_HEIGHT_PX = 3508
MARGIN_PX = 180  # 15 mm
# Each QR code is printed 70 mm wide: a phone camera reads it from about 50 cm away.
QR_SIZE_PX = 827
# The quiet zone around a QR code is 4 modules (ISO/IEC 18004:2015 §9.1).
QR_QUIET_ZONE_MODULES = 4
# Where Debian's fonts-noto-cjk puts the fonts; face 0 of the collection is the JP variant.
CJK_FONT_DIRS = (Path("/usr/share/fonts/opentype/noto"), Path("/usr/share/fonts"))
CJK_FONT_REGULAR = "NotoSansCJK-Regular.ttc"
CJK_FONT_BOLD = "NotoSansCJK-Bold.ttc"
CJK_FONT_JP_INDEX = 0
# The WIFI: URI escapes these with a backslash in SSIDs and passwords (ZXing "Barcode
# Contents", adopted by the Wi-Fi Alliance WPA3 specification v3.1 §7 URI format).
WIFI_URI_SPECIALS = '\\;,":'
PDF_TITLE = "shelterkit entrance sheet"
# Grey level below which a pixel prints black: keeps anti-aliased text legible.
BILEVEL_THRESHOLD = 160


@dataclass(frozen=True, slots=True)
class SheetText:
    """What a sheet says, for one shelter."""

    shelter_id: str
    name_ja: str
    name_en: str
    ssid: str
    portal_url: str


def wifi_uri(ssid: str) -> str:
    """``WIFI:T:nopass;S:<ssid>;;`` for an open network, escaped as phone cameras expect.

    An SSID that is only hex digits is also put in double quotes, so that a reader does not
    take it for hex-encoded bytes (ZXing "Barcode Contents", WIFI).
    """
    escaped = "".join("\\" + c if c in WIFI_URI_SPECIALS else c for c in ssid)
    if ssid and all(c in "0123456789abcdefABCDEF" for c in ssid):
        escaped = f'"{escaped}"'
    return f"WIFI:T:nopass;S:{escaped};;"


def render_sheet(text: SheetText) -> Image.Image:
    """The sheet as a greyscale A4 image at ``SHEET_DPI``."""
    page = Image.new("L", (SHEET_WIDTH_PX, SHEET_HEIGHT_PX), 255)
    draw = ImageDraw.Draw(page)
    inner = SHEET_WIDTH_PX - 2 * MARGIN_PX
    y = MARGIN_PX

    y = _centered(draw, y, "避難所 無料Wi-Fi", _font(True, 84)) + 20
    y = _centered(draw, y, "Shelter free Wi-Fi", _font(False, 60)) + 50
    for line in _wrap(draw, text.name_ja, _font(True, 120), inner):
        y = _centered(draw, y, line, _font(True, 120)) + 10
    for line in _wrap(draw, text.name_en, _font(False, 64), inner):
        y = _centered(draw, y, line, _font(False, 64)) + 6
    y += 60
    draw.line((MARGIN_PX, y, SHEET_WIDTH_PX - MARGIN_PX, y), fill=0, width=6)
    y += 70

    columns = (
        ("① Wi-Fiにつなぐ", "1. Join the Wi-Fi", wifi_uri(text.ssid), text.ssid),
        ("② 案内ページを開く", "2. Open the shelter page", text.portal_url, text.portal_url),
    )
    column_width = inner // 2
    bottom = y
    for i, (title_ja, title_en, payload, caption) in enumerate(columns):
        left = MARGIN_PX + i * column_width
        cy = _centered(draw, y, title_ja, _font(True, 64), left, column_width) + 8
        cy = _centered(draw, cy, title_en, _font(False, 48), left, column_width) + 30
        code = qr_image(payload, QR_SIZE_PX)
        page.paste(code, (left + (column_width - code.width) // 2, cy))
        cy += code.height + 20
        for line in _wrap(draw, caption, _font(True, 52), column_width - 40):
            cy = _centered(draw, cy, line, _font(True, 52), left, column_width) + 4
        bottom = max(bottom, cy)
    y = bottom + 60
    draw.line((MARGIN_PX, y, SHEET_WIDTH_PX - MARGIN_PX, y), fill=0, width=3)
    y += 50

    ja = (
        f"1. スマートフォンのカメラで①のQRコードを読み取り、Wi-Fi「{text.ssid}」に"
        "つないでください。パスワードはいりません。",
        "2. 案内ページが自動で開きます。開かないときは②のQRコードを読み取るか、"
        f"ブラウザで {text.portal_url} を開いてください。アプリは不要です。",
        "3. 市からのお知らせ、避難所の掲示板、安否の登録（「無事です」）と家族の検索ができます。",
        "インターネットにはつながらないことがあります。困ったときは受付に声をかけてください。",
    )
    en = (
        f"1. Scan code 1 with your phone's camera to join the Wi-Fi “{text.ssid}”."
        " No password is needed.",
        "2. The shelter page opens by itself. If it does not, scan code 2 or open"
        f" {text.portal_url} in your browser. No app is needed.",
        "3. Read official alerts and shelter notices, use the message board, register that"
        " you are safe and search for your family.",
        "The internet may not be available. Ask at the reception desk if you need help.",
    )
    for paragraph in ja:
        for line in _wrap(draw, paragraph, _font(False, 50), inner):
            draw.text((MARGIN_PX, y), line, font=_font(False, 50), fill=0)
            y += 72
        y += 14
    y += 30
    for paragraph in en:
        for line in _wrap(draw, paragraph, _font(False, 44), inner):
            draw.text((MARGIN_PX, y), line, font=_font(False, 44), fill=40)
            y += 62
        y += 12
    footer = f"{text.shelter_id} · shelterkit"
    draw.text((MARGIN_PX, SHEET_HEIGHT_PX - MARGIN_PX), footer, font=_font(False, 36), fill=90)
    if y > SHEET_HEIGHT_PX - MARGIN_PX:
        raise ConfigError(f"{text.shelter_id}: the entrance sheet text does not fit on A4")
    return page


def qr_image(payload: str, size_px: int) -> Image.Image:
    """A QR code (error correction M) scaled to at most ``size_px``, quiet zone included.

    Text beyond ASCII is marked UTF-8 with an ECI designator (ISO/IEC 18004 §7.4.2): without
    it, readers guess the character set, and zbar or ZXing take a Japanese name in UTF-8 for
    Shift_JIS. (segno writes ECI; python-qrcode cannot, which is why segno is used.)
    """
    code = segno.make(payload, error="m", boost_error=False, micro=False, eci=not payload.isascii())
    rows = [list(row) for row in code.matrix_iter(scale=1, border=QR_QUIET_ZONE_MODULES)]
    modules = len(rows)
    scale = max(1, size_px // modules)
    image = Image.new("L", (modules, modules), 255)
    image.putdata([0 if dark else 255 for row in rows for dark in row])
    return image.resize((modules * scale, modules * scale), Image.Resampling.NEAREST)


def sheet_png(page: Image.Image) -> bytes:
    out = io.BytesIO()
    page.save(out, format="PNG", dpi=(SHEET_DPI, SHEET_DPI))
    return out.getvalue()


def bilevel(page: Image.Image) -> Image.Image:
    """Black and white for printing: no dithering, so QR modules stay solid."""
    if page.mode == "1":
        return page
    return page.point(lambda v: 0 if v < BILEVEL_THRESHOLD else 255).convert("1")


def sheet_pdf(pages: Iterable[Image.Image]) -> bytes:
    """One PDF page per image, black and white, with no creation date (stable bytes)."""
    bilevel_pages = [bilevel(p) for p in pages]
    if not bilevel_pages:
        raise ConfigError("no pages to write")
    out = io.BytesIO()
    bilevel_pages[0].save(
        out,
        format="PDF",
        save_all=True,
        append_images=bilevel_pages[1:],
        resolution=float(SHEET_DPI),
        title=PDF_TITLE,
        creationDate=None,
        modDate=None,
    )
    return out.getvalue()


def find_cjk_font(name: str) -> Path:
    for folder in CJK_FONT_DIRS:
        direct = folder / name
        if direct.is_file():
            return direct
        if folder.is_dir():
            for found in sorted(folder.rglob(name)):
                return found
    raise ConfigError(f"no {name}: install the fonts-noto-cjk package to print entrance sheets")


@cache
def _font(bold: bool, size: int) -> ImageFont.FreeTypeFont:
    path = find_cjk_font(CJK_FONT_BOLD if bold else CJK_FONT_REGULAR)
    return ImageFont.truetype(str(path), size, index=CJK_FONT_JP_INDEX)


def _centered(
    draw: ImageDraw.ImageDraw,
    y: int,
    line: str,
    font: ImageFont.FreeTypeFont,
    left: int = 0,
    width: int = SHEET_WIDTH_PX,
) -> int:
    """Draw ``line`` centred in ``[left, left + width)`` at ``y``; return the next y."""
    x = left + (width - draw.textlength(line, font=font)) / 2
    draw.text((x, y), line, font=font, fill=0)
    return y + int(font.size * 1.3)


def _wrap(
    draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont, width: int
) -> list[str]:
    """Break ``text`` into lines no wider than ``width``: between words where there are
    spaces, else between characters (Japanese has no spaces), never before 、。」）."""
    lines: list[str] = []
    current = ""
    for token in _tokens(text):
        candidate = current + token
        if current and draw.textlength(candidate.rstrip(), font=font) > width:
            lines.append(current.rstrip())
            current = token.lstrip()
        else:
            current = candidate
    if current.strip():
        lines.append(current.rstrip())
    return lines


_NO_LINE_START = "、。」）』，．！？ー"


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    for char in text:
        ascii_word = char.isascii() and not char.isspace()
        if tokens and (
            char in _NO_LINE_START
            or (ascii_word and tokens[-1][-1:].isascii() and not tokens[-1][-1:].isspace())
        ):
            tokens[-1] += char
        elif char.isspace() and tokens:
            tokens[-1] += char
            tokens.append("")
        else:
            if tokens and tokens[-1] == "":
                tokens[-1] = char
            else:
                tokens.append(char)
    return [t for t in tokens if t]
