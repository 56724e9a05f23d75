"""The trade ledger: every sale of chips (buyer, seller, item, units, unit price) by month."""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["month", "buyer", "seller", "item", "units", "unit_price", "amount"]


class Ledger:
    """Append-only record of trades; amount = units x unit price (USD). Stored as arrays, framed on demand."""

    def __init__(self) -> None:
        self._parts: list[tuple] = []

    def record(self, month: int, buyers, sellers, items, units, unit_prices) -> None:
        units = np.asarray(units, dtype=float)
        keep = units > 0
        if keep.any():
            self._parts.append((month, np.asarray(buyers)[keep], np.asarray(sellers)[keep], np.asarray(items)[keep],
                                units[keep], np.asarray(unit_prices, dtype=float)[keep]))

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(columns=COLUMNS)
        months, buyers, sellers, items, units, prices = zip(*self._parts, strict=True)
        units, prices = np.concatenate(units), np.concatenate(prices)
        return pd.DataFrame({
            "month": np.repeat(months, [len(b) for b in buyers]),
            "buyer": np.concatenate(buyers),
            "seller": np.concatenate(sellers),
            "item": np.concatenate(items),
            "units": units,
            "unit_price": prices,
            "amount": units * prices,
        })
