"""Experiment configs, the runner (resume, backends, determinism), compare and sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from experiments.cli import main
from experiments.config import ConfigError, load_experiment

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"
BASELINE = CONFIGS / "baseline.toml"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


def extends_baseline(body: str) -> str:
    return f'extends = "{BASELINE}"\n{body}'


BAD = [
    ("[market]\nswitching_kost = 1.0\n", "market.switching_kost: unknown key"),
    ('[market]\nswitching_cost = "high"\n', "market.switching_cost: must be a number"),
    ("[market]\ncapacity_scale = -1.0\n", "market.capacity_scale: must be > 0, got -1.0"),
    ("[market]\nprice_sensitivity = nan\n", "market.price_sensitivity: must be finite"),
    ("[venture]\nlp_pool_usd_per_year = inf\n", "venture.lp_pool_usd_per_year: must be finite"),
    ("[venture]\nreserve_share = 1.5\n", "venture.reserve_share: must be in [0, 1], got 1.5"),
    ("[venture]\nfirms = 2.5\n", "venture.firms: must be a whole number"),
    ('[market]\nrationing = "lottery"\n', "market.rationing: must be proportional or largest_first"),
    ("[hardware.chips.h900]\nhbm_tbps = 4.0\n", "hardware.chips.h900: unknown chip 'h900'; valid: a100-40gb"),
    ("[hardware.chips.h100-sxm]\nhbm_tbps = 0\n", "hardware.chips.h100-sxm.hbm_tbps: must be > 0, got 0"),
    ("[hardware.chips.h100-sxm]\nname = \"x\"\n", "hardware.chips.h100-sxm.name: not overridable"),
    ("[vendors.nvidia]\ncadence_months = -3\n", "vendors.nvidia.cadence_months: must be > 0, got -3"),
    ("[vendors.nvidai]\ncadence_months = 12\n", "vendors.nvidai: unknown vendor 'nvidai'"),
    ('[policy]\nserving_workload = "gpt-9"\n', "policy.serving_workload: unknown workload 'gpt-9'"),
    ('[policy]\nprice_cap_vendor = "nvidai"\n', "policy.price_cap_vendor: unknown vendor 'nvidai'"),
    ('[policy]\nprice_cap_start = "2026"\n', "policy.price_cap_start: must be YYYY-MM"),
    ("[policy]\nswitching_cost = 1.0\n", "policy.switching_cost: unknown key"),
    ("[simulation]\nseeds = 0\n", "simulation.seeds: must be > 0"),
    ("[simulation]\nseeds = 4351115509\n", "simulation.seeds: must be <= 10000"),  # found by hypothesis
    ("[simulation]\nreplicas = 3\n", "simulation.replicas: unknown key"),
    ("[[hyperscalers]]\nid = \"x\"\nname = \"X\"\nbudget_share = 0.5\n", "hyperscalers[0].internal_share: missing"),
    ("[costs]\nx = 1\n", "costs: unknown table or key"),
    ("[market\n", "not valid TOML"),
]


@pytest.mark.parametrize("body,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_bad_config_is_a_one_line_error_naming_file_and_field_with_exit_2_and_nothing_written(tmp_path, capsys, body,
                                                                                              message):
    config = write(tmp_path, "bad.toml", extends_baseline(body) if not body.startswith("[market\n") else body)
    out = tmp_path / "out"
    code = main(["run", str(config), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and str(config) in err, err
    assert err.count("\n") == 1
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_missing_and_cyclic_extends(tmp_path, capsys):
    missing = write(tmp_path, "missing.toml", 'extends = "nope.toml"\n')
    assert main(["validate", str(missing)]) == 2
    assert "extends: file not found" in capsys.readouterr().err
    write(tmp_path, "a.toml", 'extends = "b.toml"\n')
    b = write(tmp_path, "b.toml", 'extends = "a.toml"\n')
    assert main(["validate", str(b)]) == 2
    assert "cyclic extends" in capsys.readouterr().err


def test_every_scenario_file_validates_and_says_what_it_asks():
    files = sorted(CONFIGS.glob("*.toml"))
    assert len(files) >= 9
    for path in files:
        experiment = load_experiment(path)
        assert path.read_text().startswith("#"), path  # opens with the question it answers
        assert experiment.market.months == 120


# every key the validator knows, plus some it does not
KEYS = [("market", "switching_cost"), ("market", "capacity_scale"), ("market", "months"), ("market", "rationing"),
        ("policy", "price_cap_margin"), ("policy", "export_control_regions"), ("policy", "serving_workload"),
        ("venture", "firms"), ("venture", "information_advantage"), ("venture", "reserve_share"),
        ("simulation", "seeds"), ("simulation", "start"), ("vendors", "nvidia"), ("hardware", "chips"),
        ("market", "no_such_key"), ("nonsense", "x")]
VALUES = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.text(max_size=8), st.lists(st.integers(-3, 3), max_size=3),
                   st.dictionaries(st.sampled_from(["cadence_months", "hbm_tbps", "x"]), st.floats(-5, 5), max_size=2))


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value:
            return "nan"
        return "inf" if value == float("inf") else "-inf" if value == float("-inf") else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"


@pytest.mark.slow
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(KEYS), VALUES)
def test_random_mutations_validate_or_fail_cleanly(tmp_path, key, value):
    table, name = key
    path = write(tmp_path, "mutated.toml", extends_baseline(f"[{table}]\n{name} = {_toml_value(value)}\n"))
    try:
        load_experiment(path)
    except ConfigError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)


# --- runs -----------------------------------------------------------------------------------------


def short(tmp_path: Path, name: str = "short.toml", extra: str = "") -> Path:
    return write(tmp_path, name, extends_baseline("[simulation]\nmonths = 18\nseeds = 2\n" + extra))


TABLES = ("model_monthly", "vendors_monthly", "deals", "funds", "ledger_monthly", "startups")


@pytest.mark.slow
def test_same_seeds_identical_parquet_across_runs_and_backends(tmp_path, capsys):
    config = short(tmp_path)
    runs = []
    for i, backend in enumerate(("local", "local", "dask")):
        out = tmp_path / f"run{i}"
        assert main(["run", str(config), "--out", str(out), "--workers", "2", "--backend", backend]) == 0
        runs.append(out)
    capsys.readouterr()
    for table in TABLES:
        first = pd.read_parquet(runs[0] / f"{table}.parquet")
        assert len(first) > 0
        for other in runs[1:]:
            pd.testing.assert_frame_equal(first, pd.read_parquet(other / f"{table}.parquet"), check_exact=True)
    manifest = json.loads((runs[2] / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1] and manifest["backend"] == "dask" and "mesa" in manifest["packages"]


def test_dask_backend_without_dask_says_how_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    code = main(["run", str(short(tmp_path)), "--out", str(tmp_path / "o"), "--backend", "dask"])
    assert code == 2 and "pip install" in capsys.readouterr().err


@pytest.mark.slow
def test_killed_run_resumes_without_duplicate_or_missing_seeds(tmp_path):
    config = write(tmp_path, "resume.toml", extends_baseline("[simulation]\nmonths = 30\nseeds = 4\n"))
    out = tmp_path / "run"
    command = [sys.executable, "-m", "experiments.cli", "run", str(config), "--out", str(out), "--workers", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seeds_dir = tmp_path / "run.partial" / "seeds"
    deadline = time.time() + 240

    def a_seed_stored():
        return seeds_dir.exists() and any(p.name.startswith("seed-") for p in seeds_dir.iterdir())

    while time.time() < deadline and not a_seed_stored():
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill the runner mid-ensemble
    proc.wait()
    stored = sorted(p.name for p in seeds_dir.iterdir() if p.name.startswith("seed-"))
    assert 1 <= len(stored) < 4, stored
    assert not out.exists()  # nothing that looks complete
    assert main(["run", str(config), "--out", str(out), "--workers", "2"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["seeds"] == [0, 1, 2, 3]
    assert set(manifest["resumed_seeds"]) >= {int(name.split("-")[1]) for name in stored}
    assert sorted(p.name for p in (out / "seeds").iterdir()) == ["seed-0000", "seed-0001", "seed-0002", "seed-0003"]
    model = pd.read_parquet(out / "model_monthly.parquet")
    assert model.groupby("seed").size().to_dict() == {0: 30, 1: 30, 2: 30, 3: 30}
    assert not (tmp_path / "run.partial").exists()


@pytest.mark.slow
def test_compare_intervals_exclude_zero_for_a_large_effect_and_include_it_for_an_identical_pair(tmp_path, capsys):
    base = write(tmp_path, "base.toml", extends_baseline("[simulation]\nmonths = 36\nseeds = 3\n"))
    same = write(tmp_path, "same.toml", f'extends = "{base}"\n')
    shortage = write(tmp_path, "shortage.toml", f'extends = "{base}"\n[market]\ncapacity_scale = 0.4\n')
    out = tmp_path / "cmp"
    assert main(["compare", str(base), str(same), str(shortage), "--out", str(out)]) == 0
    capsys.readouterr()
    table = pd.read_csv(out / "comparison.csv").set_index(["scenario", "metric"])
    assert table.loc[("shortage", "leader_gross_margin_mean"), "excludes_zero"]
    assert table.loc[("shortage", "usd_per_million_tokens_final"), "difference"] > 0
    identical = table.loc["same"]
    # a 36-month run is too short for the venture figures judged at a fixed age (6 and 8 years): those have no
    # interval; every figure that has one holds zero
    defined = identical.dropna(subset=["p05", "p95"])
    assert len(defined) > 10 and ((defined["p05"] <= 0) & (defined["p95"] >= 0)).all()
    assert identical.loc[identical["p05"].isna()].index.str.contains("deal|fund|tvpi|alpha|centrality|persist"
                                                                       "|top|xmin|power|judged|realised|marked|"
                                                                       "called|exit").all()
    assert (out / "comparison.png").stat().st_size > 0


@pytest.mark.slow
def test_sweep_runs_one_row_per_point(tmp_path, capsys):
    config = write(tmp_path, "sweep.toml", extends_baseline("[simulation]\nmonths = 12\nseeds = 1\n"))
    out = tmp_path / "sweep"
    assert main(["sweep", str(config), "--set", "choice.switching_cost=0.0,3.5", "--out", str(out), "--workers",
                 "1"]) == 0
    capsys.readouterr()
    rows = pd.read_csv(out / "sweep.csv")
    assert list(rows["choice.switching_cost"]) == [0.0, 3.5] and "leader_revenue_share_y1" in rows
    assert main(["sweep", str(config), "--set", "choice.switching_cost=-1", "--out", str(tmp_path / "s2")]) == 2
    assert "--set choice.switching_cost=-1: must be >= 0" in capsys.readouterr().err  # the flag, not the config file


@pytest.mark.slow
def test_report_regenerates_figures(tmp_path, capsys):
    out = tmp_path / "run"
    config = write(tmp_path, "one.toml", extends_baseline("[simulation]\nmonths = 12\nseeds = 1\n"))
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0
    (out / "figures" / "hhi.png").unlink()
    assert main(["report", str(out)]) == 0
    assert (out / "figures" / "hhi.png").exists()
    summary = json.loads((out / "summary.json").read_text())
    for name in ("leader_revenue_share_y1", "leader_revenue_share_final", "leader_gross_margin_mean",
                 "challenger_gross_margin_mean", "hhi_revenue_final", "usd_per_million_tokens_final",
                 "deals_below_1x_share", "deals_10x_plus_share", "top5pct_deal_return_share", "powerlaw_alpha",
                 "powerlaw_vs_lognormal_loglik_ratio", "syndicated_round_share", "centrality_return_spearman",
                 "funded_startups", "exits"):
        assert set(summary["metrics"][name]) == {"mean", "p05", "p95"}, name
    capsys.readouterr()
    assert main(["report", str(tmp_path / "nothing")]) == 2


def test_a_short_runs_summary_says_which_metric_windows_coincide():
    """12 months: first and last 12 months are the same months, and the first 36 months are the whole run; 18 months:
    they share 6; 36 months: only the boom window is the whole run; 120 months: nothing to say."""
    from experiments.market_report import short_run_note

    assert "are the same 12 months" in short_run_note(12) and "cover the whole run" in short_run_note(12)
    assert "share 6 months" in short_run_note(18)
    assert "first 12 months" not in short_run_note(36) and "cover the whole run" in short_run_note(36)
    assert short_run_note(37) == "" and short_run_note(120) == ""
