"""Config inputs that are not TOML files, and numbers the model cannot compute with (issue 22).

A config (or an `extends` target) must be a regular local file of bounded size: a device, a pipe, standard input
or a URL is refused with one line naming the file, before anything is read from it (a pipe is never opened, so
nothing hangs). Numbers so large or small that the model's arithmetic overflows are refused at load time with
the dotted field named. Each case fails with one line, exit 2, and writes nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.cli import main
from experiments.config import MAX_CONFIG_BYTES, load_experiment

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "experiments" / "configs" / "baseline.toml"
CLI = [sys.executable, "-m", "experiments.cli"]
HANG_GUARD_S = 60  # a subprocess still running after this is a hang: the test fails instead of blocking


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(body)
    return path


def tiny(folder: Path, extra: str = "", name: str = "tiny.toml") -> Path:
    """A 3-month, 1-seed config extending the baseline, with `extra` TOML appended."""
    return write(folder, name, f'extends = "{BASELINE}"\n[simulation]\nmonths = 3\nseeds = 1\n{extra}')


def one_line_error(capsys, code: int, expected: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("compute-market: error:") and expected in lines[0], err
    return lines[0]


def run_refused(tmp_path: Path, capsys, config: Path | str, expected: str) -> str:
    """`run` on `config` is one line naming `expected`, exit 2, and no output folder is made."""
    out = tmp_path / "out"
    line = one_line_error(capsys, main(["run", str(config), "--out", str(out), "--workers", "1"]), expected)
    assert not out.exists()
    return line


def cli(args: list[str], stdin=None, shell: str | None = None) -> subprocess.CompletedProcess:
    """The CLI in a subprocess with this tree first on the path, bounded by HANG_GUARD_S."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    command = shell if shell is not None else [*CLI, *args]
    return subprocess.run(command, stdin=stdin, capture_output=True, text=True, timeout=HANG_GUARD_S, env=env,
                          cwd=ROOT, shell=shell is not None, executable="/bin/bash" if shell else None)


def assert_one_line_exit_2(result: subprocess.CompletedProcess, *expected: str) -> None:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("compute-market: error:"), result.stderr
    for text in expected:
        assert text in lines[0], result.stderr


# --- files that are not regular files ------------------------------------------------------------------


def test_extends_dev_zero_is_refused_without_reading_it(tmp_path, capsys):
    config = tiny(tmp_path, name="z.toml").read_text().replace(str(BASELINE), "/dev/zero")
    path = write(tmp_path, "z.toml", config)
    line = run_refused(tmp_path, capsys, path, f"{path}: extends: /dev/zero is not a regular file")
    assert "a device" in line and "give a path to a TOML file" in line


