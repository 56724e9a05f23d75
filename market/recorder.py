"""Record-keeping for ComputeMarket: the month's statistics (the model series), the vendor and chip records, and
Mesa's DataCollectors (model series every month, agent snapshots at an interval).

The model series are ONE list (`MonthRecorder.series`): each entry names a statistic and says how to compute it
from the month's `MonthFigures`; the month's `stats` and the DataCollector's reporters are both built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import mesa
import numpy as np

from . import pricing
from .offers import MonthOutcome
from .power import facility_watts

VENTURE_SERIES = ("active_startups", "funded_rounds", "vc_deployed", "exits", "deaths", "new_funds",
                  "startup_burn", "compute_spend")


@dataclass(frozen=True)
class MonthFigures:
    """What the month's statistics are computed from: the model after the month's phases, what they returned, and
    the totals several statistics share."""

    model: object  # the ComputeMarket
    outcome: MonthOutcome
    total_revenue: float  # USD of chips sold, all vendors
    total_units: float
    revenue_shares: np.ndarray  # each vendor's share of revenue (NaN when nothing sold)
    installed_power: dict[str, float]  # vendor id -> GW of accelerator TDP in clouds' fleets
    deployed_gw: list[float]  # facility GW of the chips each cloud runs (cloud order)
    usd_per_million_tokens: float
    usd_per_exaflop_training: float
    rental_price_heq_hour: float  # supply-weighted mean of the renting clouds' prices


Series = tuple[str, Callable[[MonthFigures], float]]


def _power_series(power_enabled: bool) -> list[Series]:
    """Data-centre power this month: site power on line, the facility GW of the chips running (per cloud, summed),
    chips waiting for power and clouds short of it (NaN / 0 without the power model)."""
    def deployed(f: MonthFigures) -> float:
        return float(sum(f.deployed_gw))

    if not power_enabled:
        return [("site_power_gw", lambda f: np.nan), ("deployed_power_gw", deployed),
                ("chips_waiting_for_power", lambda f: 0.0), ("power_short_clouds", lambda f: 0.0)]
    return [
        ("site_power_gw", lambda f: float(sum(h.site_w for h in f.model.hyperscalers)) / 1e9),
        ("deployed_power_gw", deployed),
        ("chips_waiting_for_power", lambda f: float(sum(h.idle_units for h in f.model.hyperscalers))),
        ("power_short_clouds", lambda f: float(sum(h.power_short for h in f.model.hyperscalers))),
    ]


def model_series(model) -> list[Series]:
    """The model series, in the model table's column order: (name, statistic of the month's figures)."""
    labs = model.labs
    series: list[Series] = [
        ("month", lambda f: f.model.month),
        ("date", lambda f: f.model.date),
        ("chip_revenue", lambda f: f.total_revenue),
        ("chip_units", lambda f: f.total_units),
        ("hhi_revenue", lambda f: float(np.nansum(f.revenue_shares**2))),
        ("usd_per_million_tokens", lambda f: f.usd_per_million_tokens),
        ("usd_per_exaflop_training", lambda f: f.usd_per_exaflop_training),
        ("capacity_hbm_gb", lambda f: f.outcome.ecosystem.capacity),
        ("capex_total", lambda f: float(f.outcome.orders.spend.sum())),
        ("backlog_units", lambda f: float(sum(v.backlog_units for v in f.model.vendors.values()))),
        ("rental_revenue", lambda f: f.outcome.rental.paid),
        ("rental_fill_rate", lambda f: f.outcome.rental.fill_rate),
        ("lab_revenue", lambda f: float(sum(lab.revenue for lab in labs))),
        ("lab_cash", lambda f: float(sum(lab.cash for lab in labs))),
        ("inference_share", lambda f: f.outcome.book.inference_share),
        ("frontier_lab_revenue", lambda f: float(sum(lab.revenue for lab in labs if lab.frontier))),
        ("frontier_lab_power_gw", lambda f: frontier_lab_power_gw(f.model)),
        ("contract_share", lambda f: f.outcome.rental.contract_share),
        ("contracts_signed", lambda f: f.model.commitments.signed_this_month),
        ("rental_price_heq_hour", lambda f: f.rental_price_heq_hour),
        ("rental_price_h100_hour", lambda f: f.outcome.rental.chip_price(f.model.reference_chip.id)),
        ("writedowns", lambda f: float(sum(v.writedown for v in f.model.vendors.values()))),
        ("installed_power_gw", lambda f: float(sum(f.installed_power.values()))),
        *_power_series(model.config.power.power_enabled),
    ]
    for vid in model.potential_vendor_ids:
        series.append((f"revenue_share_{vid}", lambda f, vid=vid: _revenue_share(f, vid)))
    for vid in model.potential_vendor_ids:
        series.append((f"gross_margin_{vid}", lambda f, vid=vid: _gross_margin(f, vid)))
    for h in model.hyperscalers:
        series.append((f"capex_{h.hyperscaler_id}", lambda f, h=h: h.capex))
    for i, h in enumerate(model.hyperscalers):
        series.append((f"power_gw_{h.hyperscaler_id}", lambda f, i=i: f.deployed_gw[i]))
    for h in model.hyperscalers:
        series.append((f"power_short_{h.hyperscaler_id}", lambda f, h=h: float(h.power_short)))
    if model.venture is not None:
        series += [(key, lambda f, key=key: f.model.venture.month_stats.get(key, np.nan)) for key in VENTURE_SERIES]
    return series


def _revenue_share(f: MonthFigures, vid: str) -> float:
    v = f.model.vendors.get(vid)
    return v.revenue / f.total_revenue if (v and f.total_revenue) else 0.0


def _gross_margin(f: MonthFigures, vid: str) -> float:
    v = f.model.vendors.get(vid)
    return v.gross_margin if v else np.nan


def frontier_lab_power_gw(model) -> float:
    """GW of data-centre power the frontier labs' rented compute draws this month: HEq rented x the reference
    H100's TDP x (1 + host power) x PUE (the way labs' compute is announced, e.g. OpenAI's ~0.6 GW in 2024)."""
    heq = sum(lab.compute_month for lab in model.labs if lab.frontier) / pricing.HOURS_PER_MONTH
    return float(facility_watts(heq * model.reference_chip.tdp_w, model.tco)) / 1e9


