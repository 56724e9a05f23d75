"""The observed 2023 - 2025 path: its data file is validated like the catalog, the model's figure for each
observation is computed from the run's tables, the fit window splits fitted from held-out observations, the reports
mark the held-out ones, and calibrate-history runs end to end."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments.calibrate_history import (
    PARAMETERS,
    Fit,
    calibrate,
    chip_market_to,
    conflicts,
    distance,
    fit_moments,
    format_reach,
    objective,
    screen,
    tolerance,
    write_calibration,
)
from experiments.history_fit import (
    BROADCOM_DESIGNED,
    band,
    fit_table,
    format_fit_table,
    in_band_counts,
    in_band_line,
    observations_before,
    simulated_moment,
)
from experiments.parameter_uncertainty import DRAWS_FILE, load_draws
from hardware_catalog import load_catalog
from hardware_catalog.loader import CatalogError, load_fit_window_end, load_history_calibration, parse_history
from hardware_catalog.records import FIT_WINDOW_END
from market.config import MarketConfig, VentureConfig, fitted_config
from market.model import ComputeMarket

CATALOG = load_catalog()
DATA = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data"


def test_every_observation_has_a_source_a_date_and_a_period():
    history = CATALOG.history
    assert len(history) >= 60
    assert len({o.id for o in history}) == len(history)  # an id names one observation
    # the file's `fit` flags are read: some observations are calibrate-history's moments, the others only reported
    # (as in hardware_catalog/data/history.toml)
    fitted = {o.id for o in history if o.fit}
    assert 0 < len(fitted) < len(history)
    assert fitted == {o.id for o in parse_history(DATA / "history.toml") if o.fit}
    for obs in history:
        assert obs.source and obs.source_date, obs.id
        assert obs.period_start <= obs.period_end, obs.id
        assert math.isfinite(obs.value) and obs.value > 0, obs.id
    # the file runs past the fit window: observations on both sides of it
    assert any(o.period_end <= CATALOG.fit_window_end for o in history)
    assert any(o.period_end > CATALOG.fit_window_end for o in history)


def test_the_second_half_of_2025_is_parsed_with_its_sources_and_estimates_flagged():
    """The H2-2025 observations (../shared/reference/history_2025H2.md): values, periods, sources and dates, tags (E
    for estimates, with their range), and which are moments."""
    by_id = {o.id: o for o in CATALOG.history}
    expected = {  # id: (series, subject, period_start, period_end, value, tag, fit)
        "nvidia-dc-revenue-q2fy26": ("vendor_revenue", "nvidia", "2025-05", "2025-07", 41.1e9, "P", True),
        "nvidia-dc-revenue-q3fy26": ("vendor_revenue", "nvidia", "2025-08", "2025-10", 51.2e9, "P", True),
        "nvidia-dc-revenue-q4fy26": ("vendor_revenue", "nvidia", "2025-11", "2026-01", 62.3e9, "P", True),
        "nvidia-gross-margin-q3fy26": ("vendor_gross_margin", "nvidia", "2025-08", "2025-10", 0.734, "P", True),
        "nvidia-gross-margin-fy26": ("vendor_gross_margin", "nvidia", "2025-02", "2026-01", 0.711, "P", False),
        "amd-instinct-revenue-q4-2025": ("vendor_revenue", "amd", "2025-10", "2025-12", 2.6e9, "E", True),
        "amd-gross-margin-q3-2025": ("vendor_gross_margin", "amd", "2025-07", "2025-09", 0.54, "P", True),
        "broadcom-ai-revenue-q4fy25": ("custom_revenue", "custom", "2025-08", "2025-10", 6.5e9, "P", True),
        "big-four-capex-2025": ("capex", "big-four", "2025-01", "2025-12", 402e9, "P", False),
        "big-four-capex-growth-2025": ("capex_growth", "big-four", "2025-01", "2025-12", 0.605, "D", False),
        "h100-rental-oct-2025": ("rental_price", "h100-sxm", "2025-10", "2025-10", 1.70, "E", True),
        "nvidia-power-end-2025": ("installed_power_gw", "nvidia", "2025-12", "2025-12", 8.6, "E", False),
        "google-units-2025": ("vendor_units", "google", "2025-01", "2025-12", 2.77e6, "E", False),
        "frontier-lab-revenue-end-2025": ("lab_revenue_annualised", "frontier-labs", "2025-12", "2025-12", 29e9, "2",
                                          True),
        "frontier-lab-power-2025": ("lab_power_gw", "frontier-labs", "2025-12", "2025-12", 1.9, "2", True),
    }
    for obs_id, (series, subject, start, end, value, tag, fit) in expected.items():
        obs = by_id[obs_id]
        assert (obs.series, obs.subject, obs.period_start, obs.period_end, obs.tag, obs.fit) == (
            series, subject, start, end, tag, fit), obs_id
        assert obs.value == pytest.approx(value), obs_id
        assert obs.source.strip() and obs.source_date >= "2025-08", obs_id  # published once the half-year began
    capex = by_id["big-four-capex-2025"]
    assert (capex.low, capex.high) == (388e9, 416e9) and "finance leases" in capex.source
    assert "Epoch" in by_id["amd-instinct-revenue-q3-2025"].source
    assert (by_id["amd-instinct-revenue-q3-2025"].low, by_id["amd-instinct-revenue-q3-2025"].high) == (1.7e9, 2.4e9)
    # the estimates published with the extension for quarters inside the 2025-06 window are not moments, so the
    # stored fit's moments are the ones it was fitted to
    assert not by_id["amd-instinct-revenue-q1-2025"].fit and not by_id["amd-instinct-revenue-q2-2025"].fit
    assert all(o.source_date <= "2025-06" for o in fit_moments(CATALOG, FIT_WINDOW_END))


def test_observations_before_keeps_those_ending_by_the_month_in_order():
    history = CATALOG.history
    before = observations_before(history, "2025-06")
    assert isinstance(before, tuple) and before == tuple(o for o in history if o.period_end <= "2025-06")
    ids = {o.id for o in before}
    assert "nvidia-dc-revenue-q1fy26" in ids  # ends 2025-04
    assert "h100-rental-mid-2025" in ids  # ends 2025-06: the end month is inside
    assert "nvidia-dc-revenue-q2fy26" not in ids  # ends 2025-07
    assert "nvidia-dc-revenue-q4fy26" not in {o.id for o in observations_before(history, "2025-12")}  # to 2026-01
    assert observations_before(history, "2022-12") == ()
    assert observations_before(history, "2026-01") == tuple(history)
    assert observations_before((), "2025-06") == ()
    for bad in ("2025-13", "2025-6", "June 2025", "", None):
        with pytest.raises(ValueError, match="YYYY-MM"):
            observations_before(history, bad)


def test_the_fit_window_is_recorded_with_the_fit_and_a_malformed_one_is_a_one_line_error(tmp_path):
    assert FIT_WINDOW_END == "2025-06"  # the window of a fit that recorded none
    assert CATALOG.fit_window_end == load_fit_window_end(DATA) == "2025-12"  # the packaged fit (issue 24 refit)
    assert load_fit_window_end(tmp_path) == FIT_WINDOW_END  # no stored fit
    path = tmp_path / "history_calibration.toml"
    path.write_text("[fit]\nseeds = [0]\n\n[values]\nswitching_cost = 1.0\n")
    assert load_fit_window_end(tmp_path) == FIT_WINDOW_END  # a fit written before windows were recorded
    write_calibration(Fit({"switching_cost": 1.0}, 1.0, 2.0, 3, None, "2025-12"), path, (0,))
    assert load_fit_window_end(tmp_path) == "2025-12"
    path.write_text(path.read_text().replace('window_end = "2025-12"', 'window_end = "2025-12-31"'))
    with pytest.raises(CatalogError) as info:
        load_fit_window_end(tmp_path)
    message = str(info.value)
    assert "history_calibration.toml" in message and "window_end" in message and "\n" not in message


def test_the_default_window_fits_what_was_fitted_and_a_later_one_adds_the_second_half():
    default = {o.id for o in fit_moments(CATALOG, FIT_WINDOW_END)}
    later = {o.id for o in fit_moments(CATALOG, "2025-12")}
    assert {o.id for o in fit_moments(CATALOG, CATALOG.fit_window_end)} == later  # the packaged fit's window
    assert default < later
    assert {"nvidia-dc-revenue-q2fy26", "nvidia-dc-revenue-q3fy26", "h100-rental-oct-2025"} <= later - default
    assert "nvidia-dc-revenue-q4fy26" not in later  # it ends in January 2026


def test_a_malformed_window_end_is_a_one_line_usage_error(capsys):
    from experiments.cli import main

    with pytest.raises(SystemExit) as info:
        main(["calibrate-history", "--window-end", "2025-13"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--window-end" in err and "YYYY-MM" in err and "\n" not in err


@pytest.mark.parametrize("edit, field", [
    (("period_end = \"2024-01\"", "period_end = \"2024-13\""), "period_end"),
    (("period_end = \"2024-01\"", "period_end = \"2023-10\""), "period_end"),  # before period_start
    (("period_start = \"2023-11\"", "period_start = \"Nov 2023\""), "period_start"),
    (("value = 4.28e9", "value = nan"), "value"),
    (("stat = \"sum\"", "stat = \"median\""), "stat"),
    (("source_date = \"2025-11\"", "source_date = \"2025\""), "source_date"),
    (("source = \"NVIDIA Q3 FY26 results release: GAAP gross margin 73.4%\"", "source = \" \""), "source"),
])
def test_a_malformed_observation_is_rejected_naming_the_file_and_field(tmp_path, edit, field):
    text = (DATA / "history.toml").read_text()
    old, new = edit
    assert old in text
    bad = tmp_path / "history.toml"
    bad.write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogError) as info:
        parse_history(bad)
    message = str(info.value)
    assert "history.toml" in message and field in message and "\n" not in message


def test_simulated_moments_are_computed_from_the_run_tables(market_run):
    model = market_run(fitted_config(months=30, venture=VentureConfig(enabled=False)), 3, CATALOG)
    tables = (model.model_table(), model.vendor_table(), model.chip_table())
    by_id = {o.id: o for o in CATALOG.history}
    vt = tables[1]
    q = by_id["nvidia-dc-revenue-q1fy25"]
    rows = vt[(vt.vendor == "nvidia") & (vt.date >= q.period_start) & (vt.date <= q.period_end)]
    assert simulated_moment(q, *tables) == pytest.approx(rows.revenue.sum())
    custom = by_id["broadcom-ai-revenue-fy24"]
    rows = vt[vt.vendor.isin(BROADCOM_DESIGNED) & (vt.date >= custom.period_start) & (vt.date <= custom.period_end)]
    assert simulated_moment(custom, *tables) == pytest.approx(rows.revenue.sum())
    # an observation the run does not reach is reported as not covered, never as a zero
    short = ComputeMarket(fitted_config(months=6, venture=VentureConfig(enabled=False)), catalog=CATALOG, rng=3)
    short.run()
    assert math.isnan(simulated_moment(q, short.model_table(), short.vendor_table(), short.chip_table()))
    table = fit_table(CATALOG.history, [tables])
    assert set(table.columns) >= {"id", "observed", "simulated", "low", "high", "in_band"}
    assert table.loc[table.id == q.id, "simulated"].iloc[0] == pytest.approx(simulated_moment(q, *tables))


def test_distance_is_zero_inside_a_band_and_counts_tolerances_outside():
    obs = next(o for o in CATALOG.history if math.isfinite(o.low))
    half_width = tolerance(obs)
    assert half_width >= math.log(obs.high / obs.low) / 2
    assert distance((obs.low + obs.high) / 2, obs) == 0.0
    assert distance(obs.high * math.e, obs) == pytest.approx(1.0 / half_width)
    assert distance(math.nan, obs) > 5.0
    # a point revenue 25% high and a point margin 5 points high are both one tolerance away
    revenue = next(o for o in CATALOG.history if o.series == "vendor_revenue" and not math.isfinite(o.low))
    margin = next(o for o in CATALOG.history if o.series == "vendor_gross_margin" and not math.isfinite(o.low))
    low, high = band(revenue)
    assert distance(high, revenue) == pytest.approx(math.log(1.25) / (math.log(high / low) / 2))
    assert 0.85 < distance(revenue.value * 1.25, revenue) < 1.0 and 0.85 < distance(margin.value + 0.05, margin) < 1.1


def test_the_fitted_values_are_read_back_and_are_config_defaults():
    fitted = load_history_calibration(DATA)
    assert fitted, "the baseline's behavioural parameters come from the history calibration"
    defaults = fitted_config()
    for name, value in fitted.items():
        assert defaults.get(name) == pytest.approx(value)


def test_the_fit_reaches_a_config_only_through_a_catalog():
    """Importing the config reads no data file: MarketConfig's own defaults are the pre-fit values, and a catalog's fit
    is applied where a config is built from that catalog (a custom catalog folder's fit, not the packaged one)."""
    plain = MarketConfig()
    packaged = fitted_config()
    assert plain.choice.switching_cost != packaged.choice.switching_cost  # the packaged fit moved it
    custom = dataclasses.replace(CATALOG, fitted=(("switching_cost", 7.25), ("price_sensitivity", 2.5)))
    built = fitted_config(custom)
    assert (built.choice.switching_cost, built.choice.price_sensitivity) == (7.25, 2.5)
    assert built.demand.adoption_speed == plain.demand.adoption_speed  # a field the custom fit leaves alone


@pytest.mark.slow
def test_calibrate_history_runs_end_to_end_and_prints_the_fit(tmp_path):
    packaged = (DATA / "history_calibration.toml").read_text()
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    (data / "history_calibration.toml").unlink()
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "--catalog-dir", str(data), "calibrate-history",
                           "--seeds", "1", "--max-evals", "3", "--window-end", "2025-12", "--draws", "3",
                           "--screen", "2", "--write"],
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert "screen of 2 parameter sets" in done.stdout and "| structural: in band at no screened set |" in done.stdout
    assert "The best screened set (objective" in done.stdout
    assert "nvidia-dc-revenue-q1fy25" in done.stdout and ("in band" in done.stdout or "MISS" in done.stdout)
    assert "ending by 2025-12" in done.stderr
    rows = {line.split(" | ")[0].strip("| "): line.rsplit(" | ", 1)[1].strip(" |")
            for line in done.stdout.splitlines() if line.startswith("| ") and not line.startswith("| observation")}
    assert rows["nvidia-dc-revenue-q3fy26"] == "fitted" and rows["nvidia-dc-revenue-q4fy26"] == "held out"
    assert "held out (ending after 2025-12)" in done.stdout
    written = load_history_calibration(data)
    assert set(written) >= {"price_sensitivity", "switching_cost"}
    assert load_catalog(data).fit_window_end == "2025-12"  # the window is stored with the fit, for the reports
    assert (DATA / "history_calibration.toml").read_text() == packaged  # --write went to the --catalog-dir only
    draws = load_draws(data / DRAWS_FILE)  # the parameter draws beside the fit, each a full set of fitted parameters
    assert len(draws) == 3 and all(set(d) == {p.name for p in PARAMETERS} for d in draws)
    assert len({d["price_sensitivity"] for d in draws}) == 3
    assert "standard errors" in done.stdout


