"""The dashboard in a real headless Chromium (Debian's package, driven by playwright), against the real app
served by `solara run` on 127.0.0.1, with no internet: the page must load its front-end files from the
install (.ci/solara-assets). Skipped, saying why, only where no browser can be had.

Set COMPUTE_MARKET_SCREENSHOTS=DIR to keep the screenshots (the README's come from here).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "experiments" / "dashboard" / "app.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STEP_TIMEOUT_MS = 60_000
CHART_TIMEOUT_S = 180  # a redraw or a background fit on a loaded machine: waited for as a condition, never slept

pytestmark = pytest.mark.browser

pytest.importorskip("solara", reason="the dashboard extra (Solara) is not installed: run bash .ci/install")
pytest.importorskip("playwright", reason="playwright is not installed: run bash .ci/install")
if CHROMIUM is None:
    pytest.skip("no chromium on PATH: install Debian's 'chromium' package (.ci/install does, as root)",
                allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402  (after the skips above)
from serving import free_port, wait_until_serving  # noqa: E402


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("dashboard") / "server.log"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "solara", "run", str(APP), "--host", "127.0.0.1", "--port",
                                 str(port), "--production", "--no-open"], stdout=out, stderr=subprocess.STDOUT, env=env,
                                cwd=ROOT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, proc)
    except RuntimeError:
        proc.kill()
        pytest.fail(f"the dashboard server did not start: {log.read_text()[-2000:]}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.missing_assets = []
    page.on("response", lambda r: page.missing_assets.append(f"{r.status} {r.url}")
            if "/_solara/cdn/" in r.url and r.status >= 400 else None)
    page.on("requestfailed", lambda r: page.missing_assets.append(f"failed {r.url}") if "/_solara/" in r.url else None)
    page.goto(url, timeout=STEP_TIMEOUT_MS)
    page.get_by_role("button", name="Step").wait_for(timeout=120_000)  # the kernel and websocket are up
    return page


@pytest.fixture()
def page(browser, server):
    page = open_page(browser, server)
    yield page
    page.context.close()


def month(page) -> str:
    return page.locator(".monitor-month").inner_text()


def step(page, times: int = 1) -> None:
    """Press Step and wait until the page shows the next month (a step is not done until it is drawn)."""
    for _ in range(times):
        before = month(page)
        page.get_by_role("button", name="Step").click()
        expect(page.locator(".monitor-month")).not_to_have_text(before, timeout=STEP_TIMEOUT_MS)


def chart_png(page) -> bytes:
    return page.locator(".solara-content-main img").first.screenshot()


def wait_until_changed(shot, before: bytes, what: str) -> bytes:
    """Poll `shot()` until it differs from `before` (a redraw), however long a loaded machine takes within
    CHART_TIMEOUT_S; returns the new image, or fails naming `what`."""
    deadline = time.monotonic() + CHART_TIMEOUT_S
    while time.monotonic() < deadline:
        now = shot()
        if now != before:
            return now
        time.sleep(0.5)
    pytest.fail(f"{what} (waited {CHART_TIMEOUT_S} s)")


def settled(shot) -> bytes:
    """`shot()` once two readings half a second apart agree (the image is drawn, not mid-load)."""
    deadline = time.monotonic() + CHART_TIMEOUT_S
    last = shot()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = shot()
        if now == last:
            return now
        last = now
    return last


def load_preset(page, preset: str) -> None:
    page.get_by_role("button", name=preset.replace("_", " "), exact=True).click()
    expect(page.locator(".monitor-month")).to_contain_text("not started", timeout=STEP_TIMEOUT_MS)


def download_csv(page) -> pd.DataFrame:
    with page.expect_download(timeout=STEP_TIMEOUT_MS) as info:
        page.get_by_role("button", name="Series (CSV)").click()
    return pd.read_csv(io.BytesIO(Path(info.value.path()).read_bytes()))


def keep_screenshot(page, name: str) -> None:
    folder = os.environ.get("COMPUTE_MARKET_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / name))


def test_page_loads_offline_with_every_front_end_file_installed(page):
    expect(page.get_by_text("compute-market: the AI compute economy")).to_be_visible()
    expect(page.locator(".monitor-month")).to_contain_text("not started")
    assert page.missing_assets == [], "front-end files missing from the install (.ci/solara-assets)"


def test_every_preset_steps_and_redraws(page):
    from experiments.dashboard.session import PRESETS

    for preset in PRESETS:
        load_preset(page, preset)
        step(page)
        before = chart_png(page)
        step(page, 2)
        assert month(page) == "2023-03", preset
        wait_until_changed(lambda: chart_png(page), before, f"{preset}: the chart did not change after two steps")
    assert page.missing_assets == []


def move_slider(label, slider, target: float, attempts: int = 60) -> None:
    """Move a lever's slider to `target` one key press at a time, reading the value back from its label after each:
    every step restarts the run, and under load a key pressed while the page rebuilds can be lost or land late."""
    def current() -> float:
        return float(label.inner_text().rsplit(":", 1)[1])

    for _ in range(attempts):
        value = current()
        if abs(value - target) < 1e-6:
            return
        slider.focus()
        slider.press("ArrowLeft" if value > target else "ArrowRight")
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline and abs(current() - value) < 1e-6:
            time.sleep(0.2)
    raise AssertionError(f"the slider did not reach {target:.2f} (at {current():.2f})")


def test_capacity_lever_raises_the_price_of_compute(page):
    months = 18
    step(page, months)
    preset_run = download_csv(page)
    assert len(preset_run) == months and list(preset_run["month"]) == list(range(months))
    assert (preset_run["preset"] == "baseline").all()
    label = page.locator("span", has_text="Packaging / HBM capacity x preset")
    slider = label.locator("xpath=following-sibling::*[1]").get_by_role("slider")
    move_slider(label, slider, 0.50)
    expect(page.locator(".monitor-month")).to_contain_text("not started")
    step(page, months)
    halved = download_csv(page)
    assert len(halved) == months
    later = slice(6, months)  # the first months are served from the fleet and supply of end-2022
    assert halved["rental_price_heq_hour"][later].mean() > preset_run["rental_price_heq_hour"][later].mean()
    assert halved["capacity_hbm_gb"].iloc[0] == pytest.approx(0.5 * preset_run["capacity_hbm_gb"].iloc[0])
    keep_screenshot(page, "dashboard-market.png")


def test_two_sessions_are_independent(browser, server):
    first, second = open_page(browser, server), open_page(browser, server)
    try:
        step(first, 3)
        assert month(first) == "2023-03"
        assert "not started" in month(second)
        step(second)
        assert month(second) == "2023-01" and month(first) == "2023-03"
    finally:
        first.context.close()
        second.context.close()


def test_lesson_and_views_render(page):
    from experiments.dashboard.lessons import all_lessons

    step(page, 14)
    page.get_by_role("tab", name="Prices").click()
    expect(page.locator(".solara-content-main img").first).to_be_visible(timeout=STEP_TIMEOUT_MS)
    keep_screenshot(page, "dashboard-prices.png")
    page.get_by_role("tab", name="Venture").click()
    ccdf = page.locator(".solara-content-main img").nth(1)
    ccdf.wait_for(timeout=STEP_TIMEOUT_MS)
    first = settled(ccdf.screenshot)
    # the power-law fit runs in the background, then its line is drawn over the CCDF
    wait_until_changed(ccdf.screenshot, first, "the deal-multiple CCDF never gained its power-law fit")
    keep_screenshot(page, "dashboard-venture.png")
    page.get_by_role("tab", name="Lessons").click()
    first = all_lessons()[0]
    expect(page.get_by_role("heading", name=first.title)).to_be_visible(timeout=STEP_TIMEOUT_MS)
    keep_screenshot(page, "dashboard-lesson.png")
    assert page.missing_assets == []
