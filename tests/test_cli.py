"""The compute-market command line: outputs, JSON keys and clean errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from experiments.cli import main
from hardware_catalog import DATA_DIR, load_catalog

BASELINE = DATA_DIR.parents[1] / "experiments" / "configs" / "baseline.toml"

JSON_KEYS = {
    "tokens_per_second", "tokens_per_second_per_chip", "latency_ms", "bound", "chips", "batch",
    "usd_per_million_tokens", "feasible",
}


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_catalog_table_and_json(capsys):
    code, out, _ = run(capsys, "catalog")
    assert code == 0 and "h100-sxm" in out and "989" in out
    code, out, _ = run(capsys, "catalog", "--json")
    records = json.loads(out)
    assert code == 0 and {r["id"] for r in records} >= {"b200", "mi300x", "trainium2"}
    assert all(r["source"] and r["source_date"] for r in records)


@pytest.mark.parametrize("phase", ["train", "prefill", "decode", "serve"])
def test_roofline_json_has_the_documented_keys(capsys, phase):
    code, out, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-2-70b", "--phase", phase,
                       "--precision", "fp8", "--json")
    rec = json.loads(out)
    assert code == 0 and JSON_KEYS <= set(rec)
    assert rec["feasible"] and rec["bound"] in {"compute", "memory", "interconnect"}
    assert rec["tokens_per_second"] == pytest.approx(rec["tokens_per_second_per_chip"] * rec["chips"])
    assert rec["usd_per_million_tokens"] > 0


def test_decode_batch1_70b_on_h100_is_memory_bound_via_cli(capsys):
    _, out, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-2-70b", "--phase", "decode",
                    "--precision", "fp8", "--json")
    assert json.loads(out)["bound"] == "memory"


def test_batch_max_and_tensor_parallel(capsys):
    _, out, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-2-70b", "--phase", "serve",
                    "--batch", "max", "--precision", "fp8", "--tensor-parallel", "4", "--input-tokens", "2048",
                    "--json")
    rec = json.loads(out)
    assert rec["chips"] == 4 and rec["batch"] > 100
    _, out2, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-2-70b", "--phase", "serve",
                     "--batch", "max", "--precision", "fp8", "--tensor-parallel", "8", "--input-tokens", "2048",
                     "--json")
    assert json.loads(out2)["batch"] > rec["batch"]


def test_infeasible_point_is_reported_not_priced(capsys):
    code, out, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-3.1-405b", "--phase", "decode",
                       "--json")
    rec = json.loads(out)
    assert code == 0 and rec["feasible"] is False and rec["usd_per_million_tokens"] is None
    code, out, _ = run(capsys, "roofline", "--chip", "h100-sxm", "--model", "llama-3.1-405b", "--phase", "decode")
    assert "infeasible" in out


def test_human_output(capsys):
    code, out, _ = run(capsys, "roofline", "--chip", "mi300x", "--model", "llama-2-7b", "--phase", "decode")
    assert code == 0 and "bound:" in out and "per million output tokens" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["roofline", "--chip", "h900", "--model", "llama-2-7b", "--phase", "decode"],
         "unknown chip 'h900'; valid: a100-40gb, a100-80gb"),
        (["roofline", "--chip", "h100-sxm", "--model", "gpt-9", "--phase", "decode"], "unknown model 'gpt-9'; valid:"),
        (["roofline", "--chip", "tpu-v5e", "--model", "llama-2-7b", "--phase", "decode", "--precision", "fp8"],
         "chip 'tpu-v5e' has no fp8 rate"),
        (["roofline", "--chip", "h100-sxm", "--model", "llama-2-7b", "--phase", "train", "--batch", "max"],
         "--batch max applies to inference phases"),
        (["roofline", "--chip", "h100-sxm", "--model", "llama-2-7b"], "--phase is required"),
        (["calibration", "--write"], "--write needs --fit"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1 and out == ""


@pytest.mark.parametrize("value", ["0", "-3", "lots"])
def test_bad_batch_is_an_argparse_error(capsys, value):
    with pytest.raises(SystemExit) as exc:
        main(["roofline", "--chip", "h100-sxm", "--model", "llama-2-7b", "--phase", "decode", "--batch", value])
    assert exc.value.code == 2
    assert "--batch" in capsys.readouterr().err


def test_broken_catalog_dir_is_a_clean_error(capsys, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA_DIR, folder)
    path = folder / "accelerators.toml"
    path.write_text(path.read_text().replace("hbm_tbps = 3.35", "hbm_tbps = -1", 1))
    code, out, err = run(capsys, "--catalog-dir", str(folder), "catalog")
    assert code == 2 and "accelerators.toml: accelerator 'h100-sxm': field 'hbm_tbps': must be > 0" in err


def test_plot_writes_a_png(capsys, tmp_path):
    target = tmp_path / "roof.png"
    code, _, _ = run(capsys, "roofline", "--chip", "h100-sxm,mi300x,tpu-v6e", "--model", "llama-2-70b,llama-2-7b",
                     "--plot", str(target))
    assert code == 0 and target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_replaces_only_its_own_chart_never_a_users_file(capsys, tmp_path):
    """--plot at a file the user made (a photo named .png, or a PNG of another program) is refused with one line and
    the file is untouched; a chart the command wrote before is replaced; a symbolic link is never followed."""
    args = ["roofline", "--chip", "h100-sxm", "--model", "llama-2-7b", "--plot"]
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"my photo")
    other = tmp_path / "other.png"
    other.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0\0\0\0IEND" + b"\0" * 4)
    for target in (photo, other):
        before = target.read_bytes()
        code, _, err = run(capsys, *args, str(target))
        assert code == 2 and "never replaces one" in err and target.read_bytes() == before
    chart = tmp_path / "chart.png"
    assert run(capsys, *args, str(chart))[0] == 0
    first = chart.stat().st_ino
    assert run(capsys, *args, str(chart))[0] == 0 and chart.stat().st_ino != first  # rewritten, by a new file
    link = tmp_path / "link.png"
    link.symlink_to(chart)
    code, _, err = run(capsys, *args, str(link))
    assert code == 2 and link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == [
        "chart.png", "link.png", "other.png", "photo.png"]


def test_calibration_prints_table_and_json(capsys):
    code, out, _ = run(capsys, "calibration")
    assert code == 0 and "median absolute percentage error" in out
    code, out, _ = run(capsys, "calibration", "--json")
    payload = json.loads(out)
    assert len(payload["cases"]) == len(load_catalog().measurements()) and payload["median_abs_pct_error_fitted"] > 0


@pytest.mark.slow
def test_hardware_report_writes_a_complete_folder(capsys, tmp_path):
    out_dir = tmp_path / "baseline"
    code, _, _ = run(capsys, "hardware-report", "--out", str(out_dir))
    assert code == 0
    for name in ("summary.md", "catalog.csv", "roofline_grid.csv", "calibration.csv", "figures/roofline.png",
                 "figures/usd_per_million_tokens.png", "figures/decode_throughput_vs_batch.png"):
        assert (out_dir / name).stat().st_size > 0, name
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".baseline")]  # no temporary left behind


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "experiments.cli", "roofline", "--chip", "nope", "--model",
                           "llama-2-7b", "--phase", "decode"], capture_output=True, text=True)
    assert proc.returncode == 2 and "unknown chip 'nope'" in proc.stderr


@pytest.mark.slow
def test_run_writes_tables_figures_and_summary(capsys, tmp_path):
    config = tmp_path / "short.toml"
    config.write_text(f'extends = "{BASELINE}"\n[simulation]\nmonths = 24\nseeds = 2\n')
    out_dir = tmp_path / "run"
    code, out, err = run(capsys, "run", str(config), "--out", str(out_dir), "--workers", "1")
    assert code == 0 and "seeds 2/2 done" in err and "leader_revenue_share_y1" in out
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["seeds"] == [0, 1]
    for name in ("leader_revenue_share_y1", "leader_revenue_share_final", "leader_gross_margin_mean",
                 "challenger_gross_margin_mean", "hhi_revenue_final", "usd_per_million_tokens_final"):
        stats = summary["metrics"][name]
        assert stats["p05"] <= stats["mean"] <= stats["p95"], name
    for name in ("model_monthly.parquet", "vendors_monthly.parquet", "ledger_monthly.parquet", "deals.parquet",
                 "funds.parquet", "summary.md", "manifest.json", "figures/revenue_share.png",
                 "figures/gross_margin.png",
                 "figures/hhi.png", "figures/price_per_token.png", "figures/capex_by_hyperscaler.png",
                 "figures/deal_multiples_ccdf.png", "figures/syndication_network.png"):
        assert (out_dir / name).stat().st_size > 0, name
    assert not (tmp_path / "run.partial").exists()


def test_failed_run_leaves_no_complete_looking_folder(capsys, tmp_path, monkeypatch):
    import experiments.runner as runner

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(runner, "write_market_files", boom)
    config = tmp_path / "one.toml"
    config.write_text(f'extends = "{BASELINE}"\n[simulation]\nmonths = 3\nseeds = 1\n')
    assert main(["run", str(config), "--out", str(tmp_path / "run"), "--workers", "1"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("compute-market: error: internal error (RuntimeError: disk full)") and "--debug" in err
    assert not (tmp_path / "run").exists()  # only the resumable .partial folder remains
    assert (tmp_path / "run.partial" / "seeds" / "seed-0000" / "metrics.json").exists()
    assert not list((tmp_path / "run.partial").glob("*.parquet"))  # no half-written aggregate tables
    with pytest.raises(RuntimeError):  # --debug shows the real exception
        main(["--debug", "run", str(config), "--out", str(tmp_path / "run"), "--workers", "1"])