def test_chip_rental_prices_are_what_the_clouds_renting_each_chip_earned_per_hour_of_it():
    """A chip's rental price is its renting clouds' posted prices over its hours rented: an hour of an H200 or a
    B200 rents for more than an H100 hour at the same clouds, the H100 price is the model table's, and the price
    per H100-equivalent hour over all clouds (TPU clouds included) is a different, separate figure."""
    model = ComputeMarket(fitted_config(months=30, venture=VentureConfig(enabled=False)), catalog=CATALOG, rng=4)
    model.run()
    ct = model.chip_table().set_index(["date", "chip"])["rental_price_hour"]
    mt = model.model_table().set_index("date")
    assert ct[("2025-03", "b200")] > ct[("2025-03", "h200")] > 0
    assert ct[("2024-09", "h200")] > ct[("2024-09", "h100-sxm")] > 0
    assert ct[("2024-09", "h100-sxm")] == mt.loc["2024-09", "rental_price_h100_hour"]
    assert mt["rental_price_h100_hour"].notna().all()  # H100s are rented in every month, on sale or not
    rented = model.last_month.rental
    rented_h100 = rented.chip_hours["h100-sxm"]
    # the price is the month's posted prices over the hours rented; what contracts signed earlier earned is apart
    assert rented.chip_price("h100-sxm") == rented.chip_market_usd["h100-sxm"] / rented_h100
    assert sum(rented.chip_usd.values()) == pytest.approx(rented.paid)  # every dollar rented is on a chip
    assert math.isnan(rented.chip_price("no-such-chip"))


