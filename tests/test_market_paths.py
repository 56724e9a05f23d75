"""The dated paths the market follows (hardware_catalog/paths.py, data/paths.toml): the HBM contract price, applied
to chips' memory lines month by month, and the mix of models buyers serve (market/serving.py)."""

import shutil

import numpy as np
import pytest

from hardware_catalog import DATA_DIR, CatalogError, load_catalog
from market import performance, roofline
from market.config import fitted_config
from market.model import ComputeMarket
from market.parallelism import Parallel

CATALOG = load_catalog()
PATHS = CATALOG.paths


def test_the_serving_mix_moves_from_dense_to_mixture_of_experts_models():
    early, late = PATHS.serving_mix_at("2023-01"), PATHS.serving_mix_at("2026-06")
    assert early["llama-3-70b"] == 1.0
    assert late["qwen3-235b-a22b"] >= 0.75  # MoE-dominated from 2025
    for month in ("2023-01", "2024-01", "2024-11", "2025-07", "2030-12"):
        assert sum(PATHS.serving_mix_at(month).values()) == pytest.approx(1.0)
    halfway = PATHS.serving_mix_at("2024-06")  # a row's own month gives its shares; between rows, linear
    assert halfway["qwen3-235b-a22b"] == pytest.approx(0.2)
    assert PATHS.serving_mix_at("2023-12")["qwen3-235b-a22b"] == pytest.approx(0.2 * 6 / 12)


def test_a_memory_line_is_priced_at_the_hbm_contract_price_of_the_month():
    assert PATHS.memory_price_factor("2024-01", "2026-06") == 1.0  # flat before the first rise
    assert PATHS.memory_price_factor("2026-09", "2026-06") == pytest.approx(1.2)
    assert PATHS.memory_price_factor("2029-01", "2026-06") == pytest.approx(1.44)
    assert PATHS.memory_price_factor("2029-01", "2027-06") == pytest.approx(1.0)  # priced after the rise
    assert PATHS.memory_price_factor("2029-01", "") == 1.0  # no pricing date: no path applies


def test_the_market_costs_its_chips_at_the_months_memory_price():
    model = ComputeMarket(fitted_config(months=60), rng=0)
    model.month = 50  # 2027-03: HBM 1.44x its mid-2026 price
    book = model.selling.open_book()
    shipped = {c.id: c for v in model.vendors.values() for c in v.chips}
    priced = [(c, shipped[c.id]) for c in book.chips if shipped[c.id].memory_cost_usd]
    assert priced  # the line's current parts carry memory lines
    for chip, base in priced:
        factor = PATHS.memory_price_factor(model.date, base.memory_cost_date)
        assert chip.manufacturing_cost_usd == pytest.approx(base.manufacturing_cost_usd
                                                            + (factor - 1) * base.memory_cost_usd)
    assert any(chip.manufacturing_cost_usd > base.manufacturing_cost_usd for chip, base in priced)
    j = book.chips.index(priced[0][0])
    assert book.unit_cost[j] == priced[0][0].manufacturing_cost_usd
    # the priced chip is kept while the month's factor is the same, and priced again when it moves
    chip, base = priced[0]
    assert model.memory_priced(base) is chip
    before = PATHS.memory_price_factor(model.date, base.memory_cost_date)
    model.month = 44  # 2026-09: HBM at 1.2x its mid-2026 price, not 1.44x
    cheaper = model.memory_priced(base)
    factor = PATHS.memory_price_factor(model.date, base.memory_cost_date)
    assert factor < before and cheaper.manufacturing_cost_usd == base.manufacturing_cost_usd + (factor - 1) * (
        base.memory_cost_usd)


def test_buyers_serve_the_months_mix_and_a_named_model_replaces_it():
    model = ComputeMarket(fitted_config(months=60), rng=0)
    model.month = 40  # 2026-05
    mix = model.serving_mix()
    assert mix == pytest.approx(PATHS.serving_mix_at("2026-05"))
    chips = [CATALOG.accelerator(c) for c in ("h100-sxm", "mi355x", "b300", "tpu-v7")]
    maturity = [model.effective_maturity(c.vendor) for c in chips]
    expected, tokens = np.zeros(len(chips)), np.zeros(len(chips))
    for workload, share in mix.items():
        rate = performance.serving_rates(chips, maturity, CATALOG.workload(workload), CATALOG.efficiency)
        expected += share * rate / model.serving.reference_rate(workload)
        tokens += share * rate
    rates, served = model.rates_and_tokens(chips)
    assert [s for _, s in rates.values()] == pytest.approx(list(expected))
    assert list(served.values()) == pytest.approx(list(tokens))
    named = ComputeMarket(fitted_config(months=60, serving_workload="llama-2-7b"), rng=0)
    named.month = 40
    assert named.serving_mix() == {"llama-2-7b": 1.0}


