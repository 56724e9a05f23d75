"""The dashboard in a real headless Chromium (Debian's package, driven by playwright), against the real app
served by `solara run` on 127.0.0.1, with no internet: the page must load its front-end files from the
install (.ci/solara-assets). Skipped, saying why, only where no browser can be had.

Every request the pages make is recorded: none may leave 127.0.0.1. The README's screenshots come from
`python -m experiments.dashboard.screenshots`, not from here.
"""

from __future__ import annotations

import io
import os
import re
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

from experiments.dashboard import lesson_figures, lessons  # noqa: E402

REQUESTS: list[str] = []  # every URL any page of this module asked for
LOCAL = re.compile(r"^(https?|wss?)://(127\.0\.0\.1|localhost)(:\d+)?/|^(data|blob|about):")


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


def open_page(browser, url, width: int = 1400, height: int = 1000):
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = context.new_page()
    page.on("request", lambda r: REQUESTS.append(r.url))
    page.on("websocket", lambda ws: REQUESTS.append(ws.url))
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


def tab(page, name: str) -> None:
    page.get_by_role("button", name=name, exact=True).click()


def month(page) -> str:
    return page.locator(".monitor-month").inner_text()


def step(page, times: int = 1) -> None:
    """Press Step and wait until the page shows the next month (a step is not done until it is drawn)."""
    for _ in range(times):
        before = month(page)
        page.get_by_role("button", name="Step").click()
        expect(page.locator(".monitor-month")).not_to_have_text(before, timeout=STEP_TIMEOUT_MS)


def chart_png(page) -> bytes:
    return page.locator(".cm-main img").first.screenshot()


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


def choose_lesson(page, title: str) -> None:
    page.locator(".cm-lesson .v-select").first.click()
    page.get_by_role("option", name=title, exact=True).click()
    expect(page.locator(".cm-lesson-text h1")).to_have_text(title, timeout=STEP_TIMEOUT_MS)


def test_page_loads_offline_with_every_front_end_file_installed(page):
    expect(page.locator(".monitor-month")).to_contain_text("not started")
    assert page.missing_assets == [], "front-end files missing from the install (.ci/solara-assets)"
    assert page.get_by_text("This website runs on").count() == 0  # no banner over the page's text


@pytest.mark.parametrize("width, height", [(1280, 720), (1400, 1000)])
def test_controls_and_every_tab_are_on_screen_without_scrolling(browser, server, width, height):
    from experiments.dashboard.app import TABS

    page = open_page(browser, server, width, height)
    try:
        for name in ("Reset", "Play", "Step"):
            button = page.get_by_role("button", name=name, exact=True)
            expect(button).to_be_visible()
            box = button.bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= height and box["x"] + box["width"] <= width, name
        for name in TABS:
            box = page.get_by_role("button", name=name, exact=True).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, f"tab {name} off screen"
        expect(page.locator(".monitor-month")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # nothing overflows sideways
        assert page.get_by_text("Model Parameters").count() == 0 and page.get_by_text("Use Threads").count() == 0
    finally:
        page.context.close()


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


def test_views_and_presenter_mode_render(page):
    step(page, 14)
    for name in ("Prices", "Chip revenue", "Supply", "Capex & power"):
        before = settled(lambda: chart_png(page))
        tab(page, name)
        wait_until_changed(lambda: chart_png(page), before, f"the {name} tab drew nothing new")
    tab(page, "Venture")
    ccdf = page.locator(".cm-main img").nth(1)
    ccdf.wait_for(timeout=STEP_TIMEOUT_MS)
    first = settled(ccdf.screenshot)
    # the power-law fit runs in the background, then its line is drawn over the CCDF
    wait_until_changed(ccdf.screenshot, first, "the deal-multiple CCDF never gained its power-law fit")
    tab(page, "Market")
    normal = page.locator(".cm-main img").first.bounding_box()["width"]
    page.locator("label", has_text="Presenter mode").click()
    expect(page.locator(".cm-lesson")).to_have_count(0, timeout=STEP_TIMEOUT_MS)
    expect(page.locator(".cm-side")).to_have_count(0)
    wide = page.locator(".cm-main img").first
    expect(wide).to_be_visible()
    assert wide.bounding_box()["width"] > 1.5 * normal  # one chart across the page
    assert page.missing_assets == []


def test_every_lessons_figures_are_rendered_as_text(page):
    stored = lesson_figures.stored()
    for lesson in lessons.all_lessons():
        choose_lesson(page, lesson.title)
        panel = page.locator(".cm-lesson")
        text = panel.inner_text()
        for name in lesson_figures.placeholders(lesson.source):
            assert stored[name] in text, f"{lesson.slug}: {name} = {stored[name]} is not on the page"
        assert "{" not in page.locator(".cm-lesson-text").inner_text(), lesson.slug  # no raw placeholder
        assert panel.locator(".katex").count() == 0, f"{lesson.slug}: text typeset as maths"
        for step_text in lesson.steps:
            expect(panel.get_by_role("checkbox", name=re.compile(re.escape(step_text[:40])))).to_have_count(1)
    assert "$" in stored["l3_revenue_2024_shortage"]


def test_a_prediction_round_trips_to_the_teacher_view(browser, server):
    from experiments.dashboard.session import Settings

    student, teacher = open_page(browser, server), open_page(browser, server)
    try:
        student.get_by_label("Your answer").fill("0.55")
        student.get_by_label("Your name (optional)").fill("Ada Lovelace")
        student.get_by_role("button", name="Submit prediction").click()
        expect(student.locator(".cm-prediction")).to_have_text("Your prediction: 0.55")
        tab(teacher, "Teacher")
        row = teacher.locator(".cm-answer-table tr", has_text="Ada Lovelace")
        expect(row).to_contain_text("0.55", timeout=STEP_TIMEOUT_MS)
        step(student, 24)  # to January 2025: lesson 1 asks about 2024
        expected = lesson_figures.margin("nvidia", 2024)(lesson_figures.run_tables(Settings(months=24)))
        expect(student.locator(".cm-outcome")).to_have_text(f"This run (baseline, seed 0): {expected:,.2f}",
                                                            timeout=STEP_TIMEOUT_MS)
        teacher.get_by_role("button", name="Refresh").click()
        expect(row).to_contain_text(f"{expected:,.2f}", timeout=STEP_TIMEOUT_MS)
        with teacher.expect_download(timeout=STEP_TIMEOUT_MS) as info:
            teacher.get_by_role("button", name="Answers (CSV)").click()
        answers = pd.read_csv(io.BytesIO(Path(info.value.path()).read_bytes()))
        ada = answers[answers.student == "Ada Lovelace"].iloc[0]
        assert ada.answer == pytest.approx(0.55) and ada.outcome == pytest.approx(round(expected, 2))
    finally:
        student.context.close()
        teacher.context.close()


def test_no_request_left_the_machine():
    """Runs last (file order): every page they opened asked only 127.0.0.1."""
    assert REQUESTS, "no page was opened"
    outside = sorted({url for url in REQUESTS if not LOCAL.match(url)})
    assert outside == [], f"requests off this machine: {outside[:5]}"