def test_quarterly_margins_are_revenue_weighted_and_missing_for_vendors_that_price_nothing(market_run):
    from experiments.history_fit import custom_silicon, quarterly, quarterly_panels

    model = market_run(fitted_config(months=30, venture=VentureConfig(enabled=False)), 3, CATALOG)
    mt, vt = model.model_table(), model.vendor_table()
    q = quarterly(vt).set_index(["quarter", "vendor"])
    assert q.loc[("2024-Q2", "google"), "revenue"] > 0  # TPUs sell, but Google prices no margin on them
    assert math.isnan(q.loc[("2024-Q2", "google"), "gross_margin"])
    assert math.isnan(q.loc[("2024-Q2", "google"), "margin_posted"])
    months = vt[(vt.vendor == "nvidia") & (vt.date >= "2024-04") & (vt.date <= "2024-06")]
    expected = (months.revenue * months.gross_margin).sum() / months.revenue.sum()
    assert q.loc[("2024-Q2", "nvidia"), "gross_margin"] == pytest.approx(expected)
    # the chart's custom-silicon panel is the same selection as the moment it is drawn against: Broadcom's
    # designs, not AWS's Trainium (on sale from December 2024)
    panels = quarterly_panels(mt, vt).set_index("quarter_start")

    def in_quarter(t):
        return t[(t.date >= "2025-01") & (t.date <= "2025-03")]

    assert panels.loc["2025-01", "custom_revenue:custom"] == pytest.approx(in_quarter(custom_silicon(vt)).revenue.sum())
    assert in_quarter(vt[vt.vendor == "aws"]).revenue.sum() > 0
    assert panels.loc["2025-01",
                      "custom_revenue:custom"] < in_quarter(vt[vt.kind == "hyperscaler_inhouse"]).revenue.sum()


