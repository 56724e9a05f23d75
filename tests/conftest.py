import sys
from pathlib import Path

import pytest

# tests import the reference implementation next to them
sys.path.insert(0, str(Path(__file__).parent))


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
