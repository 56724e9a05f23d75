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


def test_a_reversal_is_explained_from_the_run_tables(tmp_path):
    """The table above reverses (- during, + in the last year, both significant). With run tables in which the
    scenario moves NVIDIA's sales down in 2027 and AMD's up in 2032, the explanation names those vendors and buyers
    in those windows, with the sizes the tables give; a headline that keeps its sign is not listed."""
    from experiments.reversals import explain, reversed_headlines

    rows = table()
    rows["window_start"] = rows["window"].map({"during": "2027-01", "last year": "2032-01"}).fillna("2030-01")
    rows["window_end"] = rows["window"].map({"during": "2027-12", "last year": "2032-12"}).fillna("2030-12")
    steady = rows.assign(label="clouds' chip capex", difference=-1.0)
    both = pd.concat([rows, steady])
    assert list(reversed_headlines(both)) == ["total chip revenue"]

    def write(folder, nvidia_2027, amd_2032):
        folder.mkdir()
        months = range(0, 120)
        vendors, ledger = [], []
        for seed in (0, 1):
            for m in months:
                date = f"{2023 + m // 12}-{m % 12 + 1:02d}"
                nv = 10e9 + (nvidia_2027 if date.startswith("2027") else 0.0)
                amd = 1e9 + (amd_2032 if date.startswith("2032") else 0.0)
                vendors += [{"month": m, "date": date, "vendor": "nvidia", "revenue": nv, "maturity": 0.95,
                             "seed": seed},
                            {"month": m, "date": date, "vendor": "amd", "revenue": amd, "maturity": 0.6, "seed": seed}]
                ledger += [{"month": m, "buyer": "aws", "seller": "nvidia", "amount": nv, "seed": seed},
                           {"month": m, "buyer": "meta", "seller": "amd", "amount": amd, "seed": seed}]
        pd.DataFrame(vendors).to_parquet(folder / "vendors_monthly.parquet")
        pd.DataFrame(ledger).to_parquet(folder / "ledger_monthly.parquet")

    write(tmp_path / "baseline", 0.0, 0.0)
    write(tmp_path / "demand_shock", -2e9, 3e9)
    text = explain(tmp_path, "demand_shock", both)
    assert "total chip revenue (- during, + last year)" in text and "clouds' chip capex" not in text
    during = next(line for line in text.splitlines() if line.startswith("- during"))
    assert "by vendor nvidia -24.0" in during and "by buyer aws -24.0" in during  # $2B a month for a year
    last = next(line for line in text.splitlines() if line.startswith("- last year"))
    assert "by vendor amd +36.0" in last and "by buyer meta +36.0" in last
    assert explain(tmp_path, "demand_shock", steady) == ""
