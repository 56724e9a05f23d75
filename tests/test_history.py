"""The observed 2023 - mid-2025 path: its data file is validated like the catalog, the model's figure for each
observation is computed from the run's tables, and calibrate-history runs end to end."""

from __future__ import annotations

import dataclasses
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.calibrate_history import PARAMETERS, Fit, distance, tolerance, write_calibration
from experiments.history_fit import BROADCOM_DESIGNED, band, fit_table, simulated_moment
from hardware_catalog import load_catalog
from hardware_catalog.loader import CatalogError, load_history_calibration, parse_history
from hardware_catalog.records import HISTORY_END
from market.config import MarketConfig, VentureConfig, fitted_config
from market.model import ComputeMarket

CATALOG = load_catalog()
DATA = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data"


def test_every_observation_has_a_source_a_date_and_lies_in_the_window():
    history = CATALOG.history
    assert len(history) >= 30
    assert len({o.id for o in history}) == len(history)  # an id names one observation
    # the file's `fit` flags are read: some observations are calibrate-history's moments, the others only reported
    # (as in hardware_catalog/data/history.toml)
    fitted = {o.id for o in history if o.fit}
    assert 0 < len(fitted) < len(history)
    assert fitted == {o.id for o in parse_history(DATA / "history.toml") if o.fit}
    for obs in history:
        assert obs.source and obs.source_date, obs.id
        assert obs.period_start <= obs.period_end <= HISTORY_END, obs.id
        assert math.isfinite(obs.value) and obs.value > 0, obs.id


@pytest.mark.parametrize("edit, field", [
    (("period_end = \"2024-01\"", "period_end = \"2025-09\""), "period_end"),
    (("value = 4.28e9", "value = nan"), "value"),
    (("stat = \"sum\"", "stat = \"median\""), "stat"),
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
    assert built.demand.ai_boom_scale == plain.demand.ai_boom_scale  # a field the custom fit leaves alone


@pytest.mark.slow
def test_calibrate_history_runs_end_to_end_and_prints_the_fit(tmp_path):
    packaged = (DATA / "history_calibration.toml").read_text()
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    (data / "history_calibration.toml").unlink()
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "--catalog-dir", str(data), "calibrate-history",
                           "--seeds", "1", "--max-evals", "3", "--write"], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "nvidia-dc-revenue-q1fy25" in done.stdout and ("in band" in done.stdout or "MISS" in done.stdout)
    written = load_history_calibration(data)
    assert set(written) >= {"price_sensitivity", "switching_cost"}
    assert (DATA / "history_calibration.toml").read_text() == packaged  # --write went to the --catalog-dir only


def test_chip_rental_prices_are_what_the_clouds_renting_each_chip_earned_per_hour_of_it():
    """A chip's rental price is its renting clouds' revenue from it over its hours rented: an hour of an H200 or a
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
    assert rented.chip_price("h100-sxm") == rented.chip_usd["h100-sxm"] / rented_h100
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
