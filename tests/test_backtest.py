"""The rolling-origin backtest (experiments.backtest) and the fit's parameter uncertainty
(experiments.parameter_uncertainty): scoring by hand, the naive forecasts, the leakage guard."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import backtest
from experiments.backtest import Settings, naive_last, naive_trend, score, scored_observations, skill
from experiments.calibrate_history import PARAMETERS
from experiments.errors import UsageError
from experiments.parameter_uncertainty import (
    DRAWS_FILE,
    PRIOR_PRECISION,
    config_for_seed,
    covariance,
    load_draws,
    stored_draws_for,
    truncated_draws,
)
from hardware_catalog import HistoryObservation, load_catalog
from market.config import MarketConfig

BASELINE = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "baseline.toml"


def observation(id_: str, start: str, end: str, value: float, series: str = "vendor_revenue",
                subject: str = "nvidia", stat: str = "sum", fit: bool = True) -> HistoryObservation:
    return HistoryObservation(id=id_, series=series, subject=subject, period_start=start, period_end=end, stat=stat,
                              value=value, tag="P", fit=fit, source="test", source_date="2026-01")


# ------------------------------------------------------------------------------------------ scoring by hand


def test_score_by_hand():
    members = np.array([80.0, 90.0, 100.0, 110.0, 120.0, np.nan])  # a member that did not cover it is left out
    row = score(observation("x", "2025-01", "2025-03", 100.0), members, last=80.0, trend=125.0, origin="2025-01")
    # numpy's linear quantiles of 80..120 in steps of 10: 5% -> 82, 25% -> 90, 50% -> 100, 75% -> 110, 95% -> 118
    assert (row["p05"], row["p25"], row["median"], row["p75"], row["p95"]) == pytest.approx((82, 90, 100, 110, 118))
    assert row["members"] == 5 and row["lead_months"] == 3
    assert row["log_error"] == pytest.approx(0.0)
    assert row["in_50"] is True and row["in_90"] is True
    assert row["naive_last_log_error"] == pytest.approx(math.log(0.8))
    assert row["naive_trend_log_error"] == pytest.approx(math.log(1.25))

    outside = score(observation("y", "2025-01", "2025-03", 115.0), members[:5], 80.0, math.nan, "2025-01")
    assert outside["in_50"] is False and outside["in_90"] is True  # 115 is above 110 but below 118
    assert outside["log_error"] == pytest.approx(math.log(100 / 115))
    assert math.isnan(outside["naive_trend_log_error"])
    far = score(observation("z", "2025-01", "2025-03", 130.0), members[:5], 80.0, 1.0, "2025-01")
    assert far["in_90"] is False


def test_skill_by_hand_and_below_zero():
    # 1 - (0.1^2 + 0.2^2) / (0.2^2 + 0.2^2) = 1 - 0.05 / 0.08
    assert skill([0.1, -0.2], [0.2, 0.2]) == pytest.approx(0.375)
    assert skill([0.3], [0.1]) == pytest.approx(-8.0)  # worse than the naive forecast: negative, not clipped
    assert skill([0.3, 0.5], [0.1, math.nan]) == pytest.approx(-8.0)  # pairs with a missing naive error are left out
    assert math.isnan(skill([0.1], [math.nan]))
    assert math.isnan(skill([0.1], [0.0]))


def test_summarise_counts_coverage_and_skill():
    rows = [score(observation(f"q{i}", "2025-01", "2025-03", v), np.array([90.0, 100.0, 110.0]), last, math.nan,
                  "2025-01") for i, (v, last) in enumerate([(100.0, 90.0), (200.0, 150.0)])]
    table = backtest.summarise(pd.DataFrame(rows))
    (r,) = table.itertuples()
    assert r.scored == 2 and r.coverage_90 == pytest.approx(0.5) and r.coverage_50 == pytest.approx(0.5)
    expected = 1 - (0 ** 2 + math.log(100 / 200) ** 2) / (math.log(0.9) ** 2 + math.log(150 / 200) ** 2)
    assert r.skill_vs_last == pytest.approx(expected)
    assert math.isnan(r.skill_vs_trend)
    assert math.isnan(r.width_ratio_90)  # no seed-only runs given


def test_width_ratio_compares_the_drawn_interval_with_seed_noise_alone():
    members = np.array([50.0, 100.0, 200.0])  # 5-95%: 55 to 190
    row = score(observation("w", "2025-01", "2025-03", 100.0), members, 1.0, 1.0, "2025-01",
                seed_only=np.array([95.0, 105.0]))  # 5-95%: 95.5 to 104.5
    assert (row["seed_only_p05"], row["seed_only_p95"]) == pytest.approx((95.5, 104.5))
    ratio = backtest.width_ratio(pd.DataFrame([row]))
    assert ratio == pytest.approx(math.log(190 / 55) / math.log(104.5 / 95.5))


# ------------------------------------------------------------------------------------------ naive forecasts


QUARTERS = [observation(f"q{i}", start, end, 100.0 * 1.1 ** i)
            for i, (start, end) in enumerate([("2024-01", "2024-03"), ("2024-04", "2024-06"), ("2024-07", "2024-09"),
                                              ("2024-10", "2024-12")])]


def test_naive_last_value_and_trend_of_four_quarters():
    target = observation("next", "2025-01", "2025-03", 1.0)
    assert naive_last(target, QUARTERS, "2025-01") == pytest.approx(133.1)
    assert naive_trend(target, QUARTERS, "2025-01") == pytest.approx(146.41)  # 10% a quarter, exactly log-linear
    # a year is forecast from monthly rates: the last quarter's rate x 12; the trend's rate at the year's middle
    year = observation("year", "2025-01", "2025-12", 1.0)
    assert naive_last(year, QUARTERS, "2025-01") == pytest.approx(133.1 * 4)
    monthly_growth = 1.1 ** (1 / 3)
    # the last quarter's middle is 1.5 months before the origin, the year's 6 months after it
    assert naive_trend(year, QUARTERS, "2025-01") == pytest.approx(133.1 / 3 * monthly_growth ** 7.5 * 12)


def test_naive_forecasts_know_only_what_came_before_the_origin():
    target = observation("next", "2024-10", "2024-12", 1.0)
    # from 2024-10 the last quarter known ends 2024-09; the one ending 2024-12 is not known yet
    assert naive_last(target, QUARTERS, "2024-10") == pytest.approx(121.0)
    assert naive_trend(target, QUARTERS, "2024-10") == pytest.approx(133.1)
    # one quarter known: a last value but no trend
    assert naive_last(target, QUARTERS, "2024-04") == pytest.approx(100.0 * 3 / 3)
    assert math.isnan(naive_trend(target, QUARTERS, "2024-04"))
    assert math.isnan(naive_last(target, QUARTERS, "2024-01"))
    # the trend uses only the last 12 months: from 2026-01 the latest quarter ended 13 months earlier
    assert math.isnan(naive_trend(observation("late", "2026-01", "2026-03", 1.0), QUARTERS, "2026-01"))


def test_naive_forecasts_use_the_same_series_and_prefer_the_same_fit_flag():
    other = [observation("margin", "2024-10", "2024-12", 0.7, series="vendor_gross_margin", stat="mean"),
             observation("compute-only", "2024-10", "2024-12", 50.0, fit=False)]
    target = observation("next", "2025-01", "2025-03", 1.0)
    assert naive_last(target, QUARTERS + other, "2025-01") == pytest.approx(133.1)
    context = observation("next-context", "2025-01", "2025-03", 1.0, fit=False)
    assert naive_last(context, QUARTERS + other, "2025-01") == pytest.approx(50.0)
    margin = observation("m", "2025-01", "2025-03", 0.7, series="vendor_gross_margin", stat="mean")
    assert naive_last(margin, QUARTERS + other, "2025-01") == pytest.approx(0.7)  # a mean is not scaled by months


def test_scored_observations_stop_at_the_horizon_and_the_window():
    assert [o.id for o in scored_observations(QUARTERS, "2024-04", 6, "2025-12")] == ["q1", "q2"]
    assert [o.id for o in scored_observations(QUARTERS, "2024-04", 18, "2024-10")] == ["q1", "q2"]
    assert [o.id for o in scored_observations(QUARTERS, "2024-03", 1, "2025-12")] == ["q0"]


# ------------------------------------------------------------------------------------------ the leakage guard


def _planted(catalog, obs: HistoryObservation):
    return dataclasses.replace(catalog, history=(*catalog.history, obs))


def test_a_wrong_observation_at_or_after_the_origin_does_not_move_the_fit():
    catalog = load_catalog()
    config = MarketConfig.build(catalog.fitted)
    settings = Settings(max_evaluations=4, draws=2, seeds=(0,), parameters=PARAMETERS[:2])
    origin = "2023-08"  # fitted: the observations ending by 2023-07 (a short, cheap window)

    def fit(cat):
        result, uncertainty, moments = backtest.fit_origin(config, cat, origin, settings)
        return result.values, result.objective, uncertainty.draws, moments

    clean = fit(catalog)
    wrong = 1e13  # a revenue 100x too large
    at_origin = observation("planted-at-origin", "2023-06", "2023-08", wrong)
    later = observation("planted-later", "2023-08", "2023-10", wrong)
    assert fit(_planted(_planted(catalog, at_origin), later)) == clean
    # the same wrong figure ending the month before the origin is fitted, and moves the fit: the test can fail
    before = fit(_planted(catalog, observation("planted-before", "2023-05", "2023-07", wrong)))
    assert before[3] == clean[3] + 1
    assert before[1] > clean[1] + 1.0


def test_origins_are_checked():
    catalog = load_catalog()
    config = MarketConfig.build(catalog.fitted)
    with pytest.raises(UsageError, match="after the window's end"):
        backtest.check_origins(("2026-03",), catalog, config, "2025-12")
    with pytest.raises(UsageError, match="given twice"):
        backtest.check_origins(("2024-06", "2024-06"), catalog, config, "2025-12")
    with pytest.raises(UsageError, match="after the model's start"):
        backtest.check_origins(("2022-06",), catalog, config, "2025-12")
    with pytest.raises(UsageError, match="no observation with fit = true ends before it"):
        backtest.check_origins(("2024-06", "2023-03"), catalog, config, "2025-12")  # the first fitted one ends 2023-04


# ------------------------------------------------------------------------------------------ parameter uncertainty


def test_covariance_keeps_an_unidentified_parameter_as_wide_as_its_bounds():
    jacobian = np.array([[4.0, 0.0], [2.0, 0.0], [0.0, 0.0]])  # the second parameter moves no moment
    residual = np.zeros(3)
    cov, scale = covariance(jacobian, residual, np.ones(3), 2)
    assert scale == 1.0
    assert cov[1, 1] == pytest.approx(1 / PRIOR_PRECISION)  # the uniform prior's variance: the whole range
    assert cov[0, 0] == pytest.approx(1 / (16 + 4 + PRIOR_PRECISION))
    # a misfit beyond the tolerances widens the identified parameter's spread
    wide, scale = covariance(jacobian, np.array([3.0, 3.0, 3.0]), np.ones(3), 2)
    assert scale == pytest.approx(27.0 / 1)
    assert wide[0, 0] > cov[0, 0] * 2


def test_truncated_draws_stay_in_bounds_and_repeat():
    cov = np.diag([0.5, 0.01])
    draws = truncated_draws(np.array([0.95, 0.5]), cov, 50, seed=3)
    assert np.all((draws >= 0) & (draws <= 1))
    assert np.array_equal(draws, truncated_draws(np.array([0.95, 0.5]), cov, 50, seed=3))
    assert draws[:, 1].std() < draws[:, 0].std()


def test_stored_draws_are_validated(tmp_path):
    path = tmp_path / "draws.toml"
    assert load_draws(path) == ()
    path.write_text("[[draw]]\nprice_sensitivity = 2.0\n\n[[draw]]\nprice_sensitivity = 3.5\n")
    assert load_draws(path) == ({"price_sensitivity": 2.0}, {"price_sensitivity": 3.5})
    path.write_text("[[draw]]\nprice_sensitivity = -1.0\n")
    with pytest.raises(UsageError, match=r"draws.toml: draw 1: field 'price_sensitivity'"):
        load_draws(path)
    path.write_text("[[draw]]\nno_such_knob = 1.0\n")
    with pytest.raises(UsageError, match="field 'no_such_knob': not a fitted parameter"):
        load_draws(path)


# ------------------------------------------------------------------------------------------ draws in runs


def _catalog_with_draws(tmp_path, draws_text: str):
    from hardware_catalog.loader import DATA_DIR

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    (data / DRAWS_FILE).write_text(draws_text)
    return load_catalog(data)


def test_each_seed_runs_with_its_draw_and_a_scenario_keeps_what_it_sets(tmp_path):
    catalog = _catalog_with_draws(tmp_path, "[[draw]]\nprice_sensitivity = 1.0\nswitching_cost = 2.0\n\n"
                                            "[[draw]]\nprice_sensitivity = 5.0\nswitching_cost = 9.0\n")
    config = MarketConfig.build(catalog.fitted)
    draws = stored_draws_for(config, catalog)
    assert [config_for_seed(config, draws, s).get("price_sensitivity") for s in range(4)] == [1.0, 5.0, 1.0, 5.0]
    scenario = config.replace(switching_cost=0.75)  # a scenario that sets a fitted parameter keeps its value
    kept = stored_draws_for(scenario, catalog)
    assert [config_for_seed(scenario, kept, s).get("switching_cost") for s in range(2)] == [0.75, 0.75]
    assert [config_for_seed(scenario, kept, s).get("price_sensitivity") for s in range(2)] == [1.0, 5.0]  # paired
    assert config_for_seed(config, (), 3) is config


def test_a_run_with_parameter_draws_differs_from_one_without_and_is_fingerprinted_apart(tmp_path):
    from experiments.config import load_experiment
    from experiments.runner import run_experiment

    catalog = _catalog_with_draws(tmp_path, "[[draw]]\nprice_sensitivity = 0.6\nswitching_cost = 11.5\n")
    experiment = load_experiment(BASELINE, catalog)
    plain = run_experiment(experiment, tmp_path / "plain", seeds=(0,), months=3, workers=1)
    drawn = run_experiment(experiment, tmp_path / "drawn", seeds=(0,), months=3, workers=1, parameter_draws=True)
    manifest = json.loads((drawn / "manifest.json").read_text())
    assert manifest["parameter_draws"] == 1
    assert json.loads((plain / "manifest.json").read_text())["inputs_hash"] != manifest["inputs_hash"]
    shares = [pd.read_parquet(run / "vendors_monthly.parquet")["revenue_share"].to_numpy() for run in (plain, drawn)]
    assert not np.allclose(*shares)  # the draw's price sensitivity and lock-in moved the market
    assert "parameter draw s mod 1" in (drawn / "summary.md").read_text()
    assert "seed noise only" in (plain / "summary.md").read_text()


def test_parameter_draws_without_stored_draws_is_one_line(tmp_path, capsys):
    from experiments.cli import main
    from hardware_catalog.loader import DATA_DIR

    data = tmp_path / "data"
    shutil.copytree(DATA_DIR, data)
    (data / "history_calibration_draws.toml").unlink(missing_ok=True)  # a catalog whose fit stored no draws
    code = main(["--catalog-dir", str(data), "run", str(BASELINE), "--months", "2", "--seeds", "1",
                 "--parameter-draws", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "history_calibration_draws.toml: no parameter draws stored" in err[0]
    assert not (tmp_path / "run").exists()


def test_an_evaluations_seeds_on_two_workers_give_the_same_figures():
    from experiments.calibrate_history import fit_moments, seed_moments

    catalog = load_catalog()
    config = MarketConfig.build(catalog.fitted).replace(months=7)
    moments = fit_moments(catalog, "2023-07")
    alone = seed_moments(config, catalog, moments, (0, 1), workers=1)
    side_by_side = seed_moments(config, catalog, moments, (0, 1), workers=2)
    assert alone.shape == (2, len(moments)) and np.isfinite(alone).all()
    assert np.array_equal(alone, side_by_side)
    assert not np.array_equal(alone[0], alone[1])  # the seeds differ, so a mix-up of rows would show


# ------------------------------------------------------------------------------------------ the command


def test_backtest_command_writes_its_folder_and_refuses_a_foreign_one(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "bt"
    code = main(["backtest", "--origin", "2023-09", "--horizon", "4", "--max-evals", "2", "--draws", "2",
                 "--seeds", "1", "--workers", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = pd.read_csv(out / "backtest.csv")
    assert set(table["origin"]) == {"2023-09"} and (table["lead_months"] <= 4).all()
    assert table["period"].str[-7:].between("2023-09", "2023-12").all()  # only observations ending in the horizon
    assert (table["members"] == 2).all()  # 2 draws x 1 seed
    summary = (out / "summary.md").read_text()
    assert "| 2023-09 | NVIDIA revenue |" in summary and "below 0 worse than it" in summary
    assert (out / "figures" / "origin-2023-09.png").stat().st_size > 10_000
    assert "origin 2023-09 (1 of 1): fitting 9 parameters" in captured.err

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("a user's file")
    code = main(["backtest", "--origin", "2023-09", "--out", str(foreign)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and str(foreign) in err[0]
    assert (foreign / "notes.txt").read_text() == "a user's file" and len(list(foreign.iterdir())) == 1