class MonthRecorder:
    """Keeps the run's records for a ComputeMarket: `stats` (this month's model series), `vendor_records` and
    `chip_records` (a row per vendor / chip on sale per month), and the DataCollectors."""

    def __init__(self, model) -> None:
        self.series = model_series(model)
        self.stats: dict[str, float] = {}
        self.vendor_records: list[dict] = []
        self.chip_records: list[dict] = []
        self.collector = mesa.DataCollector(
            model_reporters={name: (lambda m, name=name: m.stats.get(name, np.nan)) for name, _ in self.series})
        self.agent_collector = mesa.DataCollector(agent_reporters={
            "kind": lambda a: type(a).__name__,
            "cash": lambda a: getattr(a, "cash", np.nan),
            "maturity": lambda a: getattr(a, "maturity", np.nan),
            "capability": lambda a: getattr(a, "capability", np.nan),
        })

    def record(self, model, outcome: MonthOutcome) -> None:
        """This month's vendor and chip rows and model series, then the collectors (agents at the interval)."""
        figures = self._figures(model, outcome)
        self.stats = {name: value(figures) for name, value in self.series}
        self.collector.collect(model)
        if model.month % model.config.agent_report_interval == 0:
            self.agent_collector.collect(model)

    def _figures(self, model, outcome: MonthOutcome) -> MonthFigures:
        book, fills, rented = outcome.book, outcome.fills, outcome.rental
        vendors = model.vendors.values()
        revenue = {v.vendor_id: v.revenue for v in vendors}
        total_rev = sum(revenue.values())
        units = {v.vendor_id: v.units_sold for v in vendors}
        flops = {v.vendor_id: v.flops_sold for v in vendors}
        total_units, total_flops = sum(units.values()), sum(flops.values())
        base, power = model.installed_by_vendor()
        deployed_gw = model.fleets.deployed_gw(model.hyperscalers, book.rates, book.inference_share)
        for v in vendors:
            vid = v.vendor_id
            self.vendor_records.append({
                "month": model.month, "date": model.date, "vendor": vid, "kind": v.kind,
                "revenue": v.revenue, "units": v.units_sold, "flops_shipped": v.flops_sold,
                "revenue_share": v.revenue / total_rev if total_rev else np.nan,
                "unit_share": v.units_sold / total_units if total_units else np.nan,
                "flops_share": v.flops_sold / total_flops if total_flops else np.nan,
                "gross_margin": v.gross_margin, "margin_posted": v.margin_posted, "writedown": v.writedown,
                "reserve": v.reserve, "installed_power_gw": power.get(vid, 0.0),
                "maturity": v.maturity, "allocation": v.allocation, "units_made": v.units_made,
                "inventory": sum(v.inventory.values()), "backlog_units": v.backlog_units,
                "cash": v.cash, "rd_spend": v.rd_spend, "installed_base": base.get(vid, 0.0),
            })
        shares = np.array([r / total_rev for r in revenue.values()]) if total_rev else np.array([np.nan])
        sold = fills.sold
        renting = [(h.rental_price, h.rental_supplied) for h in model.hyperscalers
                   if np.isfinite(h.rental_price) and h.rental_supplied > 0]
        rental_price = (sum(p * q for p, q in renting) / sum(q for _, q in renting)) if renting else np.nan
        for j, chip in enumerate(book.chips):
            self.chip_records.append({"month": model.month, "date": model.date, "chip": chip.id, "vendor": chip.vendor,
                                      "price": float(book.prices[j]), "units": float(sold[j]),
                                      "revenue": float(sold[j] * book.prices[j]), "cost": chip.manufacturing_cost_usd,
                                      "rental_price_hour": rented.chip_price(chip.id)})
        usd_mtok, usd_eflop = np.nan, np.nan
        if sold.sum() > 0:
            tco = model.tco
            rent = pricing.rental_price(pricing.hourly_cost(book.prices, [c.tdp_w for c in book.chips], tco).total, tco)
            serve = np.array([book.served_tokens[c.id] for c in book.chips])  # tokens of the mix actually served
            train = np.array([book.rates[c.id][0] for c in book.chips]) * model.ref_train
            flop_per_token = 6 * model.reference_workload.params_active
            # market price of reference work: what the chips sold this month cost to rent per hour, over
            # the work they do per hour (a ratio of totals, so a chip that does little work adds little)
            usd_mtok = float(pricing.usd_per_million_tokens((rent * sold).sum(), 1, (serve * sold).sum()))
            usd_eflop = float(pricing.usd_per_exaflop((rent * sold).sum(), (train * flop_per_token * sold).sum()))
        return MonthFigures(model=model, outcome=outcome, total_revenue=total_rev, total_units=total_units,
                            revenue_shares=shares, installed_power=power, deployed_gw=deployed_gw,
                            usd_per_million_tokens=usd_mtok, usd_per_exaflop_training=usd_eflop,
                            rental_price_heq_hour=rental_price)
