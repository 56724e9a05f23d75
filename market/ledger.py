"""The trade ledger: every sale of chips (buyer, seller, item, units, unit price) by month."""

from __future__ import annotations

import numpy as np
import pandas as pd


class Ledger:
    """Append-only record of trades; amounts are units x unit price (USD)."""

    def __init__(self) -> None:
        self._parts: list[pd.DataFrame] = []

    def record(self, month: int, buyers, sellers, items, units, unit_prices) -> None:
        units = np.asarray(units, dtype=float)
        keep = units > 0
        if not keep.any():
            return
        self._parts.append(
            pd.DataFrame(
                {
                    "month": month,
                    "buyer": np.asarray(buyers)[keep],
                    "seller": np.asarray(sellers)[keep],
                    "item": np.asarray(items)[keep],
                    "units": units[keep],
                    "unit_price": np.asarray(unit_prices, dtype=float)[keep],
                }
            )
        )

    def frame(self) -> pd.DataFrame:
        if not self._parts:
            return pd.DataFrame(columns=["month", "buyer", "seller", "item", "units", "unit_price", "amount"])
        frame = pd.concat(self._parts, ignore_index=True)
        frame["amount"] = frame["units"] * frame["unit_price"]
        return frame

    def paid_by(self, buyer: str) -> float:
        return float(sum((p.loc[p.buyer == buyer, "units"] * p.loc[p.buyer == buyer, "unit_price"]).sum() for p in self._parts))

    def received_by(self, seller: str) -> float:
        return float(
            sum((p.loc[p.seller == seller, "units"] * p.loc[p.seller == seller, "unit_price"]).sum() for p in self._parts)
        )