def test_a_fit_at_its_bounds_writes_a_file_the_catalog_loads(tmp_path):
    """MarketConfig reads the fitted values at import, so a fit that ends on a bound must still load."""
    for edge in ("low", "high"):
        values = {p.name: getattr(p, edge) for p in PARAMETERS}
        write_calibration(Fit(values, 1.0, 2.0, 3, None), tmp_path / "history_calibration.toml", (0, 1))
        assert load_history_calibration(tmp_path) == pytest.approx(values)


def _seed_tables(market_run, months: int = 37):
    model = market_run(fitted_config(months=months, venture=VentureConfig(enabled=False)), 3, CATALOG)
    return model.model_table(), model.vendor_table(), model.chip_table()


def test_the_fit_table_marks_the_observations_after_the_window_held_out(market_run):
    tables = _seed_tables(market_run)
    table = fit_table(CATALOG.history, [tables], "2025-06").set_index("id")
    assert not table.loc["nvidia-dc-revenue-q1fy26", "held_out"] and table.loc["nvidia-dc-revenue-q3fy26", "held_out"]
    assert table["held_out"].sum() == sum(o.period_end > "2025-06" for o in CATALOG.history)
    # held out or not, every observation the run covers is simulated and judged by the same band
    assert table.loc["nvidia-dc-revenue-q4fy26", "simulated"] > 0
    assert table.loc["nvidia-dc-revenue-q3fy26", "simulated"] == pytest.approx(
        simulated_moment(next(o for o in CATALOG.history if o.id == "nvidia-dc-revenue-q3fy26"), *tables))
    later = fit_table(CATALOG.history, [tables], "2025-12").set_index("id")
    assert not later.loc["nvidia-dc-revenue-q3fy26", "held_out"] and later.loc["nvidia-dc-revenue-q4fy26", "held_out"]

    text = format_fit_table(table.reset_index())
    roles = {line.split(" | ")[0].strip("| "): line.rsplit(" | ", 1)[1].strip(" |")
             for line in text.splitlines()[2:]}
    assert roles["nvidia-dc-revenue-q1fy26"] == "fitted" and roles["nvidia-gross-margin-q1fy26"] == "context"
    assert roles["nvidia-dc-revenue-q3fy26"] == "held out" and roles["big-four-capex-2025"] == "held out (context)"

    counts = in_band_counts(table.reset_index())
    covered = table[table.simulated.notna()]
    fitted = covered[covered.fit & ~covered.held_out]
    held = covered[covered.fit & covered.held_out]
    assert counts["fitted"] == (int(fitted.in_band.sum()), len(fitted))
    assert counts["held out"] == (int(held.in_band.sum()), len(held)) and len(held) >= 10
    line = in_band_line(table.reset_index(), "2025-06")
    assert f"fitted observations (ending by 2025-06) {counts['fitted'][0]} of {counts['fitted'][1]}" in line
    assert f"held out (ending after 2025-06) {counts['held out'][0]} of {counts['held out'][1]}" in line


