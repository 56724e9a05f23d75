import sys
from pathlib import Path

import pytest

# tests import the reference implementation next to them
sys.path.insert(0, str(Path(__file__).parent))

# Tests of tests/test_market_model.py that take more than about 3 s, marked here rather than in the file while the
# market/agents branch reworks it (move them into the file as @pytest.mark.slow once that branch is merged).
SLOW_MARKET_MODEL_TESTS = {
    "test_a_venture_only_change_leaves_the_chip_market_identical",
    "test_cheaper_compute_raises_the_quantity_bought",
    "test_equal_hardware_with_immature_software_prices_lower_than_the_leader",
    "test_halving_packaging_capacity_rations_chips_and_raises_rental_prices_and_margins",
    "test_inhouse_silicon_takes_share_from_merchants_over_time",
    "test_ledger_balances_every_month",
    "test_same_seed_same_tables_and_different_seed_differs",
    "test_zero_switching_cost_lowers_leader_share_and_margin",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name == "test_market_model.py" and item.originalname in SLOW_MARKET_MODEL_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def market_run():
    """Model runs shared by the session: `market_run(config, seed, catalog=None, months=None)` builds
    ComputeMarket(config, catalog=catalog, rng=seed), runs it (`run(months)`, or `run()` when months is None) the
    first time it is asked for, and hands every later caller the same finished model. For tests that only read a
    run (its tables, ledger and agents); a test that changes a model runs its own."""
    from experiments.rundir import catalog_fingerprint
    from market.model import ComputeMarket

    runs = {}

    def get(config, seed: int, catalog=None, months: int | None = None):
        key = (repr(config), seed, None if catalog is None else catalog_fingerprint(catalog), months)
        if key not in runs:
            model = ComputeMarket(config, catalog=catalog, rng=seed)
            model.run() if months is None else model.run(months)
            runs[key] = model
        return runs[key]

    return get