@pytest.mark.slow
def test_fifo_as_config_is_refused_and_never_opened(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    result = cli(["run", str(fifo), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert_one_line_exit_2(result, f"{fifo}: is a pipe, not a file", "save the config to a .toml file")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_fifo_as_extends_target_is_refused_and_never_opened(tmp_path):
    os.mkfifo(tmp_path / "base.toml")
    config = write(tmp_path, "child.toml", 'extends = "base.toml"\n[simulation]\nmonths = 3\n')
    result = cli(["validate", str(config)])
    assert_one_line_exit_2(result, f"{config}: extends: {tmp_path / 'base.toml'} is not a regular file (it is a pipe)")


def test_oversized_config_is_refused_naming_the_bound(tmp_path, capsys):
    path = tiny(tmp_path, extra="# padding\n" + "#" * MAX_CONFIG_BYTES + "\n")
    run_refused(tmp_path, capsys, path, f"{path}: is {path.stat().st_size} bytes, over the 1 MiB")


def test_oversized_extends_target_is_refused(tmp_path, capsys):
    base = write(tmp_path, "base.toml", BASELINE.read_text() + "#" * (MAX_CONFIG_BYTES + 1) + "\n")
    config = write(tmp_path, "child.toml", 'extends = "base.toml"\n')
    run_refused(tmp_path, capsys, config, f"{config}: extends: {base} is {base.stat().st_size} bytes")


@pytest.mark.slow
def test_config_from_standard_input_is_refused(tmp_path):
    with open(tiny(tmp_path), "rb") as stdin:
        result = cli(["validate", "/dev/stdin"], stdin=stdin)
    assert_one_line_exit_2(result, "/dev/stdin: is standard input or a pipe, not a file",
                           "save the config to a .toml file and pass its path")
    assert "/proc/" not in result.stderr


def test_config_from_a_shell_pipe_is_refused(tmp_path):
    config = tiny(tmp_path)
    result = cli([], shell=f"{sys.executable} -m experiments.cli validate <(cat '{config}')")
    assert_one_line_exit_2(result, "is standard input or a pipe, not a file")
    assert "pipe:[" not in result.stderr


@pytest.mark.parametrize("url", ["https://example.com/baseline.toml", "http://example.com/b.toml",
                                 "file:///etc/baseline.toml", "s3://bucket/baseline.toml"])
def test_url_extends_is_refused_as_a_url(tmp_path, capsys, url):
    config = write(tmp_path, "child.toml", f'extends = "{url}"\n')
    line = run_refused(tmp_path, capsys, config, f"{config}: extends: must be a path to a local TOML file "
                                                 f"(relative to this file), not a URL: '{url}'")
    assert "file not found" not in line


def test_a_baseline_derived_config_still_loads(tmp_path, capsys):
    config = tiny(tmp_path, extra="[market]\nprice_sensitivity = 4.0\nswitching_cost = 2.0\n")
    experiment = load_experiment(config)
    assert experiment.market.choice.price_sensitivity == 4.0 and experiment.market.months == 3
    assert main(["validate", str(config)]) == 0
    assert capsys.readouterr().err.strip() == f"{config}: valid"


# --- numbers the model cannot compute with -----------------------------------------------------------------

# Values that once made NaN metrics, numpy RuntimeWarnings or a crash (a scan of every numeric field at 1e300,
# 1e-300 and 1e6), with the words of the refusal.
EXTREME = [
    ("market", "price_sensitivity", 1e300, "must be <= 100"),
    ("market", "switching_cost", 1e300, "must be <= 100"),
    ("market", "capacity_scale", 1e300, "must be at most 1e+06 in magnitude"),
    ("market", "demand_elasticity", 1e-300, "must be at least 1e-09 in magnitude"),
    ("market", "start_budget_usd", 1e-300, "must be at least 1e-09 in magnitude"),
    ("market", "capex_adjustment_months", 1e-300, "must be at least 1e-09 in magnitude"),
    ("market", "capex_response", 1e6, "must be in [0, 1]"),
    ("market", "demand_elasticity", 1e6, "must be <= 10"),
    ("market", "lab_revenue_elasticity", 1e6, "must be <= 10"),
    ("market", "lab_adoption_elasticity", 1e6, "must be <= 10"),
    ("venture", "growth_volatility", 1e300, "must be <= 10"),
    ("venture", "quality_sigma", 1e6, "must be <= 10"),
    ("venture", "growth_drift", -1e300, "must be >= -1"),
    ("venture", "rate_premium", 1e6, "must be <= 0.5"),
    ("venture", "lp_pool_usd_per_year", 1e-300, "must be 0 or at least 1e-09 in magnitude"),
    ("policy", "startup_compute_price_scale", 1e300, "must be <= 1000"),
]


@pytest.mark.parametrize(("table", "key", "value", "expected"), EXTREME, ids=[f"{t}.{k}={v:g}" for t, k, v,
                                                                              _ in EXTREME])
def test_extreme_numbers_are_refused_at_load_time_naming_the_field(tmp_path, capsys, table, key, value, expected):
    config = tiny(tmp_path, extra=f"[{table}]\n{key} = {value!r}\n")
    run_refused(tmp_path, capsys, config, f"{config}: {table}.{key}: {expected}")


@pytest.mark.parametrize("config", sorted((ROOT / "experiments" / "configs").glob("*.toml")), ids=lambda p: p.stem)
def test_every_packaged_config_still_loads(config):
    load_experiment(config)


def test_a_nan_metric_after_a_numerical_failure_fails_the_run_in_one_line(tmp_path, capsys, monkeypatch):
    """Were a value that overflows the model to get past the loader (here: its declared range lifted, for the loader
    and the section's own check), the run stops with one line naming the metric, the seed and the input, and stores
    no summary; numpy's warnings are not printed."""
    from experiments import config as config_module
    from market import config as market_config

    declared = config_module.bounds_of
    monkeypatch.setattr(config_module, "bounds_of",
                        lambda cls, name: None if name == "price_sensitivity" else declared(cls, name))
    monkeypatch.setattr(market_config, "check_bounds", lambda section: None)
    config = tiny(tmp_path, extra="[market]\nprice_sensitivity = 1e6\n")
    out = tmp_path / "out"
    code = main(["run", str(config), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    last = err.strip().splitlines()[-1]  # after the run's banner line
    assert last.startswith("compute-market: error: seed 0: metric challenger_gross_margin"), err
    assert "is NaN after a numerical failure" in last and "choice.price_sensitivity" in last, err
    assert "RuntimeWarning" not in err and "Traceback" not in err
    assert not (out / "summary.json").exists()


def test_a_metric_undefined_in_a_short_run_stays_nan_and_the_run_succeeds():
    """In 1 month no VC firm raises a second fund (the starting funds' next raises fall in months 1-36), so quartile
    persistence is undefined (NaN), not a failure."""
    from experiments.market_report import run_seed
    from market.config import fitted_config

    result = run_seed(fitted_config(months=1), 0)
    assert result.metrics["quartile_persistence_top"] != result.metrics["quartile_persistence_top"]  # NaN
    assert not any("numerical warnings" in event for event in result.events)


@pytest.mark.slow
def test_a_run_in_which_no_venture_round_closes_succeeds_with_undefined_shares(tmp_path, capsys):
    """A valid config whose LP pool is too small for any round (once an internal error on the empty deal table):
    the run succeeds, counts zero deals, and leaves the deal shares undefined rather than failing as numerical."""
    import json
    import math

    config = tiny(tmp_path, extra="[venture]\nlp_pool_usd_per_year = 1.0\n")
    out = tmp_path / "out"
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0, capsys.readouterr().err
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert metrics["deals"]["mean"] == 0
    assert math.isnan(metrics["deals_below_1x_share"]["mean"])  # undefined: no deal to share out


# --- region ids ------------------------------------------------------------------------------------------------

HYPERSCALER = '[[hyperscalers]]\nid = "x"\nname = "X"\nbudget_share = 1.0\ninternal_share = 0.5\nregion = "{}"\n'


@pytest.mark.parametrize(("extra", "field", "region"), [
    ('[policy]\nexport_control_regions = ["cn", "mars"]\n', "policy.export_control_regions[1]", "mars"),
    (HYPERSCALER.format("mars"), "hyperscalers[0].region", "mars"),
])
def test_an_unknown_region_is_refused_naming_the_field_and_the_known_ones(tmp_path, capsys, extra, field, region):
    line = run_refused(tmp_path, capsys, tiny(tmp_path, extra), f"tiny.toml: {field}: unknown region '{region}'")
    assert "known regions: cn, eu, us" in line and "case" not in line


@pytest.mark.parametrize(("extra", "field"), [
    ('[policy]\nexport_control_regions = ["CN"]\n', "policy.export_control_regions[0]"),
    (HYPERSCALER.format("CN"), "hyperscalers[0].region"),
])
def test_a_region_in_the_wrong_case_says_only_the_case_differs(tmp_path, capsys, extra, field):
    run_refused(tmp_path, capsys, tiny(tmp_path, extra), f"{field}: unknown region 'CN' (only the case differs: "
                                                         "write 'cn')")


def test_known_regions_load(tmp_path):
    extra = '[policy]\nexport_control_regions = ["cn", "eu"]\n' + HYPERSCALER.format("eu")
    experiment = load_experiment(tiny(tmp_path, extra))
    assert experiment.market.policy.export_control_regions == ("cn", "eu")
    assert experiment.market.hyperscalers[0].region == "eu"


# --- seeds every one of which --seed can re-run --------------------------------------------------------------------

def test_seeds_beyond_the_largest_seed_are_refused_at_load_time(tmp_path, capsys):
    config = write(tmp_path, "late.toml", f'extends = "{BASELINE}"\n[simulation]\nfirst_seed = 2147483647\n'
                                          "seeds = 2\n")
    line = run_refused(tmp_path, capsys, config, "late.toml: simulation.first_seed: with seeds = 2 the last seed "
                                                 "would be 2147483648, beyond 2147483647")
    assert "set first_seed to at most 2147483646" in line


def test_the_largest_seed_itself_loads(tmp_path):
    config = write(tmp_path, "last.toml", f'extends = "{BASELINE}"\n[simulation]\nfirst_seed = 2147483646\n'
                                          "seeds = 2\n")
    assert load_experiment(config).seeds == (2147483646, 2147483647)


def test_a_seeds_flag_beyond_the_largest_seed_is_refused(tmp_path, capsys):
    config = write(tmp_path, "last.toml", f'extends = "{BASELINE}"\n[simulation]\nfirst_seed = 2147483647\n'
                                          "seeds = 1\n")
    out = tmp_path / "out"
    code = main(["run", str(config), "--seeds", "2", "--out", str(out), "--workers", "1"])
    one_line_error(capsys, code, "--seeds 2: counted from the config's first_seed 2147483647, the last seed would "
                                 "be 2147483648")
    assert not out.exists()