def test_the_fit_table_says_how_many_seeds_put_each_observation_in_band(market_run):
    """A verdict that holds for some seeds only is marked as such: with a second seed whose NVIDIA revenue is three
    times the first's, the NVIDIA revenue rows the first seed puts in band are in band for half the seeds."""
    tables = _seed_tables(market_run)
    one = fit_table(CATALOG.history, [tables], "2025-06").set_index("id")
    covered = one[one.simulated.notna()]
    assert (covered.seeds_in_band == covered.in_band.astype(float)).all()  # one seed: the mean's verdict
    model_table, vendor_table, chip_table = tables
    tripled = vendor_table.assign(revenue=np.where(vendor_table.vendor == "nvidia", 3 * vendor_table.revenue,
                                                   vendor_table.revenue))
    two = fit_table(CATALOG.history, [tables, (model_table, tripled, chip_table)], "2025-06").set_index("id")
    nvidia = [i for i in covered.index if i.startswith("nvidia-dc-revenue") and covered.loc[i, "in_band"]]
    assert nvidia and (two.loc[nvidia, "seeds_in_band"] == 0.5).all()
    assert (two.loc["amd-gross-margin-2024", "seeds_in_band"] == one.loc["amd-gross-margin-2024", "seeds_in_band"])
    line = in_band_line(two.reset_index(), "2025-06")
    shares = two[two.simulated.notna() & two.fit & ~two.held_out].seeds_in_band
    assert (f"in band for every seed: {int((shares == 1).sum())}; for some seeds only: "
            f"{int(((shares > 0) & (shares < 1)).sum())}.") in line
    assert "| seeds in band |" in format_fit_table(two.reset_index()).splitlines()[0]


