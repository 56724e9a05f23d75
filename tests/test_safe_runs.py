"""A user's files are never lost or mislabelled: run directories, refusals, errors, interrupts, locks.

Each test reproduces a case that once destroyed data or returned wrong results (issue 8) and asserts
the fix. Runs are a few months long with one or two seeds, so the file logic, not the model, dominates.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from serving import popen_as_at_a_terminal

from experiments.cli import build_parser, main
from hardware_catalog import DATA_DIR
from market.config import fitted_config

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "experiments" / "configs" / "baseline.toml"
CLI = [sys.executable, "-m", "experiments.cli"]


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_bytes(body.encode()) if isinstance(body, str) else path.write_bytes(body)
    return path


def tiny(folder: Path, name: str = "tiny.toml", months: int = 3, seeds: int = 1, extra: str = "") -> Path:
    return write(folder, name, f'extends = "{BASELINE}"\n[simulation]\nmonths = {months}\nseeds = {seeds}\n{extra}')


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below `folder` with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(tmp_path: Path, name: str = "mine") -> Path:
    folder = tmp_path / name
    (folder / "sub").mkdir(parents=True)
    (folder / "thesis.tex").write_text("years of work\n")
    (folder / "sub" / "data.csv").write_text("a,b\n1,2\n")
    return folder


def one_line_error(capsys, code: int, expected: str, exit_code: int = 2) -> str:
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == exit_code, err
    assert last.startswith("compute-market: error:") and expected in last, err
    assert "Traceback" not in err
    return last


def interrupt_after_first_seed(monkeypatch):
    """Make the runner store one seed and then stop as Ctrl-C would; returns the real seed function (to restore)."""
    import experiments.runner as runner

    original, calls = runner.run_seed_to_dir, []

    def interrupt_after_first(*args):
        if calls:
            raise KeyboardInterrupt
        calls.append(args[2])
        return original(*args)

    monkeypatch.setattr(runner, "run_seed_to_dir", interrupt_after_first)
    return original


def metrics(run_dir: Path) -> str:
    """A run's headline metrics as canonical JSON text (so NaN equals NaN when comparing runs)."""
    return json.dumps(json.loads((run_dir / "summary.json").read_text())["metrics"], sort_keys=True)


def mean_of(run_metrics: str, name: str) -> float:
    return json.loads(run_metrics)[name]["mean"]


# --- never delete or overwrite what the tool did not make ----------------------------------------


@pytest.mark.parametrize("argv", [["run", "{config}", "--workers", "1", "--out", "{dir}"],
                                  ["hardware-report", "--out", "{dir}"],
                                  ["compare", "{config}", "--workers", "1", "--out", "{dir}"],
                                  ["sweep", "{config}", "--set", "choice.switching_cost=1", "--workers", "1", "--out",
                                   "{dir}"]],
                         ids=["run", "hardware-report", "compare", "sweep"])
def test_out_that_is_a_users_folder_is_refused_and_left_byte_for_byte(tmp_path, capsys, argv):
    folder = user_folder(tmp_path)
    before = snapshot(folder)
    config = tiny(tmp_path)
    code = main([a.format(config=config, dir=folder) for a in argv])
    one_line_error(capsys, code,
                   "not made by compute-market" if argv[0] != "run" else "not a compute-market run directory")
    assert snapshot(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "tiny.toml"]  # no .partial, no temporary


def test_hardware_report_out_dot_leaves_the_working_directory_alone(tmp_path, capsys, monkeypatch):
    folder = user_folder(tmp_path)
    before = snapshot(folder)
    monkeypatch.chdir(folder)
    one_line_error(capsys, main(["hardware-report", "--out", "."]), "not made by compute-market")
    assert snapshot(folder) == before


@pytest.mark.slow
def test_hardware_report_replaces_its_own_report_but_not_one_holding_user_files(tmp_path, capsys):
    out = tmp_path / "hw"
    assert main(["hardware-report", "--out", str(out)]) == 0
    assert main(["hardware-report", "--out", str(out)]) == 0  # its own folder: replaced atomically
    (out / "my-notes.md").write_text("mine\n")
    capsys.readouterr()
    one_line_error(capsys, main(["hardware-report", "--out", str(out)]), "my-notes.md")
    assert (out / "my-notes.md").read_text() == "mine\n"


