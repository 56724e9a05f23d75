"""One classroom run: a scenario preset (a TOML config of experiments/configs) plus the levers a teacher
moves, each relative to the preset, so that "capacity x 0.5" halves whatever capacity the preset has.

No Solara here: the app builds a `DashboardMarket` from `Settings`, and the tests do the same.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from experiments.config import load_experiment
from hardware_catalog import months_between
from market.config import MarketConfig
from market.model import ComputeMarket

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"
PRESETS = tuple(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
KEEP = "as preset"
EXPORT_CONTROL_CHOICES = (KEEP, "on (China, H100-class, from 2023-10)", "off")
PRICE_CAP_CHOICES = (KEEP, "none", "0.65", "0.55", "0.45")
LOOP_CHOICES = (KEEP, "on", "off")
LEAD_TIME_CHOICES = (KEEP, "0", "3", "6", "9", "12")  # months vendors commit supply ahead (0: make to order)
PRICE_CAP_VENDOR = "nvidia"
PRICE_CAP_START = "2026-01"  # as in price_cap.toml


@dataclass(frozen=True)
class Settings:
    """What a session runs. Multipliers are relative to the preset (1 = as the preset has it).

    lock_in: x the buyers' switching cost per unit of software immaturity (0 = none: an open stack);
    capacity: x packaging/HBM capacity; lp_pool: x LP money per year; demand_growth: x the speed at
    which AI adoption diffuses (clouds' own demand and labs' revenue follow it); export_controls, price_cap,
    vc_loop: KEEP or a choice; lead_time: KEEP or the months ahead vendors commit supply ("0": make to order).
    """

    preset: str = "baseline"
    seed: int = 0
    months: int = 120
    lock_in: float = 1.0
    capacity: float = 1.0
    export_controls: str = KEEP
    price_cap: str = KEEP
    lp_pool: float = 1.0
    vc_loop: str = KEEP
    demand_growth: float = 1.0
    lead_time: str = KEEP

    def __post_init__(self):
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for name in ("lock_in", "capacity", "lp_pool", "demand_growth"):
            value = getattr(self, name)
            if not (np.isfinite(value) and 0.0 <= value <= 10.0):
                raise ValueError(f"lever {name} must be a multiplier between 0 and 10, got {value!r}")
        if self.capacity <= 0 or self.lp_pool <= 0:
            raise ValueError("capacity and LP pool multipliers must be above 0")
        for name, choices in (("export_controls", EXPORT_CONTROL_CHOICES), ("price_cap", PRICE_CAP_CHOICES),
                              ("vc_loop", LOOP_CHOICES), ("lead_time", LEAD_TIME_CHOICES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"lever {name} must be one of {choices}, got {getattr(self, name)!r}")
        if not (1 <= self.months <= 600) or self.seed < 0:
            raise ValueError("months must be in 1..600 and the seed >= 0")

    @property
    def levers_moved(self) -> bool:
        return self != self.neutral()

    def neutral(self) -> Settings:
        """The same preset and seed with every lever as the preset has it."""
        return Settings(preset=self.preset, seed=self.seed, months=self.months)


@functools.cache
def load_preset(preset: str):
    """The preset's resolved experiment (config and catalog), read once per process."""
    experiment = load_experiment(CONFIG_DIR / f"{preset}.toml")
    return experiment, experiment.catalog()


def preset_question(preset: str) -> str:
    """The question in the preset file's leading comment (one paragraph)."""
    lines = []
    for line in (CONFIG_DIR / f"{preset}.toml").read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# ").rstrip())
    return " ".join(lines)


def build_config(settings: Settings) -> MarketConfig:
    """The preset's MarketConfig with the levers applied."""
    experiment, _ = load_preset(settings.preset)
    cfg = experiment.market
    changes: dict = {
        "months": settings.months,
        "switching_cost": cfg.choice.switching_cost * settings.lock_in,
        "capacity_scale": cfg.supply.capacity_scale * settings.capacity,
        "adoption_speed": cfg.demand.adoption_speed * settings.demand_growth,
    }
    if settings.export_controls == "off":
        changes["export_control_regions"] = ()
    elif settings.export_controls != KEEP:
        changes.update(export_control_regions=("cn",), export_control_min_tflops=600.0, export_control_start="2023-10")
    if settings.price_cap == "none":
        changes["price_cap_vendor"] = ""
    elif settings.price_cap != KEEP:
        changes.update(price_cap_vendor=PRICE_CAP_VENDOR, price_cap_margin=float(settings.price_cap),
                       price_cap_start=cfg.policy.price_cap_start or PRICE_CAP_START)
    if settings.lead_time != KEEP:
        changes["supply_lead_time_months"] = int(settings.lead_time)
    venture = dataclasses.replace(cfg.venture, lp_pool_usd_per_year=cfg.venture.lp_pool_usd_per_year * settings.lp_pool)
    if settings.vc_loop != KEEP:
        venture = dataclasses.replace(venture, information_advantage=settings.vc_loop == "on")
    changes["venture"] = venture
    return cfg.replace(**changes)