def test_the_validation_report_marks_held_out_history_rows(market_run, tmp_path):
    from experiments import validation

    model_table, vendor_table, chip_table = _seed_tables(market_run)
    for name, table in (("model_monthly", model_table), ("vendors_monthly", vendor_table),
                        ("chips_monthly", chip_table)):
        table.assign(seed=0).to_parquet(tmp_path / f"{name}.parquet")
    pd.DataFrame({"seed": [0]}).to_parquet(tmp_path / "metrics_by_seed.parquet")
    rows = validation.fact_rows({"baseline": validation.RunTables(tmp_path)}, (), CATALOG)
    kinds = {r["id"]: r["kind"] for r in rows}
    # the packaged fit's window ends in 2025-12: what ends in 2026 is held out
    assert kinds["nvidia-dc-revenue-q3fy26"] == "outcome"
    assert kinds["nvidia-gross-margin-q1fy26"] == "outcome (not fitted)"
    assert kinds["nvidia-dc-revenue-q4fy26"] == "held out"
    assert kinds["nvidia-dc-revenue-fy26"] == "held out (not fitted)"
    assert {r["group"] for r in rows} == {validation.HISTORY_GROUP}
    text = validation.markdown(rows, [], pd.DataFrame(), [0], 1.0, [], "baseline.toml", CATALOG.fit_window_end)
    held = [r for r in rows if r["kind"] == "held out" and r["verdict"] in ("pass", "MISS")]
    passed = sum(r["verdict"] == "pass" for r in held)
    assert f"held out (ending after 2025-12, never fitted to) {passed} of {len(held)}" in text
    assert "| history 2023 - 2025 | held out |" in text


