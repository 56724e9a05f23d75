"""Screenshots of the dashboard at 1280x720, one per tab and one of presenter mode, for the README:

    python -m experiments.dashboard.screenshots                     # into experiments/dashboard/screenshots/
    python -m experiments.dashboard.screenshots --out DIR --months 30

Serves the real app on 127.0.0.1 (a free port), drives Debian's headless chromium with playwright through the
demand-shock lesson's run (lead time 6 months, so the bust's write-downs show), and saves palette PNGs (a few
tens of KB each). It writes only `dashboard-*.png` files in the folder it is given (creating the folder).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
VIEWPORT = {"width": 1280, "height": 720}
SHOTS = (  # (tab, file, a selector that shows when the tab is drawn)
    ("Market", "dashboard-market.png", ".cm-main img"), ("Prices", "dashboard-prices.png", ".cm-main img"),
    ("Chip revenue", "dashboard-chip-revenue.png", ".cm-main img"),
    ("Supply", "dashboard-supply.png", ".cm-main img"), ("Capex & power", "dashboard-capex-power.png", ".cm-main img"),
    ("About preset", "dashboard-about.png", ".cm-main h2"), ("Glossary", "dashboard-glossary.png", ".cm-main p"),
    ("Teacher", "dashboard-teacher.png", ".cm-answer-table"),
    ("Venture", "dashboard-venture.png", ".cm-main img >> nth=1"),  # last: its tail fit keeps the kernel busy
)
COLOURS = 256  # palette size of the saved PNGs (fewer merge a small vendor's colour into a neighbour's)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, proc: subprocess.Popen, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"screenshots: the dashboard server exited with status {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"screenshots: the dashboard server did not answer at {url} within {timeout:.0f} s")


def save_small(png: bytes, path: Path) -> int:
    """Save a screenshot as a palette PNG (optimised); returns its size in bytes."""
    import io

    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT)
    image.save(path, optimize=True)
    return path.stat().st_size


def take(out: Path, months: int) -> list[tuple[Path, int]]:
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("screenshots: no chromium on PATH (install Debian's 'chromium' package)")
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COMPUTE_MARKET_PRESET": "demand_shock"}
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", str(HERE / "app.py"), "--host", "127.0.0.1",
                               "--port", str(port), "--production", "--no-open"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env=env)
    saved = []
    try:
        _wait_for(url, server)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(url, timeout=120_000)
            page.get_by_role("button", name="Step").wait_for(timeout=120_000)
            page.locator(".cm-lesson .v-select").first.click()
            page.get_by_role("option", name="Lesson 6: What does a bust do to a vendor's books?").click()
            page.locator(".cm-side .v-select", has_text="Supply lead time").click()
            page.get_by_role("option", name="6", exact=True).click()
            expect(page.locator(".monitor-month")).to_contain_text("not started", timeout=60_000)
            page.locator(".cm-lesson .v-select", has_text="Your answer").click()
            page.get_by_role("option", name="booked").click()
            page.get_by_role("button", name="Submit prediction").click()
            page.locator(".cm-side label", has_text="Compare with").click()
            for _ in range(months):
                before = page.locator(".monitor-month").inner_text()
                page.get_by_role("button", name="Step").click()
                expect(page.locator(".monitor-month")).not_to_have_text(before, timeout=120_000)
            out.mkdir(parents=True, exist_ok=True)
            for tab, name, drawn in SHOTS:
                page.get_by_role("button", name=tab, exact=True).click()
                page.locator(drawn).first.wait_for(timeout=120_000)
                page.wait_for_timeout(15_000 if tab == "Venture" else 3000)  # the image in place (and the tail fit)
                path = out / name
                saved.append((path, save_small(page.screenshot(), path)))
            page.get_by_role("button", name="Market", exact=True).click()
            page.locator(".cm-main img").first.wait_for(timeout=120_000)
            page.locator("label", has_text="Presenter mode").click()
            expect(page.locator(".cm-lesson")).to_have_count(0, timeout=120_000)
            page.wait_for_timeout(5000)
            path = out / "dashboard-presenter.png"
            saved.append((path, save_small(page.screenshot(), path)))
            browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE / "screenshots", help="folder for the PNGs")
    parser.add_argument("--months", type=int, default=60,
                        help="months to step before the screenshots (60: to December 2027)")
    args = parser.parse_args(argv)
    saved = take(args.out, args.months)
    for path, size in saved:
        print(f"{path}  {size / 1024:.0f} KB")
    print(f"{len(saved)} screenshots, {sum(size for _, size in saved) / 1024:.0f} KB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
