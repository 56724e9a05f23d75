"""Benchmark: the teaching dashboard's speed on this machine, in process and in a real headless Chromium.

Prints (1) per tab, the time to build the figure and draw it to PNG at screen resolution after 60 months,
against the model's own step; (2) in the browser, the time from pressing Step to the page showing the next
month, and the steps per second in play mode (one month per redraw, and six on the Market tab) for each chart tab.

    .venv/bin/python tests/benchmarks/bench_dashboard.py [--play-seconds 20]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from serving import free_port, wait_until_serving  # noqa: E402  (after the path set-up above)

from experiments.dashboard import app, session  # noqa: E402


def in_process() -> None:
    model = session.DashboardMarket(session.Settings())
    for _ in range(60):
        model.step()
    start = time.perf_counter()
    for _ in range(5):
        model.step()
    step = (time.perf_counter() - start) / 5
    print(f"model step (month {model.month}): {step * 1000:.0f} ms")
    for tab in app.CHART_TABS:
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            fig = app.chart(model, tab, False)
            fig.savefig(io.BytesIO(), format="png", dpi=app.SCREEN_DPI)
            times.append(time.perf_counter() - t0)
        print(f"  {tab:15s} figure + PNG: {statistics.median(times) * 1000:.0f} ms (median of 3)")


def in_browser(play_seconds: float) -> None:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        print("no chromium: browser figures skipped")
        return
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", str(ROOT / "experiments/dashboard/app.py"),
                               "--host", "127.0.0.1", "--port", str(port), "--production", "--no-open"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ,
                                                                                         "PYTHONWARNINGS": "ignore"})
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                          "--disable-background-networking"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("button", name="Step").wait_for(timeout=120_000)
            monitor = page.locator(".monitor-month")
            waits = []
            for _ in range(12):
                before = monitor.inner_text()
                t0 = time.perf_counter()
                page.get_by_role("button", name="Step").click()
                expect(monitor).not_to_have_text(before, timeout=60_000)
                waits.append(time.perf_counter() - t0)
            print(f"browser: Step -> next month drawn (Market tab): median {statistics.median(waits) * 1000:.0f} ms, "
                  f"max {max(waits) * 1000:.0f} ms over 12 steps")
            for tab, interval in (("Market", 1), ("Prices", 1), ("Chip revenue", 1), ("Supply", 1),
                                  ("Capex & power", 1), ("Market", 6)):
                page.get_by_role("button", name=tab, exact=True).click()
                page.get_by_role("button", name="Reset", exact=True).click()  # each measurement from January 2023
                expect(monitor).to_contain_text("not started", timeout=60_000)
                page.locator(".cm-top .v-select", has_text="Months per redraw").click()
                page.get_by_role("option", name=str(interval), exact=True).click()
                page.wait_for_timeout(1000)
                page.get_by_role("button", name="Play", exact=True).click()
                page.wait_for_timeout(3000)  # past the first frame
                start_month, t0 = monitor.inner_text(), time.perf_counter()
                page.wait_for_timeout(play_seconds * 1000)
                end_month, elapsed = monitor.inner_text(), time.perf_counter() - t0
                page.get_by_role("button", name="Pause", exact=True).click(force=True, timeout=60_000)
                page.wait_for_timeout(2000)
                months = _months_between(start_month, end_month)
                print(f"browser: play on {tab:8s} ({interval} months per redraw): {months} months in {elapsed:.1f} s = "
                      f"{months / elapsed:.2f} steps/s")
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)


def _months_between(a: str, b: str) -> int:
    def index(text: str) -> int:
        text = text.split()[0]
        return int(text[:4]) * 12 + int(text[5:7])
    return index(b) - index(a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--play-seconds", type=float, default=20.0)
    args = parser.parse_args()
    in_process()
    in_browser(args.play_seconds)


if __name__ == "__main__":
    main()