def test_out_that_is_a_file_is_refused_before_any_computation(tmp_path, capsys, monkeypatch):
    import experiments.runner as runner

    calls = []
    monkeypatch.setattr(runner, "run_seed", lambda *a, **k: calls.append(a))
    target = write(tmp_path, "results.txt", "keep me\n")
    one_line_error(capsys, main(["run", str(tiny(tmp_path)), "--out", str(target), "--workers", "1"]),
                   "is a file, not a folder")
    assert calls == [] and target.read_text() == "keep me\n"


@pytest.mark.slow
def test_an_empty_folder_is_used_as_asked(tmp_path, capsys):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--workers", "1"]) == 0
    assert (out / "summary.json").exists() and (out / ".compute-market.json").exists()


# --- a run directory knows what it holds ---------------------------------------------------------


@pytest.mark.slow
def test_default_out_holding_a_different_run_gets_a_numbered_folder_and_the_first_is_kept(tmp_path, capsys,
                                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = tiny(tmp_path, seeds=2)
    assert main(["run", str(config), "--workers", "1"]) == 0
    first = tmp_path / "results" / "tiny"
    before = snapshot(first)
    capsys.readouterr()
    assert main(["run", str(config), "--seed", "5", "--months", "2", "--workers", "1"]) == 0
    err = capsys.readouterr().err
    assert "results/tiny holds a different run" in err and "results/tiny-2" in err
    assert snapshot(first) == before
    assert json.loads((tmp_path / "results" / "tiny-2" / "summary.json").read_text())["seeds"] == [5]
    # asking again for either run reuses it, wherever it is
    assert main(["run", str(config), "--seed", "5", "--months", "2", "--workers", "1"]) == 0
    assert "reusing the stored run in" in capsys.readouterr().err
    assert not (tmp_path / "results" / "tiny-3").exists()


@pytest.mark.slow
def test_another_scenario_into_a_run_directory_is_refused_and_force_replaces_it(tmp_path, capsys):
    out = tmp_path / "run"
    base = tiny(tmp_path)
    shortage = tiny(tmp_path, "shortage.toml", extra="[market]\ncapacity_scale = 0.5\n")
    assert main(["run", str(base), "--out", str(out), "--workers", "1"]) == 0
    before = snapshot(out)
    capsys.readouterr()
    last = one_line_error(capsys, main(["run", str(shortage), "--out", str(out), "--workers", "1"]),
                          "holds a run of different inputs")
    assert "supply.capacity_scale 1.0 -> 0.5" in last and "--force" in last
    assert snapshot(out) == before
    assert main(["run", str(shortage), "--out", str(out), "--workers", "1", "--force"]) == 0
    assert json.loads((out / "manifest.json").read_text())["config"]["market"]["supply"]["capacity_scale"] == 0.5


@pytest.mark.slow
def test_force_never_deletes_a_file_the_user_put_in_a_run_directory(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--workers", "1"]) == 0
    (out / "analysis.ipynb").write_text("{}")
    capsys.readouterr()
    code = main(["run", str(tiny(tmp_path, "other.toml", months=2)), "--out", str(out), "--workers", "1", "--force"])
    one_line_error(capsys, code, "analysis.ipynb")
    assert (out / "analysis.ipynb").read_text() == "{}"


@pytest.mark.slow
def test_an_edited_config_is_never_served_the_stored_run(tmp_path, capsys):
    config = tiny(tmp_path)
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0
    config.write_text(config.read_text() + "[market]\nswitching_cost = 0.0\n")
    capsys.readouterr()
    last = one_line_error(capsys, main(["run", str(config), "--out", str(out), "--workers", "1"]), "different inputs")
    assert f"choice.switching_cost {fitted_config().choice.switching_cost!r} -> 0.0" in last


@pytest.mark.slow
def test_catalog_dir_is_honoured_by_run_and_is_part_of_the_fingerprint(tmp_path, capsys):
    config = tiny(tmp_path, seeds=1)
    same = tmp_path / "same-catalog"
    shutil.copytree(DATA_DIR, same)
    cheap = tmp_path / "cheap-catalog"
    shutil.copytree(DATA_DIR, cheap)
    path = cheap / "accelerators.toml"
    text = path.read_text()
    assert "hbm_tbps = 3.35" in text
    path.write_text(text.replace("hbm_tbps = 3.35", "hbm_tbps = 0.5", 1))  # an H100 with a fraction of its bandwidth
    out = tmp_path / "run"
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    # the same contents from another folder: the stored run is the right answer
    assert main(["--catalog-dir", str(same), "run", str(config), "--out", str(out), "--workers", "1"]) == 0
    assert "reusing the stored run" in capsys.readouterr().err
    # other contents: refused into the same folder, and a fresh run gives other numbers
    one_line_error(capsys, main(["--catalog-dir", str(cheap), "run", str(config), "--out", str(out), "--workers", "1"]),
                   "catalog contents changed")
    assert main(["--catalog-dir", str(cheap), "run", str(config), "--out", str(tmp_path / "cheap"), "--workers",
                 "1"]) == 0
    assert metrics(tmp_path / "cheap") != metrics(out)
    assert json.loads((tmp_path / "cheap" / "manifest.json").read_text())["catalog"] == str(cheap)


@pytest.mark.slow
def test_resume_with_a_different_config_is_refused_and_the_same_config_resumes(tmp_path, capsys, monkeypatch):
    import experiments.runner as runner

    original = interrupt_after_first_seed(monkeypatch)
    config = tiny(tmp_path, seeds=3)
    out = tmp_path / "run"
    code = main(["run", str(config), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 130
    assert err == (f"compute-market: interrupted: 1/3 seeds stored in {out}.partial; run the same command again to "
                   "resume")
    monkeypatch.setattr(runner, "run_seed_to_dir", original)
    other = tiny(tmp_path, "other.toml", seeds=3,
                 extra='[policy]\ndemand_shock_start = "2023-02"\ndemand_shock_scale = 0.5\n')
    last = one_line_error(capsys, main(["run", str(other), "--out", str(out), "--workers", "1"]),
                          "interrupted run of different inputs")
    assert "demand_shock_scale 1.0 -> 0.5" in last
    assert main(["run", str(config), "--out", str(out), "--workers", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["resumed_seeds"] == [0] and manifest["seeds"] == [0, 1, 2]
    assert not (tmp_path / "run.partial").exists()


# --- sweeps label every row with the values it ran ------------------------------------------------


@pytest.mark.slow
def test_a_second_sweep_into_the_same_folder_labels_rows_with_their_own_values(tmp_path, capsys):
    config = tiny(tmp_path, months=2)
    out = tmp_path / "sweep"
    assert main(["sweep", str(config), "--set", "choice.switching_cost=0.0,3.5", "--out", str(out), "--workers",
                 "1"]) == 0
    assert main(["sweep", str(config), "--set", "choice.switching_cost=1.0,3.5", "--out", str(out), "--workers",
                 "1"]) == 0
    capsys.readouterr()
    rows = pd.read_csv(out / "sweep.csv")
    assert list(rows["choice.switching_cost"]) == [1.0, 3.5]
    for row in rows.itertuples():
        clean = tmp_path / f"clean-{row[1]}"
        point = tiny(tmp_path, f"p{row[1]}.toml", months=2, extra=f"[market]\nswitching_cost = {row[1]}\n")
        assert main(["run", str(point), "--out", str(clean), "--workers", "1"]) == 0
        assert row.leader_revenue_share_y1 == mean_of(metrics(clean), "leader_revenue_share_y1")
    assert len(list(out.glob("point-*"))) == 3  # 0.0, 1.0 and 3.5: the shared point was reused, not rerun


def test_sweep_set_and_flag_for_the_same_key_are_rejected(tmp_path, capsys):
    config = tiny(tmp_path)
    code = main(["sweep", str(config), "--set", "simulation.months=12,24", "--months", "12", "--out",
                 str(tmp_path / "s")])
    one_line_error(capsys, code, "--set simulation.months and --months both set the same thing")
    assert not (tmp_path / "s").exists()


@pytest.mark.slow
def test_sweep_over_seeds_runs_each_points_own_seeds(tmp_path, capsys):
    config = tiny(tmp_path, months=2)
    out = tmp_path / "s"
    assert main(["sweep", str(config), "--set", "simulation.seeds=1,2", "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    rows = pd.read_csv(out / "sweep.csv")
    seeds = [json.loads((out / d / "summary.json").read_text())["seeds"] for d in rows.run_dir]
    assert seeds == [[0], [0, 1]]


# --- one exit path for errors ---------------------------------------------------------------------


def _deep_chain(folder: Path, depth: int) -> Path:
    write(folder, "c0.toml", f'extends = "{BASELINE}"\n')
    for i in range(1, depth):
        write(folder, f"c{i}.toml", f'extends = "c{i - 1}.toml"\n')
    return folder / f"c{depth - 1}.toml"


BAD_INPUTS = {
    "binary config": (lambda t: write(t, "bin.toml", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"), "not a UTF-8 text file"),
    "NUL bytes": (lambda t: write(t, "nul.toml", b"[simulation]\x00\n"), "not a text file"),
    "folder as config": (lambda t: (t / "cfg").mkdir() or t / "cfg", "is a folder, not a config file"),
    "deep extends": (lambda t: _deep_chain(t, 60), "chain deeper than 32"),
    "budget 1e308": (lambda t: tiny(t, extra="[market]\nstart_budget_usd = 1e308\n"),
                     "market.start_budget_usd: must be <= 1e+15"),
    "zero budget share": (lambda t: tiny(t,
                                         extra='[[hyperscalers]]\nid = "x"\nname = "X"\nbudget_share = '
                                               '0.0\ninternal_share = 0.5\n'),
                          "hyperscalers: every budget_share is 0"),
    "start 9999": (lambda t: write(t, "late.toml",
                                   f'extends = "{BASELINE}"\n[simulation]\nstart = "9999-01"\nmonths = 3\n'),
                   "simulation.start: must be between"),
    "start before any chip": (lambda t: write(t, "early.toml",
                                              f'extends = "{BASELINE}"\n[simulation]\nstart = "2020-01"\nmonths = 3\n'),
                              "no merchant chip is on the market at 2020-01"),
    "unknown disabled vendor": (lambda t: tiny(t, extra='[market]\nvendors_disabled = ["nvidai"]\n'),
                                "market.vendors_disabled[0]: unknown vendor 'nvidai'"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_config_gives_one_line_exit_2_and_writes_nothing(tmp_path, capsys, case):
    make, expected = BAD_INPUTS[case]
    config = make(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    one_line_error(capsys, main(["run", str(config), "--out", str(tmp_path / "out"), "--workers", "1"]), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_bom_prefixed_config_is_read(tmp_path, capsys):
    config = write(tmp_path, "bom.toml", "\ufeff" + f'extends = "{BASELINE}"\n[simulation]\nmonths = 7\n')
    assert main(["validate", str(config)]) == 0
    assert json.loads(capsys.readouterr().out)["market"]["months"] == 7


@pytest.mark.parametrize("argv,expected", [
    (["run", "{config}", "--months", "100000"], "must be at most 1200"),
    (["run", "{config}", "--seeds", "0"], "must be a positive number of seeds"),
    (["run", "{config}", "--workers", "100000"], "must be at most 256"),
    (["sweep", "{config}", "--set", "choice.switching_cost=1", "--set", "choice.switching_cost=2"],
     "given more than once"),
])
def test_flags_have_the_bounds_of_config_keys(tmp_path, capsys, argv, expected):
    config = tiny(tmp_path)
    argv = [a.format(config=config) for a in argv] + ["--out", str(tmp_path / "o")]
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    one_line_error(capsys, code, expected)
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_report_on_damaged_files_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(tiny(tmp_path)), "--out", str(out), "--workers", "1"]) == 0
    seed_table = out / "seeds" / "seed-0000" / "model.parquet"
    seed_table.write_bytes(b"PAR1 this is not parquet")
    capsys.readouterr()
    one_line_error(capsys, main(["report", str(out)]), "damaged (seeds/seed-0000/model.parquet missing or changed")
    (out / "manifest.json").write_text("{ not json")
    one_line_error(capsys, main(["report", str(out)]), "manifest.json: missing or damaged")
    one_line_error(capsys, main(["report", str(tmp_path)]), "not a finished compute-market run")


@pytest.mark.slow
def test_unreachable_dask_scheduler_is_a_one_line_error(tmp_path, capsys):
    pytest.importorskip("distributed")
    code = main(["run", str(tiny(tmp_path)), "--out", str(tmp_path / "o"), "--backend", "dask", "--scheduler",
                 "tcp://127.0.0.1:9"])
    one_line_error(capsys, code, "cannot reach a Dask scheduler there")
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


@pytest.mark.slow
def test_unwritable_out_is_a_one_line_error_before_computing(tmp_path):
    proc = subprocess.run([*CLI, "run", str(tiny(tmp_path)), "--out", "/proc/compute-market-test/run", "--workers",
                           "1"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr and "/proc" in proc.stderr


@pytest.mark.slow
def test_output_piped_into_head_ends_quietly():
    proc = subprocess.run(f"{sys.executable} -m experiments.cli catalog --json | head -c 20 >/dev/null; "
                          f"{sys.executable} -m experiments.cli roofline --chip h100-sxm --model llama-2-7b --phase "
                          "decode "
                          f"| head -n 1 >/dev/null; "
                          f"set -o pipefail; {sys.executable} -m experiments.cli catalog --json | head -c 20 "
                          ">/dev/null",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, cwd=ROOT)
    assert proc.stderr == "", proc.stderr  # no traceback, no "Exception ignored", nothing to alarm anyone
    assert proc.returncode in (0, 141)  # 141 (SIGPIPE status) when the reader left before all was written


def test_every_subcommand_has_help_with_every_option_explained(capsys):
    parser = build_parser()
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["--help"])
    assert exc.value.code == 0
    subparsers = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subparsers) >= {"run", "compare", "sweep", "report", "show", "validate", "catalog", "roofline",
                               "calibration", "hardware-report"}
    for name, sub in subparsers.items():
        with pytest.raises(SystemExit) as exc:
            sub.parse_args(["--help"])
        assert exc.value.code == 0, name
        for action in sub._actions:
            assert action.help, f"{name} {action.dest}: no help"
    capsys.readouterr()


@pytest.mark.slow
def test_compare_with_few_seeds_warns_and_stars_nothing(tmp_path, capsys):
    base = tiny(tmp_path, "base.toml", months=12, seeds=2)
    shortage = write(tmp_path, "short.toml", f'extends = "{base}"\n[market]\ncapacity_scale = 0.3\n')
    assert main(["compare", str(base), str(shortage), "--out", str(tmp_path / "cmp"), "--workers", "1"]) == 0
    out, err = capsys.readouterr()
    assert "warning: only 2 paired seed(s)" in err
    rows = [line for line in out.splitlines() if line.startswith("short ")]
    assert rows and not any(line.rstrip().endswith("*") for line in rows)
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert not table.significant.any() and table.excludes_zero.any()


# --- interrupts and concurrent runs (real processes) ----------------------------------------------


def _wait_for(predicate, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not predicate():
        time.sleep(0.1)


@pytest.mark.slow
def test_ctrl_c_leaves_a_resumable_run_and_says_so(tmp_path):
    config = tiny(tmp_path, months=24, seeds=4)
    out = tmp_path / "run"
    proc = popen_as_at_a_terminal([*CLI, "run", str(config), "--out", str(out), "--workers", "2"], cwd=ROOT,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    seeds = tmp_path / "run.partial" / "seeds"
    _wait_for(lambda: seeds.exists() and any(p.name.startswith("seed-") for p in seeds.iterdir()))
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: the signal goes to the whole process group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    lines = err.strip().splitlines()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert lines[-1].startswith("compute-market: interrupted: ") and lines[-1].endswith(
        f"seeds stored in {out}.partial; run the same command again to resume")
    assert not out.exists()
    assert main(["run", str(config), "--out", str(out), "--workers", "2"]) == 0
    assert json.loads((out / "manifest.json").read_text())["resumed_seeds"]


@pytest.mark.slow
def test_a_second_process_on_the_same_out_is_told_and_the_first_finishes(tmp_path):
    config = tiny(tmp_path, months=36, seeds=2)
    out = tmp_path / "run"
    first = subprocess.Popen([*CLI, "run", str(config), "--out", str(out), "--workers", "1"], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _wait_for(lambda: (tmp_path / ".run.compute-market.lock").exists())
    second = subprocess.run([*CLI, "run", str(config), "--out", str(out), "--workers", "1"], cwd=ROOT,
                            capture_output=True, text=True)
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    if second.returncode == 0:  # the first had already finished: the second reused its run
        assert "reusing the stored run" in second.stderr
    else:
        assert second.returncode == 2 and "another compute-market process (PID" in second.stderr
        assert "is writing this run now" in second.stderr
        assert second.stderr.count("\n") == 1
    assert json.loads((out / "summary.json").read_text())["seeds"] == [0, 1]


# --- property: no sequence of commands loses a user's file or mislabels a result ------------------

VARIANTS = {"a": "", "b": "[market]\nswitching_cost = 0.5\n", "c": "[market]\ncapacity_scale = 0.5\n"}
OPS = st.lists(st.tuples(st.sampled_from(["run", "run", "interrupt", "sweep", "force"]),
                         st.sampled_from(sorted(VARIANTS)), st.sampled_from(["d1", "d2", "user"])),
               min_size=2, max_size=4)


@pytest.mark.slow
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(OPS)
@example(ops=[("sweep", "a", "d1"), ("run", "a", "d1")])  # a sweep point at the default, then a run of it
def test_random_command_sequences_never_lose_files_or_mislabel_results(tmp_path_factory, capsys, monkeypatch, ops):
    import experiments.runner as runner

    root = tmp_path_factory.mktemp("prop")
    clean = _clean_runs(tmp_path_factory)
    user = user_folder(root, "user")
    before = snapshot(user)
    configs = {k: tiny(root, f"{k}.toml", months=2, seeds=2, extra=v) for k, v in VARIANTS.items()}
    original = runner.run_seed_to_dir
    for op, variant, target in ops:
        out = root / target
        if op == "interrupt":
            def stop(*args):
                raise KeyboardInterrupt
            monkeypatch.setattr(runner, "run_seed_to_dir", stop)
        argv = ["run", str(configs[variant]), "--out", str(out), "--workers", "1"]
        if op == "force":
            argv.append("--force")
        if op == "sweep":
            default = fitted_config().choice.switching_cost  # variant "a" runs with the default (fitted) switching cost
            argv = ["sweep", str(configs["a"]), "--set", f"choice.switching_cost={default if variant == 'a' else 0.5}",
                    "--out", str(out), "--workers", "1"]
        code = main(argv)
        monkeypatch.setattr(runner, "run_seed_to_dir", original)
        capsys.readouterr()
        assert code in (0, 2, 130)
        if code == 0 and op != "sweep":
            stored = json.loads((out / "manifest.json").read_text())["config"]["market"]
            label = ("b" if stored["choice"]["switching_cost"] == 0.5
                     else "c" if stored["supply"]["capacity_scale"] == 0.5 else "a")
            assert label == variant
            assert metrics(out) == clean[variant]
        if code == 0 and op == "sweep":
            for row in pd.read_csv(out / "sweep.csv").itertuples():
                expected = "a" if row[1] == fitted_config().choice.switching_cost else "b"
                assert row.leader_revenue_share_y1 == mean_of(clean[expected], "leader_revenue_share_y1")
        assert snapshot(user) == before


_CLEAN: dict = {}


def _clean_runs(factory) -> dict:
    """Metrics of a clean run of each variant (computed once per test session)."""
    if not _CLEAN:
        folder = factory.mktemp("clean")
        for key, extra in VARIANTS.items():
            out = folder / key
            assert main(["run", str(tiny(folder, f"{key}.toml", months=2, seeds=2, extra=extra)), "--out", str(out),
                         "--workers", "1"]) == 0
            _CLEAN[key] = metrics(out)
    return _CLEAN
