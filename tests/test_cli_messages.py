"""One-line refusals of the command line (issue 22): each bad request fails before anything is written or computed,
naming the option and what to do; and the dashboard's server ends with the command."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from experiments import rundir, sensitivity
from experiments.cli import _parse_set, main

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "experiments" / "configs" / "baseline.toml"


def tiny(folder: Path, name: str = "tiny.toml") -> Path:
    path = folder / name
    path.write_text(f'extends = "{BASELINE}"\n[simulation]\nmonths = 2\nseeds = 1\n')
    return path


def refused(capsys, argv: list[str], *expected: str) -> str:
    """Run the command in process; it must exit 2 with one error line holding every `expected` text."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("compute-market: error:"), err
    for text in expected:
        assert text in err, err
    return err


SENSITIVITY = ["--seeds", "1", "--trajectories", "2", "--workers", "1"]


# ------------------------------------------------------------------------------------------ 1. sensitivity

def test_sensitivity_refuses_a_param_that_months_also_sets(capsys, tmp_path):
    out = tmp_path / "sens"
    refused(capsys, ["sensitivity", BASELINE, "--param", "simulation.months=3:9", "--param",
                     "choice.switching_cost=4:12",
                     "--months", "2", *SENSITIVITY, "--out", out], "--param simulation.months and --months")
    assert not out.exists()


@pytest.mark.parametrize("param, expected", [
    ("simulation.first_seed=0:5", "vary them with --seeds"),
    ("simulation.seeds=1:4", "vary them with --seeds"),
    ("simulation.start=1:2", "simulation.start: a text value"),
    ("venture.enabled=0:1", "venture.enabled: a switch"),
    ("policy.export_control_regions=0:1", "policy.export_control_regions: a list"),
    ("policy.price_cap_vendor=0:1", "policy.price_cap_vendor: a text value"),
    ("hyperscalers.budget_share=0:1", "[[hyperscalers]] is an array of tables"),
    ("supply.supply_lead_time_months=1:1.4", "rounds to the single value 1"),
])
def test_sensitivity_refuses_keys_that_cannot_vary_continuously(capsys, tmp_path, param, expected):
    out = tmp_path / "sens"
    refused(capsys, ["sensitivity", BASELINE, "--param", param, "--param", "choice.switching_cost=4:12",
                     "--months", "2", *SENSITIVITY, "--out", out], expected, "--param")
    assert not out.exists()


@pytest.mark.slow
def test_sensitivity_records_the_rounded_values_and_recovers_from_a_damaged_design(capsys, tmp_path):
    out = tmp_path / "sens"
    argv = ["sensitivity", str(BASELINE), "--param", "supply.supply_lead_time_months=0:2", "--param",
            "choice.switching_cost=4:12", "--months", "2", *SENSITIVITY, "--out", str(out)]
    assert main(argv) == 0
    points = pd.read_csv(out / "points.csv")
    lead = points["supply.supply_lead_time_months"]
    asked = sensitivity.design("morris", [sensitivity.Parameter("supply.supply_lead_time_months", 0, 2),
                                          sensitivity.Parameter("choice.switching_cost", 4, 12)], 2)[:, 0]
    assert (asked != asked.round()).any()  # the design asks for levels 2/3 and 4/3 ...
    assert list(lead) == [round(v) for v in asked]  # ... which ran, and are recorded, as 1
    assert "rounded to whole numbers" in (out / "summary.md").read_text()
    capsys.readouterr()

    (out / "design.json").write_text("{damaged")
    before = sorted((out / "points").iterdir())
    refused(capsys, argv, "design.json is damaged", "--force")
    assert sorted((out / "points").iterdir()) == before  # nothing discarded without --force
    assert main([*argv, "--force"]) == 0
    assert "already stored" not in capsys.readouterr().err  # recomputed
    assert json.loads((out / "design.json").read_text())["method"] == "morris"


# ------------------------------------------------------------------------------------------ 2. sweep lists

def test_set_values_keep_toml_arrays_and_quoted_commas_whole():
    assert _parse_set('policy.export_control_regions=["cn","ru"],[],["cn"]') == (
        "policy.export_control_regions", [["cn", "ru"], [], ["cn"]])
    assert _parse_set('x.y="a,b", c ,3.5') == ("x.y", ["a,b", "c", 3.5])
    assert _parse_set(r'x.y="a\",b",c') == ("x.y", ['a",b', "c"])


