"""Scenario reporting by window (issue 24, item 7): the windows of a scenario's levers, paired effects per window
from the stored per-seed model tables, the discounted whole-run sum, sign-flip p-values and the Benjamini-Hochberg
correction of the stars, and the files `compare` writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from experiments import effect_windows as ew
from experiments.compare import bh_q_values, mark_discoveries, sign_flip_p_value
from experiments.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "experiments" / "configs" / "baseline.toml"
START = "2023-01"
MONTHS = 36
SHOCK = {"demand_shock_start": "2024-01", "demand_shock_months": 6, "demand_shock_scale": 0.5}


def fake_run(folder: Path, market: dict, series: dict[int, dict[str, np.ndarray]]) -> Path:
    """A run folder as `compare` leaves it, as far as the window report reads it: manifest.json (seeds and the
    resolved market config) and seeds/seed-NNNN/model.parquet (month, date and the given series) per seed."""
    folder.mkdir(parents=True)
    months = len(next(iter(next(iter(series.values())).values())))
    manifest = {"seeds": sorted(series), "config": {"market": {"start": START, "months": months, **market}}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for seed, columns in series.items():
        table = pd.DataFrame({"month": np.arange(months), "date": [ew.month_date(START, m) for m in range(months)],
                              **columns})
        (folder / "seeds" / f"seed-{seed:04d}").mkdir(parents=True)
        table.to_parquet(folder / "seeds" / f"seed-{seed:04d}" / "model.parquet", index=False)
    return folder


def pair(tmp_path: Path, seeds: int = 6) -> tuple[Path, Path]:
    """A base and a demand-shock scenario (2024-01 for 6 months, i.e. months 12-17 of a 36-month run from 2023-01).
    Seed s: base chip revenue 100 + s USD a month and NVIDIA share 0.8; the scenario's revenue is 30 lower in the
    shock and 12 higher in months 30-35, its share 0.1 lower in the shock. Nothing else differs."""
    base, scenario = {}, {}
    for s in range(seeds):
        revenue = np.full(MONTHS, 100.0 + s)
        share = np.full(MONTHS, 0.8)
        base[s] = {"chip_revenue": revenue, "revenue_share_nvidia": share}
        shocked, lower = revenue.copy(), share.copy()
        shocked[12:18] -= 30.0
        shocked[30:36] += 12.0
        lower[12:18] -= 0.1
        scenario[s] = {"chip_revenue": shocked, "revenue_share_nvidia": lower}
    off = {"demand_shock_start": "", "demand_shock_months": 12, "demand_shock_scale": 1.0}
    return fake_run(tmp_path / "base", off, base), fake_run(tmp_path / "shock", SHOCK, scenario)


def row(table: pd.DataFrame, series: str, window: str) -> pd.Series:
    found = table[(table.series == series) & (table.window == window)]
    assert len(found) == 1, (series, window)
    return found.iloc[0]


# ------------------------------------------------------------------------------------------ windows


def test_a_lever_with_a_length_acts_for_it_and_the_after_windows_count_from_its_end():
    period = ew.active_period({}, SHOCK, START)
    assert (period.first, period.stop, period.after_from) == (12, 18, 18)
    assert "demand shock 2024-01 + 6 months" in period.levers
    spans = {w.name: (w.first, w.stop) for w in ew.windows(period, 120)}
    assert spans == {"during": (12, 18), "one year after": (30, 42), "three years after": (54, 66),
                     "last year": (108, 120), "discounted": (0, 120)}


def test_a_lever_with_only_a_start_acts_for_a_year_and_the_after_windows_count_from_its_start():
    period = ew.active_period({"price_cap_start": ""}, {"price_cap_start": "2023-07", "price_cap_margin": 0.55}, START)
    assert (period.first, period.stop, period.after_from) == (6, 18, 6)
    spans = {w.name: (w.first, w.stop) for w in ew.windows(period, 60)}
    assert spans["one year after"] == (18, 30) and spans["three years after"] == (42, 54)


def test_a_scenario_without_a_dated_lever_differs_from_the_run_start():
    period = ew.active_period({"capacity_scale": 1.0}, {"capacity_scale": 0.5}, START)
    assert (period.first, period.stop, period.after_from) == (0, 12, 0)
    assert "no dated lever" in period.levers


def test_several_levers_and_deals_span_from_the_earliest_start_to_the_latest_end():
    deal = {"name": "d", "buyer": "oracle", "vendor": "amd", "gigawatts": 1.0, "start": "2026-07", "months": 48}
    scenario = {"power_crunch_start": "2025-07", "power_crunch_scale": 0.5, "capacity_deals": [deal]}
    period = ew.active_period({"capacity_deals": []}, scenario, START)
    assert (period.first, period.stop, period.after_from) == (30, 90, 90)
    assert "power crunch from 2025-07" in period.levers and "deal d 2026-07 + 48 months" in period.levers


def test_a_scenario_that_turns_off_its_bases_lever_is_timed_by_the_bases_dates():
    off = {"demand_shock_start": "", "demand_shock_months": 6, "demand_shock_scale": 1.0}
    assert (ew.active_period(SHOCK, off, START).first, ew.active_period(SHOCK, off, START).stop) == (12, 18)


def test_windows_outside_the_run_are_not_reached_and_straddling_ones_partly():
    for window in (ew.Window("w", 40, 52), ew.Window("w", 36, 48), ew.Window("w", -12, 0)):  # also just outside
        first, stop, status = ew.coverage(window, 36)
        assert status == "not reached" and stop == first, window
    assert ew.coverage(ew.Window("w", 30, 42), 36) == (30, 36, "partly reached")
    assert ew.coverage(ew.Window("w", 12, 18), 36) == (12, 18, "reached")
    assert ew.coverage(ew.Window("w", -4, 8), 36) == (0, 8, "partly reached")


def test_a_bad_lever_date_is_one_line_naming_the_manifest_field():
    with pytest.raises(UsageError, match=r"run/manifest.json: field config.market.demand_shock_start: must be a month"):
        ew.active_period({}, {**SHOCK, "demand_shock_start": "January"}, START, "run/manifest.json")


# ------------------------------------------------------------------------------------------ values


def test_window_value_is_the_monthly_mean_and_a_yearly_rate_for_flows():
    values = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert ew.window_value(values, 1, 4, flow=False) == 3.0  # (2 + 4) / 2: the NaN month left out
    assert ew.window_value(values, 1, 4, flow=True) == 36.0  # USD a month -> USD a year
    assert math.isnan(ew.window_value(values, 2, 3, flow=False))


def test_discounted_sum_weights_month_t_by_8_percent_a_year():
    assert ew.DISCOUNT_RATE_PER_YEAR == 0.08
    values = np.zeros(25)
    values[0], values[12], values[24] = 100.0, 100.0, 100.0
    assert ew.discounted_value(values, flow=True) == pytest.approx(100 + 100 / 1.08 + 100 / 1.08**2)
    level = np.array([1.0] * 12 + [3.0] * 12)
    w = 1.08 ** (-np.arange(24) / 12)
    assert ew.discounted_value(level, flow=False) == pytest.approx((w[:12].sum() + 3 * w[12:].sum()) / w.sum())
    assert ew.discounted_value(np.full(12, 2.0), flow=False) == pytest.approx(2.0)


# ------------------------------------------------------------------------------------------ a hand-built pair


def test_effects_by_window_of_a_hand_built_pair(tmp_path):
    base, shock = pair(tmp_path)
    table = ew.effects_by_window(base, [shock], min_seeds=5)
    assert len(table) == len(ew.HEADLINES) * len(ew.WINDOWS)  # no window or series silently dropped

    during = row(table, "chip_revenue", "during")
    assert (during.window_start, during.window_end, during.months_in_run, during.status) == ("2024-01", "2024-06",
                                                                                             6, "reached")
    assert during.difference == pytest.approx(-30 * 12)  # USD a year
    assert during.base_mean == pytest.approx((100 + 2.5) * 12)  # seeds 0-5: 100-105 USD a month
    assert (during.p05, during.p95) == (pytest.approx(-360), pytest.approx(-360))
    assert during.p_value == pytest.approx(2 / 2**6) and during.significant_bh

    after = row(table, "chip_revenue", "one year after")  # months 30-41; the run ends at 35
    assert (after.window_start, after.window_end, after.months_in_run, after.status) == ("2025-07", "2026-06", 6,
                                                                                          "partly reached")
    assert after.difference == pytest.approx(12 * 12)
    three = row(table, "chip_revenue", "three years after")  # months 54-65
    assert three.status == "not reached" and three.months_in_run == 0 and three.window_start == "2027-07"
    assert math.isnan(three.difference) and math.isnan(three.p_value) and not three.significant_bh
    assert row(table, "chip_revenue", "last year").difference == pytest.approx(6 * 12)  # 12 a month in 6 of 12

    w = 1.08 ** (-np.arange(MONTHS) / 12)
    discounted = row(table, "chip_revenue", "discounted")
    assert discounted.difference == pytest.approx(-30 * w[12:18].sum() + 12 * w[30:36].sum())
    assert "8%/yr" in discounted.statistic and "USD at 2023-01" in discounted.statistic

    share = row(table, "revenue_share_nvidia", "during")
    assert share.difference == pytest.approx(-0.1) and share.relative == pytest.approx(-0.125)
    assert row(table, "revenue_share_nvidia", "discounted").difference == pytest.approx(-0.1 * w[12:18].sum()
                                                                                        / w.sum())
    unchanged = row(table, "revenue_share_nvidia", "last year")
    assert unchanged.difference == 0 and unchanged.p_value == 1 and not unchanged.significant_bh
    assert set(table[table.series == "vc_deployed"].status) == {"not recorded"}

    tests = int(table.p_value.notna().sum())
    assert tests == 2 * 4  # two series recorded, four windows of five reached (partly or wholly) in each
    assert set(table.star_rule) == {f"starred: BH-adjusted q < 0.10 over {tests} tests"}

    signs = ew.sign_table(table).loc["shock"]
    assert list(signs.columns) == list(ew.WINDOWS)
    assert signs.loc["total chip revenue"].tolist() == ["-", "+", ".", "+", "-"]
    assert signs.loc["NVIDIA revenue share"].tolist() == ["-", "0", ".", "0", "-"]  # 0: no effect after
    assert signs.loc["VC deployed"].tolist() == ["."] * 5


def test_fewer_than_5_paired_seeds_star_nothing(tmp_path):
    base, shock = pair(tmp_path, seeds=4)
    table = ew.scenario_effects(base, shock)
    assert not table.significant_bh.any()
    assert row(table, "chip_revenue", "during").p_value == pytest.approx(2 / 2**4)


def test_seeds_are_paired_by_number(tmp_path):
    base, shock = pair(tmp_path)
    manifest = json.loads((shock / "manifest.json").read_text())
    manifest["seeds"] = [2, 3, 4, 5, 6]  # seed 6 has no base twin
    (shock / "manifest.json").write_text(json.dumps(manifest))
    assert set(ew.window_effects(base, shock).seeds) == {4}


def test_a_model_table_without_dates_is_one_line_naming_file_and_field(tmp_path):
    base, shock = pair(tmp_path)
    path = shock / "seeds" / "seed-0003" / "model.parquet"
    pd.read_parquet(path).drop(columns="date").to_parquet(path)
    with pytest.raises(UsageError, match=r"seed-0003/model.parquet: field 'date': missing"):
        ew.window_effects(base, shock)
    table = pd.read_parquet(base / "seeds" / "seed-0000" / "model.parquet")
    table.loc[5, "date"] = "2023-09"
    table.to_parquet(base / "seeds" / "seed-0000" / "model.parquet")
    with pytest.raises(UsageError, match=r"seed-0000/model.parquet: field 'date': not one row per consecutive month"):
        ew.window_effects(base, shock)


def test_a_manifest_without_the_config_is_one_line_naming_file_and_field(tmp_path):
    base, shock = pair(tmp_path)
    (shock / "manifest.json").write_text(json.dumps({"seeds": [0, 1], "config": []}))
    with pytest.raises(UsageError, match=r"shock/manifest.json: field 'config.market': missing"):
        ew.window_effects(base, shock)


def test_runs_of_different_months_are_refused(tmp_path):
    base, _ = pair(tmp_path)
    short = fake_run(tmp_path / "short", SHOCK, {s: {"chip_revenue": np.ones(24)} for s in range(6)})
    with pytest.raises(UsageError, match="covers 24 months from 2023-01 but its base .* covers 36"):
        ew.window_effects(base, short)


def test_the_figure_is_a_png(tmp_path):
    base, shock = pair(tmp_path)
    png = ew.effects_figure(ew.effects_by_window(base, [shock]))
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


# ------------------------------------------------------------------------------------------ p-values, BH


def test_sign_flip_p_values_of_hand_counted_examples():
    assert sign_flip_p_value(np.array([1.0, 2.0, 3.0])) == pytest.approx(2 / 8)  # only +++ and --- reach |6|
    # sums of +-1 +-1 +-2 +-3 at least 5 in size: 7, 5, 5 and their negatives: 6 of 16
    assert sign_flip_p_value(np.array([1.0, -1.0, 2.0, 3.0])) == pytest.approx(6 / 16)
    assert sign_flip_p_value(np.array([0.0, 0.0, 0.0])) == 1.0
    assert sign_flip_p_value(np.array([2.0, np.nan])) == 1.0  # one seed left: both signs as far from zero
    assert math.isnan(sign_flip_p_value(np.array([np.nan])))
    drawn = sign_flip_p_value(np.linspace(1.0, 2.0, 20))  # above the exact limit: random patterns
    assert 1 / 20_001 <= drawn < 1e-3


def test_benjamini_hochberg_of_a_hand_worked_example():
    # sorted p: 0.01, 0.03, 0.04, 0.20 (m = 4); p * m / rank: 0.04, 0.06, 0.0533, 0.20; running minimum from the
    # top: 0.04, 0.0533, 0.0533, 0.20. The NaN is not a test and stays NaN.
    q = bh_q_values([0.01, np.nan, 0.04, 0.03, 0.20])
    assert q[[0, 2, 3, 4]] == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])
    assert math.isnan(q[1])
    table = mark_discoveries(pd.DataFrame({"p_value": [0.01, np.nan, 0.04, 0.03, 0.20], "seeds": [8, 8, 8, 8, 3]}),
                             min_seeds=5)
    assert table.significant_bh.tolist() == [True, False, True, True, False]
    assert set(table.star_rule) == {"starred: BH-adjusted q < 0.10 over 4 tests"}
    assert mark_discoveries(table.assign(seeds=4), min_seeds=5).significant_bh.sum() == 0


# ------------------------------------------------------------------------------------------ the command


def test_compare_refuses_a_config_named_like_the_window_files(capsys, tmp_path):
    from experiments.cli import main

    for name in ("effects_by_window.csv", "effects_by_window.png"):
        config = tmp_path / f"{name}.toml"
        config.write_text(f'extends = "{BASELINE}"\n[simulation]\nmonths = 2\nseeds = 1\n')
        assert main(["compare", str(BASELINE), str(config), "--out", str(tmp_path / "cmp")]) == 2
        assert "rename the config file" in capsys.readouterr().err
    assert not (tmp_path / "cmp").exists()


@pytest.mark.slow
def test_compare_writes_and_seals_the_window_files_and_prints_signs(tmp_path, capsys):
    from experiments import rundir
    from experiments.cli import main

    base = tmp_path / "base.toml"
    base.write_text(f'extends = "{BASELINE}"\n[simulation]\nmonths = 18\nseeds = 2\n')
    shock = tmp_path / "shock.toml"
    shock.write_text(f'extends = "{base}"\n[policy]\ndemand_shock_start = "2023-04"\ndemand_shock_months = 3\n'
                     "demand_shock_scale = 0.5\n")
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(shock), "--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "shock (during: demand shock 2023-04 + 3 months)" in printed and "during" in printed
    assert "base level" in printed and "e+" not in printed and "e-" not in printed  # no scientific notation
    recorded = rundir.recorded_files(out)
    for name in ("comparison.csv", "comparison.png", "effects_by_window.csv", "effects_by_window.png"):
        assert recorded[name] == rundir.file_sha256(out / name)
    table = pd.read_csv(out / "effects_by_window.csv")
    assert set(table[table.window == "three years after"].status) == {"not reached"}
    assert row(table, "chip_revenue", "during").difference < 0  # half the demand, fewer chips sold
    assert not table.significant_bh.any()  # two seeds: no stars
    comparison = pd.read_csv(out / "comparison.csv")
    assert {"p_value", "q_value", "significant_bh", "star_rule"} <= set(comparison.columns)
    assert rundir.foreign_entries(out) == []


def test_compare_prints_human_figures_beside_the_base_level():
    from experiments.compare import human, material

    assert [human(v) for v in (1.23e11, -4.5e6, 1234.0, 0.853, 4.3e-05, 0.0)] == ["123B", "-4.5M", "1.23k", "0.853",
                                                                                  "~0", "0"]
    assert not material(4.3e-05, 0.7) and material(0.02, 0.7) and material(1.0, 0.0)


# ---------------------------------------------------------------------------------- a scenario that changed nothing

def metrics_run(folder: Path, values: dict[str, list[float]]) -> Path:
    """A run folder holding only metrics_by_seed.parquet (seeds 0, 1, ...), as `compare` reads it."""
    folder.mkdir(parents=True)
    seeds = range(len(next(iter(values.values()))))
    pd.DataFrame({"seed": list(seeds), **values}).to_parquet(folder / "metrics_by_seed.parquet", index=False)
    return folder


def test_unchanged_scenarios_are_those_equal_to_the_base_in_every_seed_and_metric(tmp_path):
    from experiments.compare import unchanged_scenarios

    base = {"revenue": [1.0, 2.0], "margin": [0.5, math.nan]}
    dirs = [metrics_run(tmp_path / "baseline", base),
            metrics_run(tmp_path / "late_shock", base),  # NaN equals NaN: still the same results
            metrics_run(tmp_path / "one_seed_moved", {"revenue": [1.0, 2.5], "margin": [0.5, math.nan]}),
            metrics_run(tmp_path / "other_metric_moved", {"revenue": [1.0, 2.0], "margin": [0.5, 0.1]})]
    assert unchanged_scenarios(dirs) == ["late_shock"]


def test_compare_warns_once_naming_the_last_month_when_a_scenario_changed_nothing(capsys):
    from experiments.commands.compare import _warn_unchanged
    from experiments.config import load_experiment

    configs = REPO / "experiments" / "configs"
    experiments = [load_experiment(configs / "baseline.toml"), load_experiment(configs / "demand_shock.toml"),
                   load_experiment(configs / "power_crunch.toml")]
    _warn_unchanged(["demand_shock"], experiments, 24)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("compute-market: warning: demand_shock: ")
    assert "identical to baseline's in every seed and metric" in lines[0]
    assert "may begin after the run's last month (2024-12)" in lines[0]