@pytest.mark.slow
def test_a_run_summary_reports_fitted_and_held_out_observations_apart(tmp_path, capsys):
    from experiments.cli import main

    baseline = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "baseline.toml"
    config = tmp_path / "h2.toml"
    config.write_text(f'extends = "{baseline}"\n[simulation]\nmonths = 37\nseeds = 1\n'  # to January 2026
                      '[venture]\nenabled = false\n')
    assert main(["run", str(config), "--out", str(tmp_path / "R"), "--workers", "1"]) == 0
    summary = (tmp_path / "R" / "summary.md").read_text()
    assert "In band: fitted observations (ending by 2025-12)" in summary
    assert "held out (ending after 2025-12)" in summary
    assert "| nvidia-dc-revenue-q4fy26 | 2025-11..2026-01 |" in summary
    assert next(line for line in summary.splitlines() if line.startswith("| nvidia-dc-revenue-q4fy26 ")).endswith(
        "| held out |")
    fit = pd.read_csv(tmp_path / "R" / "history_fit.csv").set_index("id")
    assert fit.loc["nvidia-dc-revenue-q4fy26", "held_out"] and not fit.loc["nvidia-dc-revenue-q3fy26", "held_out"]
    assert (tmp_path / "R" / "figures" / "history_fit.png").stat().st_size > 0


@pytest.mark.slow
def test_a_screen_reports_what_each_parameter_set_reaches_and_is_reproducible():
    """The screen's counts agree with its per-observation shares, its best set is the one with the lowest objective
    (and that objective is the fit's objective at those values), the same seed screens the same sets, and an
    observation in band at no set is listed as a structural miss."""
    moments = fit_moments(CATALOG, CATALOG.fit_window_end)
    first = screen(CATALOG, 3, seeds=(0,), seed=5)
    assert len(first.points) == 3 and list(first.reach["id"]) == [o.id for o in moments]
    assert first.points["in_band"].sum() == pytest.approx(first.reach["anywhere"].sum() * 3)
    assert list(first.inside.sum(axis=1)) == list(first.points["in_band"])
    assert first.joint_best() == first.points["in_band"].max()
    for p in PARAMETERS:  # every set inside the bounds
        assert first.points[p.name].between(p.low, p.high).all()
    values, best = first.best()
    assert best == first.points["objective"].min()
    base = chip_market_to(MarketConfig.build(CATALOG.fitted), CATALOG.fit_window_end)
    assert objective(values, base, CATALOG, moments, (0,)) == pytest.approx(best)
    again = screen(CATALOG, 3, seeds=(0,), seed=5)
    pd.testing.assert_frame_equal(first.points, again.points)
    assert not screen(CATALOG, 1, seeds=(0,), seed=6).points.equals(first.points.iloc[:1])
    structural = first.structural_misses()
    assert set(structural) == set(first.reach.loc[first.reach["anywhere"] == 0, "id"])
    table = format_reach(first)
    assert all(f"| {i} | 0% | 0% | no | structural" in table for i in structural)


def test_two_observations_never_in_band_together_are_a_conflict_only_when_chance_would_have_paired_them():
    """a and b are each in band at half of 12 sets and never together: unrelated, about 3 sets would have had both,
    so each is the other's conflict. c is in band with both. With 4 sets the same pattern is too little evidence."""
    pattern = [[1, 0, 1], [1, 0, 1], [0, 1, 1], [0, 1, 1], [1, 0, 0], [0, 1, 0]]
    assert conflicts(np.array(pattern * 2, dtype=bool), ["a", "b", "c"]) == [("b",), ("a",), ()]
    assert conflicts(np.array(pattern[:4], dtype=bool), ["a", "b", "c"]) == [(), (), ()]


@pytest.mark.slow
def test_the_search_starts_from_another_start_only_where_its_objective_is_lower():
    """From a poor base, the stored fit offered as another start is taken (Fit.start 0) and the objective reported
    at the start is still the base's; offered the base's own values, the search stays at the base (start -1)."""
    fitted = MarketConfig.build(CATALOG.fitted)
    stored = {p.name: fitted.get(p.name) for p in PARAMETERS}
    poor = fitted.replace(start_adoption=0.45, adoption_speed=0.05)
    moved = calibrate(CATALOG, base=poor, seeds=(0,), max_evaluations=1, other_starts=[stored])
    assert moved.start == 0 and moved.objective < moved.start_objective
    stayed = calibrate(CATALOG, base=fitted, seeds=(0,), max_evaluations=1, other_starts=[stored])
    assert stayed.start == -1