class DashboardMarket(ComputeMarket):
    """The market model built from dashboard Settings; stops (running = False) after `settings.months`.

    `settings` may be a Settings or anything with a `.value` holding one (the session's reactive state),
    which Mesa's Reset button passes back unchanged, so Reset rebuilds from the controls as they are now.
    """

    def __init__(self, settings=None, *, venture: bool = True):
        current = getattr(settings, "value", settings) or Settings()
        _, catalog = load_preset(current.preset)
        config = build_config(current)
        if not venture:  # the chip market is the same without it (separate random streams; tested in test_market_model)
            config = dataclasses.replace(config, venture=dataclasses.replace(config.venture, enabled=False))
        super().__init__(config, catalog=catalog, rng=current.seed)
        self.settings = current
        self.settings_source = settings

    def step(self) -> None:
        if self.month >= self.settings.months:
            self.running = False
            return
        super().step()
        self.running = self.month < self.settings.months


# ------------------------------------------------------------------------------------------ series

def model_series(model: ComputeMarket) -> pd.DataFrame:
    """The model's monthly series (one row per month simulated so far)."""
    return model.model_table() if model.month else pd.DataFrame()


def vendor_series(model: ComputeMarket) -> pd.DataFrame:
    """One row per month and vendor (revenue, units, booked and posted margin, inventory, power...)."""
    return model.vendor_table()


def export_table(model: ComputeMarket) -> pd.DataFrame:
    """The run's monthly series with vendors' revenue, margins and inventory as columns (for download)."""
    monthly = model_series(model)
    if monthly.empty:
        return monthly
    vendors = vendor_series(model)
    wide = vendors.pivot_table(index="month", columns="vendor",
                               values=["revenue", "gross_margin", "margin_posted", "inventory", "writedown"],
                               aggfunc="first", dropna=False)
    wide.columns = [f"{value}_{vendor}" for value, vendor in wide.columns]
    wide = wide[[c for c in wide.columns if c not in monthly.columns]]  # booked margins are model series already
    out = monthly.merge(wide.reset_index(), on="month", how="left")
    out.insert(0, "preset", model.settings.preset if hasattr(model, "settings") else "")
    out.insert(1, "seed", model.settings.seed if hasattr(model, "settings") else np.nan)
    return out


def ghost_settings(settings: Settings) -> Settings:
    """What the live run is compared with: the preset without levers if any lever moved, else the baseline."""
    if settings.levers_moved:
        return settings.neutral()
    return Settings(preset="baseline", seed=settings.seed, months=settings.months)


def ghost_label(settings: Settings) -> str:
    ghost = ghost_settings(settings)
    return f"{ghost.preset} without levers" if settings.levers_moved else "baseline"


@functools.lru_cache(maxsize=16)
def ghost_run(settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(monthly series, vendor rows) of a whole run of `settings`, computed once per process and reused. The
    ghost is drawn on the chip-market charts only, so it runs without the venture side (5x faster, and the
    chip market is identical: tests/test_dashboard.py checks it)."""
    model = DashboardMarket(settings, venture=False)
    for _ in range(settings.months):
        model.step()
    return model_series(model), vendor_series(model)


# ------------------------------------------------------------------------------------------ events

def timeline_events(model: ComputeMarket) -> list[tuple[int, str]]:
    """(month index, label) of what happened so far: chip launches, in-house programmes, insolvencies,
    policy starts and shocks from the config, and months with large write-downs."""
    cfg = model.config
    out: list[tuple[int, str]] = []

    def index(date: str) -> int:
        return months_between(cfg.start, date)

    for text in model.events:
        date, _, what = text.partition(": ")
        out.append((index(date), what.split(";")[0]))
    policy = cfg.policy
    for on, date, label in ((bool(policy.export_control_regions), policy.export_control_start, "export controls"),
                            (bool(policy.price_cap_vendor), policy.price_cap_start,
                             f"price cap on {policy.price_cap_vendor}"),
                            (policy.open_stack_floor > 0, policy.open_stack_start, "open software stack"),
                            (policy.demand_shock_scale != 1.0, policy.demand_shock_start, "demand shock")):
        if on:  # a start of "" is the run's start
            out.append((index(date or cfg.start), label))
    for vendor in model.vendors.values():
        if not vendor.prices_strategically:
            continue
        for chip in vendor.chips:
            at = index(chip.release)
            if 0 < at < model.month:
                out.append((at, f"{chip.name} launch"))
    if model.vendor_records:
        rows = vendor_series(model)
        rows = rows[rows["kind"] != "hyperscaler_inhouse"]  # in-house suppliers have no margin to write down
        big = rows[rows["writedown"] > 0.05 * rows["revenue"].clip(lower=1.0)]
        for (month, vendor), _ in big.groupby(["month", "vendor"]):
            out.append((int(month), f"{vendor} write-down"))
    return sorted({(m, label) for m, label in out if 0 <= m < max(model.month, 1)})
