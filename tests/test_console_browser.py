"""The ops console in a real headless browser (Debian's chromium + chromium-driver, driven by
Selenium): the page loads without console errors, shows each route, turns a route red and
says "down" when its SMSC goes away and "up" when it comes back, the chart moves with traffic,
a pause confirmed on the page stops the route claiming, and the token typed into the page is
kept in the tab's session, never in its address. Screenshots land in ``test-artifacts/``.

Selenium's calls block, so they run in a worker thread while trio serves the gateway.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from tests.conftest import TOKEN, StartGateway
from tests.console_helpers import OPS_TOKEN, Setup, start_setup

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - the test extras install it
    webdriver = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    webdriver is None or CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs a headless browser: apt-get install chromium chromium-driver"
    " (and the test extras: pip install -e '.[test]' for selenium)",
)

Driver = Any  # selenium's WebDriver; typed loosely so mypy needs no stubs for it


@asynccontextmanager
async def browser(headers: dict[str, str] | None = None) -> AsyncIterator[Driver]:
    """A fresh headless Chromium (its own profile); ``headers`` go with every request."""
    profile = tempfile.mkdtemp(prefix="smsgw-chromium-")

    def start() -> Driver:
        opts = webdriver.ChromeOptions()
        assert CHROMIUM is not None  # the module is skipped without it
        opts.binary_location = CHROMIUM
        for arg in (
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--window-size=1280,900",
        ):
            opts.add_argument(arg)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
        if headers:
            d.execute_cdp_cmd("Network.enable", {})
            d.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        return d

    d = await trio.to_thread.run_sync(start)
    try:
        yield d
    finally:
        await trio.to_thread.run_sync(d.quit)
        shutil.rmtree(profile, ignore_errors=True)


async def in_browser(fn: Callable[[], Any]) -> Any:
    return await trio.to_thread.run_sync(fn)


async def wait_for(d: Driver, what: Callable[[Driver], Any], timeout: float = 30) -> Any:
    """Wait (in the browser's thread) until ``what(driver)`` is truthy: the page's own polling
    makes it so; the timeout only bounds a failure. An element the page re-rendered between
    finding and reading it is looked for again."""
    return await in_browser(
        lambda: WebDriverWait(
            d, timeout, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
        ).until(what)
    )


def row(d: Driver, route: str) -> Any:
    return d.find_element(By.ID, f"route-{route}")


def row_says(route: str, word: str) -> Callable[[Driver], bool]:
    def check(d: Driver) -> bool:
        try:
            return bool(row(d, route).find_element(By.CSS_SELECTOR, "td").text.startswith(word))
        except Exception:  # the region was just swapped: look again
            return False

    return check


def severe(d: Driver) -> list[dict[str, Any]]:
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def red(rgb: str) -> bool:
    """A CSS colour like ``rgb(198, 40, 40)`` that is clearly red."""
    r, g, b = (int(float(x)) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return r > 150 and g < 90 and b < 90


def screenshot(d: Driver, name: str, width: int) -> Path:
    """A full-page screenshot at ``width`` CSS pixels, saved under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(width, max(600, int(height) + 120))
    path = ARTIFACTS / name
    d.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


async def send(s: Setup, to: str, n: int = 1) -> list[str]:
    ids = []
    for i in range(n):
        status, body = await s.gw.call("POST", "/v1/messages", {"to": to, "text": f"hello {i}"})
        assert status == 202, body
        assert isinstance(body, dict)
        ids.append(str(body["id"]))
    return ids


async def test_console_in_a_browser(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    s = await start_setup(start_gateway, nursery, tmp_path)
    await s.carrier_bound()
    bank = s.gw.gateway.scheduler.runners["modems"].driver
    for m in bank.state().links:
        await bank.wait_link(str(m["name"]), "up", ready=True)  # type: ignore[attr-defined]
    url = s.gw.url + "/status"
    async with browser({"Authorization": f"Bearer {OPS_TOKEN}"}) as d:
        await in_browser(lambda: d.get(url))
        # Every configured route has its row, in words.
        for route in ("sim", "carrier", "modems"):
            await wait_for(d, row_says(route, "up"))
        assert await in_browser(lambda: severe(d)) == []

        # The SMSC goes away: the route turns red and says "down"; it comes back: "up".
        s.smsc.stop()
        await s.carrier_bound(up=False)
        await wait_for(d, row_says("carrier", "down"))
        cell = await in_browser(lambda: row(d, "carrier").find_element(By.CSS_SELECTOR, "td"))
        assert red(await in_browser(lambda: cell.value_of_css_property("color")))
        shadow = await in_browser(lambda: row(d, "carrier").value_of_css_property("box-shadow"))
        assert red(shadow), shadow
        await s.smsc.start()
        await s.carrier_bound()
        await wait_for(d, row_says("carrier", "up"))

        # The chart follows traffic: a line for the route appears, then moves.
        ids = await send(s, "+447911123456", 20)
        for public_id in ids:
            await s.gw.wait_final(public_id)

        def line(d: Driver) -> str | None:
            found = d.find_elements(By.CSS_SELECTOR, 'svg polyline[data-route="sim"]')
            return found[0].get_attribute("points") if found else None

        first = await wait_for(d, line)
        await send(s, "+447911123456", 20)
        await wait_for(d, lambda d: (p := line(d)) is not None and p != first)

        # An action: pause "sim", confirmed on the page; it says so, and the route stops
        # claiming; resume it the same way and the message waiting leaves.
        runner = s.gw.gateway.scheduler.runners["sim"]

        def click(selector: str) -> None:
            d.find_element(By.CSS_SELECTOR, selector).click()

        await in_browser(lambda: click("#route-sim button"))
        await wait_for(d, lambda d: d.find_element(By.ID, "confirm").get_attribute("open"))
        text = await in_browser(lambda: d.find_element(By.ID, "confirm-text").text)
        assert text.startswith("Pause route sim?")
        await in_browser(lambda: click("#confirm-ok"))
        await wait_for(d, row_says("sim", "paused"))
        live = await in_browser(lambda: d.find_element(By.ID, "live").text)
        assert "paused" in live or "Live" in live
        assert runner.paused
        await runner.wait_parked()
        claimed = runner.claimed
        [waiting] = await send(s, "+447911123456")
        row_ = await s.gw.gateway.store.get(None, waiting)
        assert row_ is not None and row_.status == "queued"
        assert runner.claimed == claimed
        shot = screenshot(d, "console.png", 1280)
        await in_browser(lambda: d.set_window_size(1280, 900))
        await in_browser(lambda: click("#route-sim button"))
        await wait_for(d, lambda d: d.find_element(By.ID, "confirm").get_attribute("open"))
        await in_browser(lambda: click("#confirm-ok"))
        await wait_for(d, row_says("sim", "up"))
        assert (await s.gw.wait_final(waiting)).status == "delivered"

        screenshot(d, "console-phone.png", 390)
        assert await in_browser(lambda: severe(d)) == []
    assert shot.stat().st_size > 10_000


async def test_token_typed_into_the_page_stays_in_the_tab(
    start_gateway: StartGateway, nursery: trio.Nursery, tmp_path: Path
) -> None:
    s = await start_setup(start_gateway, nursery, tmp_path, modems=0)
    url = s.gw.url + "/status"
    async with browser() as d:
        await in_browser(lambda: d.get(url))
        field = await wait_for(d, lambda d: d.find_element(By.ID, "token"))
        await in_browser(lambda: field.send_keys(TOKEN))
        await in_browser(lambda: d.find_element(By.CSS_SELECTOR, "#login button").click())
        await wait_for(d, row_says("sim", "up"))
        stored = await in_browser(
            lambda: d.execute_script("return sessionStorage.getItem('smsgw-ops-token')")
        )
        assert stored == TOKEN
        assert TOKEN not in await in_browser(lambda: d.current_url)
        # A reload keeps the session: the page signs itself in again from the tab's storage.
        await in_browser(d.refresh)
        await wait_for(d, row_says("sim", "up"))
        # The only error is the one the sign-in page is: its own 401, twice (two loads).
        errors = await in_browser(lambda: severe(d))
        assert all("401" in e["message"] and e["message"].startswith(url) for e in errors)
        assert len(errors) == 2, errors
