"""The venture side's sourced numbers (market/data/venture_terms.toml): fund terms, LP behaviour, exit hazards and
values, and the ages at which deals and funds are judged. Read once, checked field by field: a missing field or a
value out of range is a one-line ValueError naming the file and the field."""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

TERMS_PATH = Path(__file__).parent / "data" / "venture_terms.toml"


@dataclass(frozen=True)
class FundTerms:
    """[fund] Rates per year; months; shares in [0, 1]."""

    fee_rate_per_year: float
    fee_step_down_rate_per_year: float
    investment_period_months: int
    fund_life_months: int
    reserve_share: float
    raise_when_budget_used: float
    min_months_between_funds: int
    pacing_flow_slope: float
    pacing_bar_slope: float
    carry: float


@dataclass(frozen=True)
class LPTerms:
    """[lp] The LPs' recycling of distributions (a share) and how long uncommitted money waits (months)."""

    recycle_share: float
    hold_months: int


@dataclass(frozen=True)
class ExitTerms:
    """[exits] Monthly hazards (probabilities), USD thresholds, lognormal parameters of exit values."""

    ipo_arr_usd: float
    ipo_hazard: float
    acquisition_hazard: float
    acquisition_value_log_mean: float
    acquisition_value_log_sd: float
    ipo_value_log_sd: float
    distressed_sale_probability: float
    distressed_multiple_share: float
    distressed_value_log_sd: float
    acquihire_probability: float
    acquihire_recovery: float
    large_exit_usd: float
    public_comps_peak_ratio: float


@dataclass(frozen=True)
class EvaluationAges:
    """[evaluation] Ages (months from a round's date or a fund's vintage) at which they are judged."""

    deal_age_months: int
    fund_age_months: int
    fund_final_age_months: int
    persistence_age_months: int
    deployment_age_months: int


@dataclass(frozen=True)
class VentureTerms:
    fund: FundTerms
    lp: LPTerms
    exits: ExitTerms
    evaluation: EvaluationAges


# fields that are probabilities or shares (in [0, 1]); every other number must be >= 0 (log means may be negative)
SHARES = {"reserve_share", "raise_when_budget_used", "recycle_share", "ipo_hazard", "acquisition_hazard",
          "distressed_sale_probability", "distressed_multiple_share", "acquihire_probability", "acquihire_recovery",
          "fee_rate_per_year", "fee_step_down_rate_per_year", "carry"}
SIGNED = {"acquisition_value_log_mean"}


def _section(doc: dict, name: str, cls, path: Path):
    table = doc.get(name)
    if not isinstance(table, dict):
        raise ValueError(f"{path}: section [{name}]: missing")
    values = {}
    for f in fields(cls):
        value = table.get(f.name)
        integer = f.type == "int"
        if isinstance(value, bool) or not isinstance(value, int | float) or (integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number"
            raise ValueError(f"{path}: [{name}] field '{f.name}': missing or not {kind}")
        if not math.isfinite(value) or (f.name not in SIGNED and value < 0) or (f.name in SHARES and value > 1):
            raise ValueError(f"{path}: [{name}] field '{f.name}': must be "
                             f"{'in [0, 1]' if f.name in SHARES else 'finite' if f.name in SIGNED else '>= 0'}, "
                             f"got {value!r}")
        values[f.name] = value
    return cls(**values)


def load_terms(path: Path = TERMS_PATH) -> VentureTerms:
    """The terms in `path`, checked."""
    try:
        doc = tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path}: cannot read ({exc})") from None
    return VentureTerms(_section(doc, "fund", FundTerms, path), _section(doc, "lp", LPTerms, path),
                        _section(doc, "exits", ExitTerms, path), _section(doc, "evaluation", EvaluationAges, path))


TERMS = load_terms()