@pytest.mark.slow
def test_sweep_over_a_list_value(capsys, tmp_path):
    out = tmp_path / "sweep"
    assert main(["sweep", str(tiny(tmp_path)), "--set", 'policy.export_control_regions=["cn","eu"]', "--workers", "1",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "sweep.csv")
    assert len(table) == 1 and table["policy.export_control_regions"][0] == "['cn', 'eu']"


# ------------------------------------------------------------------------------------------ 3., 4. roofline

@pytest.mark.parametrize("argv, expected", [
    (["--chip", ",", "--model", "llama-3-70b", "--phase", "decode"], "--chip: no id given"),
    (["--chip", "h100-sxm", "--model", " , ", "--phase", "decode"], "--model: no id given"),
    (["--chip", ",", "--model", "llama-3-70b", "--plot", "PLOT"], "--chip: no id given"),
])
def test_roofline_refuses_empty_id_lists(capsys, tmp_path, argv, expected):
    argv = [str(tmp_path / "r.png") if a == "PLOT" else a for a in argv]
    refused(capsys, ["roofline", *argv], expected)
    assert not (tmp_path / "r.png").exists()


def test_roofline_names_the_scale_up_limit(capsys):
    refused(capsys, ["roofline", "--chip", "h100-sxm", "--model", "llama-3-70b", "--phase", "decode",
                     "--tensor-parallel", "2147483647"],
            "--tensor-parallel 2147483647: h100-sxm groups at most 8 chips (its scale-up domain); choose 8 or fewer")


# ------------------------------------------------------------------------------------------ 5., 6. backends, workers

@pytest.mark.parametrize("command", ["run", "compare", "sweep", "sensitivity", "validate-model"])
def test_scheduler_needs_the_dask_backend(capsys, tmp_path, command):
    config = tiny(tmp_path)
    extra = {"run": [], "compare": [config], "sweep": ["--set", "choice.switching_cost=1"],
             "sensitivity": ["--param", "choice.switching_cost=4:12"], "validate-model": []}[command]
    out = tmp_path / "out"
    refused(capsys, [command, config, *extra, "--scheduler", "tcp://127.0.0.1:8786", "--out", out],
            "--scheduler needs --backend dask")
    assert not out.exists()


@pytest.mark.slow
def test_workers_are_capped_at_the_seeds_to_compute(capsys, tmp_path, monkeypatch):
    import experiments.runner as runner

    pools = []
    real = runner.worker_pool
    monkeypatch.setattr(runner, "worker_pool", lambda workers: pools.append(workers) or real(workers))
    assert main(["run", str(tiny(tmp_path)), "--workers", "256", "--out", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert "compute-market: note: --workers 256 lowered to 1" in err and "1 workers" in err
    assert pools == []  # one seed runs in this process: no pool of 256 workers


# ------------------------------------------------------------------------------------------ 7. compare names

def test_compare_refuses_a_config_named_like_its_own_files(capsys, tmp_path):
    out = tmp_path / "cmp"
    refused(capsys, ["compare", tiny(tmp_path, "a.toml"), tiny(tmp_path, "comparison.csv.toml"), "--out", out],
            "comparison.csv.toml", "rename the config file")
    refused(capsys, ["compare", tiny(tmp_path, "a.toml"), tiny(tmp_path, "a.partial.toml"), "--out", out],
            "a.partial.toml", ".partial")
    assert not out.exists()


def test_compare_refuses_an_out_that_is_a_config_or_inside_a_run(capsys, tmp_path):
    a, b = tiny(tmp_path, "a.toml"), tiny(tmp_path, "b.toml")
    refused(capsys, ["compare", a, b, "--out", a], f"--out {a}: is a file")
    run = tmp_path / "results" / "a"
    run.mkdir(parents=True)
    rundir.write_marker(run, "run")
    refused(capsys, ["compare", a, b, "--out", run], "holds a compute-market run folder")
    refused(capsys, ["compare", a, b, "--out", run / "a"], "inside the compute-market run folder")
    assert sorted(p.name for p in run.iterdir()) == [rundir.MARKER]


# ------------------------------------------------------------------------------------------ 8. UTF-8 paths

@pytest.mark.parametrize("argv, option", [
    (["run", "CONFIG", "--out", "BAD"], "--out"),
    (["compare", "CONFIG", "CONFIG", "--out", "BAD"], "--out"),
    (["run", "BAD"], "config"),
    (["show", "RUN", "--csv", "BAD"], "--csv"),
    (["roofline", "--chip", "h100-sxm", "--model", "llama-2-7b", "--plot", "BAD"], "--plot"),
])
def test_paths_that_are_not_utf8_are_refused(capsys, tmp_path, argv, option):
    bad = os.fsdecode(str(tmp_path).encode() + b"/r\xff")  # as Python hands such a byte over from argv
    names = {"CONFIG": str(tiny(tmp_path)), "RUN": str(tmp_path), "BAD": bad}
    refused(capsys, [names.get(a, a) for a in argv], f"{option}: the path is not valid UTF-8")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.toml"]


# ------------------------------------------------------------------------------------------ 9. dashboard

@pytest.mark.parametrize("host, expected", [("999.1.1.1", "not a valid address"),
                                            ("192.0.2.1", "not an address of this machine")])
def test_dashboard_tells_a_bad_host_from_a_busy_port(capsys, host, expected):
    err = refused(capsys, ["dashboard", "--host", host, "--port", "8765"], f"--host {host}: {expected}")
    assert "another with --port" not in err


def test_dashboard_names_a_busy_port(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        refused(capsys, ["dashboard", "--port", port], f"--port {port} on 127.0.0.1: already in use")


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL])
def test_the_dashboard_server_ends_with_the_command(tmp_path, sig):
    from serving import free_port, wait_until_serving

    port = free_port()
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([str(REPO), *sys.path])}
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "dashboard", "--port", str(port)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
                            cwd=tmp_path, env=env)
    servers = []
    try:
        wait_until_serving(f"http://127.0.0.1:{port}/", proc)
        servers = children(proc.pid)
        os.kill(proc.pid, sig)  # the command only, as a closed terminal or `kill` would
        deadline = time.time() + 15
        while answers(port) and time.time() < deadline:
            time.sleep(0.3)
        assert not answers(port), "the server kept listening after the command ended"
        _, err = proc.communicate(timeout=30)
    finally:
        for pid in [proc.pid, *servers]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    lines = err.strip().splitlines()
    assert proc.returncode == 0, err
    assert lines[0].startswith("compute-market dashboard: open") and len(lines) == 2, err
    assert lines[1] == (f"compute-market: dashboard stopped ({sig.name}); it wrote nothing; run the same command to "
                        "start it again")


