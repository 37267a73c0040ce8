"""The portal in a real headless Chromium at a 360×740 phone viewport (issue 2 acceptance).

The demo city runs as a subprocess and the tests use shelter S01's portal, which shows the
hub's alert, a notice and two posts; each test opens a fresh phone-sized context.
Full-page screenshots are kept in test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Dialog, Page, Response, expect

pytestmark = pytest.mark.browser

PhoneFactory = Callable[..., BrowserContext]

# Every element's box, right edge past the viewport: what makes a phone scroll sideways.
# The skip link sits off-screen to the left on purpose and is not counted.
_OVERFLOW_JS = """() => {
  const vw = window.innerWidth;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > vw + 0.5 || r.right > vw + 0.5) {
      const cls = typeof el.className === "string" && el.className ? "." + el.className : "";
      wide.push(`${el.tagName.toLowerCase()}${cls} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: vw, wide};
}"""


# Text nodes of the interface (not posts, alerts or other people's words, nor anything
# marked with its own lang) holding four or more English words in a row.
_ENGLISH_LEFT_JS = """() => {
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (el.closest("[lang]:not(html), article, dd, textarea")) continue;
    const text = walker.currentNode.textContent.trim();
    if (/[A-Za-z]+(?:[\\s,.]+[A-Za-z]+){3,}/.test(text)) found.push(text);
  }
  return found;
}"""


def assert_fits_phone(page: Page) -> None:
    fit: dict[str, Any] = page.evaluate(_OVERFLOW_JS)
    # A page wider than the screen makes mobile Chromium widen the layout viewport,
    # so innerWidth itself must still be the phone's width.
    viewport = page.viewport_size
    assert viewport is not None
    assert fit["innerWidth"] == viewport["width"], fit
    assert fit["scrollWidth"] <= fit["innerWidth"], fit
    assert fit["wide"] == [], fit


def shoot(page: Page, directory: Path, name: str) -> None:
    page.screenshot(path=directory / f"{name}.png", full_page=True)


def post_message(page: Page, base: str, text: str, category: str, name: str = "") -> int:
    """Fill and submit the board form; return the status of the POST itself."""
    page.goto(base + "/board")
    page.locator("#text").fill(text)
    page.locator("#category").select_option(category)
    page.locator("#name").fill(name)

    def is_post(response: Response) -> bool:
        return response.request.method == "POST" and response.url == base + "/board"

    with page.expect_response(is_post) as posted:
        page.locator("form[action='/board'] button[type=submit]").click()
    response = posted.value
    assert response.headers.get("location") == "/board?posted=1#posts"
    page.wait_for_url(re.compile(r"/board\?posted=1#posts$"))
    return int(response.status)


def test_japanese_pages_have_no_english_left(node_url: str, phone: PhoneFactory) -> None:
    # Runs before the welcome is accepted below: acceptance is per client address.
    page = phone(locale="ko-KR").new_page()
    page.goto(node_url + "/")
    expect(page.locator("section.welcome")).to_have_count(1)
    english_on_home: list[str] = page.evaluate(_ENGLISH_LEFT_JS)
    page.goto(node_url + "/board")
    english_on_board: list[str] = page.evaluate(_ENGLISH_LEFT_JS)
    assert english_on_home == [] and english_on_board == []


def test_home_is_japanese_for_an_unsupported_locale(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ko-KR").new_page()
    response = page.goto(node_url + "/")
    assert response is not None and response.status == 200
    assert page.evaluate("navigator.language") == "ko-KR"
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", name="避難所 Wi-Fi へようこそ")).to_be_visible()
    expect(page.get_by_role("heading", name="緊急情報（市から）")).to_be_visible()
    expect(page.get_by_role("heading", name="避難所からのお知らせ")).to_be_visible()
    expect(page.locator("article.alert")).to_contain_text("大雨警報")
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "home-ja-welcome")

    page.get_by_role("button", name="この Wi-Fi を使う").click()
    page.wait_for_url(node_url + "/")
    expect(page.get_by_role("heading", name="避難所 Wi-Fi へようこそ")).to_have_count(0)
    expect(page.get_by_role("heading", name="緊急情報（市から）")).to_be_visible()
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "home-ja")


def test_board_is_japanese_and_fits(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ko-KR").new_page()
    page.goto(node_url + "/board")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("伝言板")
    expect(page.get_by_role("button", name="投稿する")).to_be_visible()
    expect(page.locator("article.card")).not_to_have_count(0)
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "board-ja")


def test_language_switch_gives_english(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ko-KR").new_page()
    page.goto(node_url + "/")
    switch = page.locator("nav.langs a[hreflang=en]")
    expect(switch).to_be_visible()
    expect(switch).to_have_text("English")
    switch.click()
    page.wait_for_url(node_url + "/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Official alerts")).to_be_visible()
    expect(page.locator("article.alert")).to_contain_text("Heavy rain warning")
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "home-en")

    # The choice is remembered for the next page.
    page.get_by_role("link", name="Message board", exact=True).first.click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Message board")
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "board-en")

    page.locator("nav.langs a[hreflang=ja]").click()
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("伝言板")


def test_english_phone_gets_english(node_url: str, phone: PhoneFactory) -> None:
    page = phone(locale="en-US").new_page()
    page.goto(node_url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Official alerts")).to_be_visible()


def test_board_post_in_japanese_shows_on_the_board(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ja-JP").new_page()
    text = "体育館の入口で水を配っています。紙コップを持ってきてください。"
    status = post_message(page, node_url, text, "offers", name="山田")
    assert status == 303
    expect(page.get_by_role("status")).to_have_text("メッセージを投稿しました。")
    card = page.locator("article.card", has_text=text)
    expect(card).to_have_count(1)
    expect(card.locator(".meta")).to_contain_text("提供できるもの")
    expect(card.locator(".meta")).to_contain_text("山田")
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "board-ja-posted")


def test_board_post_with_markup_shows_as_text(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ja-JP").new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    script = "<script>alert(1)</script>"
    image = "<img src=x onerror=alert(2)>"
    assert post_message(page, node_url, script, "info", name=image) == 303
    card = page.locator("article.card", has_text=script)
    expect(card).to_have_count(1)
    expect(card.locator("p.text")).to_have_text(script)
    expect(card.locator(".meta")).to_contain_text(image)
    expect(page.locator("main script, main img")).to_have_count(0)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()
    assert dialogs == []
    shoot(page, screenshot_dir, "board-ja-markup")


def test_long_unbroken_post_does_not_widen_the_page(
    node_url: str, phone: PhoneFactory, screenshot_dir: Path
) -> None:
    page = phone(locale="ja-JP").new_page()
    word = "http://example.invalid/" + "とても長い単語" * 20 + "x" * 120
    assert post_message(page, node_url, word, "looking", name="長" * 40) == 303
    expect(page.locator("article.card", has_text="x" * 120)).to_have_count(1)
    assert_fits_phone(page)
    shoot(page, screenshot_dir, "board-ja-long")
