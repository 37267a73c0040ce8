"""The alert views in a real Chromium at phone size: screenshots and an axe-core check.

A node with corpus alerts (signed by the city) serves the portal from a thread; Debian's
Chromium is driven by Playwright. Screenshots go to test-artifacts/screenshots/alerts-*.png.
axe-core (vendored, tests/alerts/vendor) runs in the page; serious or critical violations
fail the test. Under CI=true a missing browser fails the test instead of skipping it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.sync_api import Browser, Page, sync_playwright

from shelterkit.model.kinds import PostBody, PostCategory
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node
from tests.alerts.corpus import NODE_NOW_MS, CitySigner, good, import_cap
from tests.conftest import free_port, node_config
from tests.system import unavailable

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
AXE_JS = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}  # a small Android phone, CSS pixels
A4_PX = {"width": 794, "height": 1123}  # A4 at 96 dpi
PORTAL_START_DEADLINE_S = 30.0
PAGE_TIMEOUT_MS = 15_000
EXTREME = "/alerts/JP-09215-20270115-0001"
MULTILINGUAL = "/alerts/JP-09215-20270115-0002"


@pytest.fixture(scope="module")
def portal_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A node holding five corpus alerts and two board posts, its portal on a free port."""
    data = tmp_path_factory.mktemp("alerts-node")
    port = free_port()
    ready = threading.Event()
    state: dict[str, Any] = {}

    async def serve() -> None:
        node = await Node.open(node_config(data, f"127.0.0.1:{port}"), lambda: NODE_NOW_MS)
        signer = CitySigner()
        for prefix in ("01-", "02-", "03-", "06-", "07-"):
            await import_cap(node, signer, good(prefix))
        await node.publish(PostBody(text="毛布が足りません", category=PostCategory.NEEDS))
        await node.publish(PostBody(text="Water at the hall from 9:00", author="Ana"))
        runner = web.AppRunner(create_portal_app(node))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        stop = asyncio.Event()
        state["loop"], state["stop"] = asyncio.get_running_loop(), stop
        ready.set()
        try:
            await stop.wait()
        finally:
            await runner.cleanup()
            await node.close()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test below
            state["error"] = exc
            ready.set()

    thread = threading.Thread(target=run, name="alert-portal", daemon=True)
    thread.start()
    assert ready.wait(PORTAL_START_DEADLINE_S), "portal did not start"
    if "error" in state:
        raise state["error"]
    yield f"http://127.0.0.1:{port}"
    state["loop"].call_soon_threadsafe(state["stop"].set)
    thread.join(timeout=PORTAL_START_DEADLINE_S)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def open_page(browser: Browser, url: str, locale: str, *, bypass_csp: bool = False) -> Page:
    context = browser.new_context(
        viewport=PHONE, locale=locale, bypass_csp=bypass_csp, java_script_enabled=True
    )
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    response = page.goto(url)
    assert response is not None and response.status == 200, url
    return page


def axe_violations(page: Page) -> list[str]:
    page.add_script_tag(content=AXE_JS)
    result = page.evaluate(
        "async () => await axe.run(document, {resultTypes: ['violations'],"
        " runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
        " 'wcag22aa', 'best-practice']}})"
    )
    return [
        f"{v['impact']}: {v['id']} ({v['help']}) at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize(
    ("name", "path", "locale"),
    [
        ("home-ja", "/", "ja-JP"),
        ("home-en", "/?lang=en", "en-GB"),
        ("alert-ja", EXTREME, "ja-JP"),
        ("alert-en", EXTREME + "?lang=en", "en-GB"),
        ("alert-easy-ja", MULTILINGUAL, "ja-JP"),
        ("alert-pt", MULTILINGUAL, "pt-BR"),
    ],
)
def test_alert_views_screenshot(
    browser: Browser, portal_url: str, name: str, path: str, locale: str
) -> None:
    page = open_page(browser, portal_url + path, locale)
    try:
        # The most severe alert is shown first, with its severity in words, not colour alone.
        text = page.inner_text("main")
        if name.startswith("home"):
            first = page.locator("article.alert").first
            assert "sev1" in (first.get_attribute("class") or "")
            assert ("極めて危険" if name.endswith("ja") else "Extreme danger") in first.inner_text()
        if name == "alert-pt":
            assert "[Nível 3]" in text
        if name == "alert-easy-ja":
            assert page.locator("#easy").is_visible()
        # Nothing wider than the phone: no sideways scrolling.
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} is {width} px wide"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"alerts-{name}.png"), full_page=True)
    finally:
        page.context.close()


def test_poster_prints_on_a4(browser: Browser, portal_url: str) -> None:
    context = browser.new_context(viewport=A4_PX, locale="ja-JP")
    try:
        page = context.new_page()
        page.goto(portal_url + EXTREME + "/print")
        page.emulate_media(media="print")
        assert "【警戒レベル5】" in page.inner_text("h1")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "alerts-poster-a4.png"), full_page=True)
        pdf = page.pdf(format="A4", print_background=True)
        assert (
            pdf.startswith(b"%PDF")
            and pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page>") <= 2
        )
    finally:
        context.close()


@pytest.mark.parametrize(
    ("path", "locale"),
    [
        ("/", "ja-JP"),
        ("/?lang=en", "en-GB"),
        (EXTREME, "ja-JP"),
        (EXTREME + "?lang=en", "en-GB"),
        (MULTILINGUAL + "?text=vi", "vi-VN"),
        (EXTREME + "/print", "ja-JP"),
        ("/board", "ja-JP"),
        ("/board?lang=en", "en-GB"),
    ],
)
def test_no_serious_accessibility_violations(
    browser: Browser, portal_url: str, path: str, locale: str
) -> None:
    page = open_page(browser, portal_url + path, locale, bypass_csp=True)
    try:
        assert axe_violations(page) == []
    finally:
        page.context.close()