# ------------------------------------------------------------------------------------------ values given by flag

def test_a_bad_set_value_names_the_flag_and_the_value_not_the_config(capsys, tmp_path):
    out = tmp_path / "sweep"
    err = refused(capsys, ["sweep", BASELINE, "--set", "supply.capacity_scale=-1,1", "--out", out],
                  "error: --set supply.capacity_scale=-1: must be > 0")
    assert "baseline.toml" not in err
    assert not out.exists()


def test_a_bad_param_end_names_the_flag_and_the_value_not_the_config(capsys, tmp_path):
    out = tmp_path / "sens"
    err = refused(capsys, ["sensitivity", BASELINE, "--param", "supply.capacity_scale=-1:1", *SENSITIVITY,
                           "--out", out], "error: --param supply.capacity_scale=-1: must be > 0")
    assert "baseline.toml" not in err
    assert not out.exists()


# ------------------------------------------------------------------------------------------ clear messages

def test_a_url_config_is_refused_as_a_url_not_a_missing_file(capsys, tmp_path):
    out = tmp_path / "run"
    err = refused(capsys, ["run", "https://example.com/x.toml", "--out", out],
                  "https://example.com/x.toml: a config must be a local file path (URLs are not fetched)")
    assert "not found" not in err and not out.exists()


def test_a_missing_catalog_dir_is_named_as_the_folder(capsys, tmp_path):
    err = refused(capsys, ["--catalog-dir", tmp_path / "nonexistent", "catalog"],
                  f"--catalog-dir {tmp_path / 'nonexistent'}: the catalog folder does not exist")
    assert "vendors.toml" not in err


def test_catalog_names_the_folder_it_read(capsys, tmp_path):
    import shutil

    copy = tmp_path / "catalog"
    shutil.copytree(REPO / "hardware_catalog" / "data", copy)
    assert main(["--catalog-dir", str(copy), "catalog"]) == 0
    assert f"Sources: {copy / 'accelerators.toml'}" in capsys.readouterr().out


def test_calibrate_history_refuses_a_window_before_printing_anything(capsys):
    code = main(["calibrate-history", "--window-end", "2019-01", "--max-evals", "1"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err == "compute-market: error: fit window end 2019-01: before the model's start 2023-01\n"  # no banner


# ------------------------------------------------------------------------------------------ --debug

def test_debug_adds_the_traceback_but_bad_input_still_exits_2(capsys, tmp_path):
    code = main(["--debug", "run", str(tmp_path / "missing.toml"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("Traceback (most recent call last):") and "ConfigError" in err
    assert err.splitlines()[-1].startswith("compute-market: error: ") and "file not found" in err.splitlines()[-1]