def test_a_mixture_of_experts_is_served_expert_parallel_where_that_is_faster():
    chips = [CATALOG.accelerator(c) for c in ("h100-sxm", "b200", "mi355x", "trainium2")]
    maturity = [CATALOG.vendors[c.vendor].software_maturity for c in chips]
    moe = CATALOG.workload("qwen3-235b-a22b")
    with_ep = performance.serving_rates(chips, maturity, moe, CATALOG.efficiency)
    # the same search restricted to tensor-parallel groups
    eff = performance.market_efficiency(CATALOG.efficiency)
    groups = (2.0 ** np.arange(4))[None, :]
    tp_only = np.zeros(len(chips))
    for precision in ("fp8", "bf16"):
        arrays = roofline.chip_arrays(chips, precision, eff, maturity, axis=0, ndim=2)
        res = roofline.evaluate("serve", roofline.model_arrays([moe], axis=0, ndim=2), arrays, None,
                                precision=precision, group=groups, input_tokens=performance.SERVE_INPUT,
                                output_tokens=performance.SERVE_OUTPUT, parallel=Parallel())
        tp_only = np.maximum(tp_only, np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0).max(axis=1))
    assert np.all(with_ep >= tp_only * (1 - 1e-12))
    assert with_ep[0] > 1.2 * tp_only[0]  # 80 GB H100s hold an eighth of the experts each, with room for the cache


def test_the_months_models_are_served_in_one_roofline_call_each_at_what_its_own_search_gives_to_the_bit():
    chips = list(CATALOG.accelerators.values())
    maturity = np.linspace(0.2, 1.0, len(chips))
    workloads = [CATALOG.workload(w) for w in ("llama-3-70b", "qwen3-235b-a22b", "jamba-v0.1", "deepseek-v3")]
    together = performance.mix_serving_rates(chips, maturity, workloads, CATALOG.efficiency)
    # each model alone, one call per layout and precision (the search as it was before the rows were stacked)
    eff = performance.market_efficiency(CATALOG.efficiency)
    groups = (2.0 ** np.arange(int(np.log2(max(c.max_group for c in chips))) + 1))[None, :]
    unserved = 0
    for workload, rates in zip(workloads, together, strict=True):
        layouts = [(groups, Parallel())]
        if workload.experts > 1:
            layouts.append((1.0, Parallel(data=groups, expert=groups)))
        alone = np.zeros(len(chips))
        for group, parallel in layouts:
            for precision in performance.SERVE_PRECISIONS:
                arrays = roofline.chip_arrays(chips, precision, eff, maturity, axis=0, ndim=2)
                res = roofline.evaluate("serve", roofline.model_arrays([workload], axis=0, ndim=2), arrays, None,
                                        precision=precision, group=group, input_tokens=performance.SERVE_INPUT,
                                        output_tokens=performance.SERVE_OUTPUT, parallel=parallel, rates_only=True)
                alone = np.maximum(alone, np.nan_to_num(res.tokens_per_second_per_chip, nan=0.0).max(axis=1))
        assert (alone > 0).any()
        unserved += int((alone == 0).sum())
        np.testing.assert_array_equal(rates, alone)
    assert unserved  # chips that cannot serve a model are checked too
    assert performance.mix_serving_rates(chips, maturity, [], CATALOG.efficiency).shape == (0, len(chips))


@pytest.mark.parametrize("old, new, message", [
    ('shares = { "llama-3-70b" = 1.0 }', 'shares = { "llama-3-70b" = 0.9 }', "shares must sum to 1"),
    ('shares = { "llama-3-70b" = 1.0 }', 'shares = { "gpt-9" = 1.0 }', "unknown workload 'gpt-9'"),
    ('date = "2026-07"\nindex = 1.2', 'date = "2024-07"\nindex = 1.2', "field 'date': rows must run forwards"),
    ('index = 1.44', 'index = -1', "field 'index': must be > 0"),
])
def test_a_bad_path_row_is_refused_naming_the_file_and_field(tmp_path, old, new, message):
    folder = tmp_path / "data"
    shutil.copytree(DATA_DIR, folder)
    path = folder / "paths.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(folder)
    assert "paths.toml" in str(err.value) and "\n" not in str(err.value)
