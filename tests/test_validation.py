"""The validation report: its facts file, its metrics on hand-made tables, the pooled permutation test, and the
command end to end (a short run, reused on the second call)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from experiments import validation
from experiments.errors import UsageError
from experiments.venture_analysis import pooled_centrality_return_p_value
from hardware_catalog import load_catalog


def test_every_fact_names_a_known_metric_kind_and_ablation():
    facts = validation.load_facts()
    assert len(facts) >= 30  # every row of calibration_targets.md (accelerators and venture capital)
    assert {f.kind for f in facts} <= set(validation.KINDS)
    for fact in facts:
        assert fact.metric in validation.METRICS or fact.metric in validation.CROSS_RUN_METRICS
        assert set(fact.ablations) <= set(validation.ABLATION_IDS) and fact.low < fact.high


@pytest.mark.parametrize("change, field", [
    ('metric = "no_such_metric"', "metric"),
    ('kind = "guess"', "kind"),
    ("low = nan", "low"),
    ('ablations = ["no-such-switch"]', "ablations"),
])
def test_a_bad_fact_is_a_one_line_error_naming_file_and_field(tmp_path, change, field):
    good = {"id": "x", "fact": "f", "figure": "1", "period": "2024", "source": "s", "tag": "P", "kind": "outcome",
            "metric": "amd_revenue_2024", "low": 1.0, "high": 2.0, "band_note": "b", "mechanism": "m", "ablations": []}
    lines = ["[[fact]]", *(f"{k} = {json.dumps(v)}" for k, v in good.items() if k != change.split(" = ")[0]), change]
    path = tmp_path / "facts.toml"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(UsageError) as err:
        validation.load_facts(path)
    message = str(err.value)
    assert str(path) in message and f"field '{field}'" in message and "\n" not in message


def _run_folder(tmp_path):
    """Two seeds of hand-made tables: NVIDIA and AMD (merchant) and Google (in-house), 2023-2025."""
    dates = [f"{y}-{m:02d}" for y in (2023, 2024, 2025) for m in range(1, 13)]
    vendors, model, ledger, chips = [], [], [], []
    for seed in (0, 1):
        for i, date in enumerate(dates):
            year = int(date[:4])
            for vendor, kind, revenue, margin in (("nvidia", "merchant_gpu", 8.0 + seed, 0.75),
                                                  ("amd", "merchant_gpu", 1.0, 0.5 if year == 2024 else 0.4),
                                                  ("google", "hyperscaler_inhouse", 1.0, math.nan)):
                vendors.append({"seed": seed, "month": i, "date": date, "vendor": vendor, "kind": kind,
                                "revenue": revenue,
                                "units": revenue, "gross_margin": margin, "flops_shipped": 1.0, "allocation": 0.5})
            model.append({"seed": seed, "month": i, "date": date, "capex_microsoft": 1.0 * (year - 2022),
                          "capex_google": 1.0 * (year - 2022), "capex_oracle": 5.0})
            ledger += [{"seed": seed, "month": i, "buyer": "aws", "seller": "nvidia", "units": 3.0, "amount": 3.0},
                       {"seed": seed, "month": i, "buyer": "oracle", "seller": "nvidia", "units": 1.0, "amount": 1.0}]
            chips.append({"seed": seed, "month": i, "date": date, "chip": "h100-sxm", "vendor": "nvidia", "price": 2.0,
                          "units": 1.0, "revenue": 30.0 if year == 2024 else 20.0})
            chips.append({"seed": seed, "month": i, "date": date, "chip": "mi300x", "vendor": "amd", "price": 1.0,
                          "units": 1.0, "revenue": 10.0})
    for name, rows in (("vendors_monthly", vendors), ("model_monthly", model), ("ledger_monthly", ledger),
                       ("chips_monthly", chips), ("metrics_by_seed", [{"seed": 0}, {"seed": 1}])):
        pd.DataFrame(rows).to_parquet(tmp_path / f"{name}.parquet")
    return validation.RunTables(tmp_path)


def test_metrics_on_hand_made_tables(tmp_path):
    tables, catalog = _run_folder(tmp_path), load_catalog()
    share = validation.METRICS["nvidia_share_of_merchant_revenue_2023"](tables, catalog)
    assert share.to_dict() == pytest.approx({0: 8 / 9, 1: 9 / 10})  # in-house revenue is not merchant revenue
    assert validation.METRICS["nvidia_share_of_all_revenue_2024"](tables, catalog)[0] == pytest.approx(0.8)
    # booked margin is revenue-weighted over the fiscal year (Feb-Jan); an in-house supplier has none
    assert validation.METRICS["amd_margin_2024"](tables, catalog)[1] == pytest.approx(0.5)
    assert validation.METRICS["nvidia_margin_fy25"](tables, catalog)[0] == pytest.approx(0.75)
    growth = validation.METRICS["big_four_accelerator_capex_growth_2024"](tables, catalog)
    assert growth[0] == pytest.approx(1.0)  # Microsoft and Google doubled; Oracle is not one of the four
    assert validation.METRICS["big_four_unit_share_2024"](tables, catalog)[0] == pytest.approx(0.75)
    assert validation.METRICS["h100_over_mi300x_price_2024"](tables, catalog)[1] == pytest.approx(3.0)
    hhi = validation.METRICS["hhi_revenue_2024"](tables, catalog)[0]
    assert hhi == pytest.approx((8 / 10) ** 2 + 2 * (1 / 10) ** 2)


def test_verdicts_tell_outcomes_inputs_and_gaps_apart():
    assert validation.verdict("outcome", 1.5, 1.0, 2.0) == "pass"
    assert validation.verdict("forecast", 2.5, 1.0, 2.0) == "MISS"
    assert validation.verdict("input", 1.5, 1.0, 2.0) == "input (matches)"
    assert validation.verdict("outcome", math.nan, 1.0, 2.0) == "not covered"


def test_the_pooled_permutation_test_over_seeds():
    rng = np.random.default_rng(5)

    def funds(related: bool):
        centrality = rng.random(80)
        tvpi = centrality * 0.3 + rng.random(80) if related else rng.random(80)
        return pd.DataFrame({"vintage": 1, "vintage_year": 2023, "called": 1.0, "centrality_at_vintage": centrality,
                             "tvpi_at_age": tvpi})

    mean, p = pooled_centrality_return_p_value([funds(True) for _ in range(8)], 1000)
    assert mean > 0.15 and p < 0.01
    null_p = [pooled_centrality_return_p_value([funds(False) for _ in range(8)], 300)[1] for _ in range(30)]
    assert 0.0 <= np.mean(np.array(null_p) < 0.1) <= 0.3  # about a tenth of null ensembles reach p < 0.1
    assert math.isnan(pooled_centrality_return_p_value([funds(True).head(5)])[0])  # too few funds to judge


@pytest.mark.slow
def test_validate_model_writes_the_report_and_reuses_its_runs(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "validation"
    assert main(["validate-model", "--seeds", "1", "--months", "40", "--out", str(out), "--workers", "1"]) == 0
    report = (out / "validation.md").read_text()
    data = json.loads((out / "validation.json").read_text())
    ids = {row["id"] for row in data["facts"]}
    assert {f.id for f in validation.load_facts()} <= ids
    assert {o.id for o in load_catalog().history} <= ids
    assert all(a.label in report for a in validation.ABLATIONS)
    assert (out / "validation_facts.png").stat().st_size > 0 and data["reused"] == []
    capsys.readouterr()
    assert main(["validate-model", "--seeds", "1", "--months", "40", "--out", str(out), "--workers", "1"]) == 0
    again = json.loads((out / "validation.json").read_text())
    assert sorted(again["reused"]) == sorted(["baseline", *validation.ABLATION_IDS])  # nothing recomputed
    assert "reusing the stored run" in capsys.readouterr().err
