"""The generated "effects by window" section of the scenario info pages (experiments/scenario_pages.py)."""

from __future__ import annotations

import pandas as pd

from experiments.scenario_pages import END, START, section, update_page


def table() -> pd.DataFrame:
    rows = []
    for window, diff, star in (("during", -5.0, True), ("one year after", 1.0, False),
                               ("three years after", float("nan"), False), ("last year", 2.0, True),
                               ("discounted", -1.0, True)):
        rows.append({"scenario": "demand_shock", "label": "total chip revenue", "window": window,
                     "status": "not reached" if window == "three years after" else "reached",
                     "difference": diff, "relative": diff / 10.0, "significant_bh": star, "seeds": 8,
                     "levers": "demand shock 2027-01 + 12 months"})
    return pd.DataFrame(rows)


def test_the_section_gives_each_window_its_sign_and_size():
    text = section(table(), "a test")
    row = next(line for line in text.splitlines() if line.startswith("| total chip revenue"))
    assert row == "| total chip revenue | - -50% | 0 +10% | . | + +20% | - -10% |"
    assert text.startswith(START) and text.rstrip().endswith(END) and "8 paired seeds" in text


def test_updating_a_page_replaces_only_the_generated_section(tmp_path):
    page = tmp_path / "demand_shock.md"
    page.write_text("## What is it?\nA bust.\n")
    update_page(page, section(table(), "first"))
    update_page(page, section(table(), "second"))
    body = page.read_text()
    assert body.startswith("## What is it?\nA bust.\n") and body.count(START) == 1 and "second" in body
    assert "first" not in body
