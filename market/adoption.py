"""AI adoption: how much AI the economy uses, driven by what models can do.

Demand for AI grows by diffusion toward a ceiling, and the ceiling rises with capability: capability follows the
frontier's cumulative training compute (each doubling of it adds one unit, as in scaling laws), and each unit of
capability multiplies what AI is useful for by 2^capability_elasticity. The frontier is the buyer region that has
trained with the most compute: models diffuse across borders (APIs, open weights), so what the best-equipped region
can build sets what AI can do everywhere, and a region cut off from chips slows only its own training, not the
world's frontier. So growth compounds while the industry keeps adding compute (and the revenue and financing that pay
for it hold up), and slows when it stops: nothing here is a function of the calendar.

What AI can do is bounded by what it is worth: the ceiling saturates at the use whose value, at the start's price of
AI, equals AI's economic potential (a USD-a-year figure, DemandConfig.ai_value_potential_usd_per_year, sourced). The
start's value is measured in the run's first month (clouds' own AI work at its rental price plus labs' revenue), so
the bound is in adoption's units:

    capability_t = log2(C_t / C_0)              C: the frontier region's cumulative training compute (HEq-hours),
                                                the largest over regions; C_0 the frontier's history at the start
                                                (TRAINING_HISTORY_MONTHS of each region's first month's training)
    ceiling_t    = 2^(kappa capability_t)       relative to the potential at the start (1)
    cap          = A_0 x potential_usd / start_value_usd
    bounded_t    = ceiling_t (1 + (ceiling_t / cap)^2)^(-1/2)    a smooth minimum: ~ceiling_t well below the cap,
                                                                  the cap well above it
    A_{t+1}      = A_t + s A_t (1 - A_t / bounded_t)     adoption, a share of the start potential; A_0 given

The index clouds' own AI demand and labs' revenue follow is A_t / A_0 (1 at the start).
"""

from __future__ import annotations

import math

# The compute that built the models in use at the run's start, in months of its first month's training compute
# (est: the frontier models of early 2023 were trained on clusters bought over the previous ~2 years)
TRAINING_HISTORY_MONTHS = 24.0


def next_adoption(adoption: float, ceiling: float, speed: float) -> float:
    """Adoption (share of the start potential) after a month of logistic diffusion at `speed` (per month) toward
    `ceiling` (same units)."""
    return max(adoption + speed * adoption * (1.0 - adoption / ceiling), 1e-12)


def ceiling(cumulative: float, start_cumulative: float, elasticity: float) -> float:
    """The potential of AI relative to the start's: 2^(elasticity x log2(cumulative / start_cumulative)) (training
    compute in HEq-hours; 1 before any has been added)."""
    return (max(cumulative, start_cumulative) / start_cumulative) ** elasticity


def saturated(potential: float, cap: float) -> float:
    """`potential` bounded by `cap` (same units) through a smooth minimum: about `potential` well below the cap, the cap
    well above it (inf: no bound)."""
    if not math.isfinite(cap):
        return potential
    return potential * (1.0 + (potential / cap) ** 2) ** -0.5


class Adoption:
    """The economy's adoption of AI, updated once a month from the training compute the industry ran."""

    def __init__(self, start_adoption: float, speed: float, elasticity: float,
                 potential_usd_per_year: float = math.inf) -> None:
        self.start = start_adoption  # share of the start potential in use at the start
        self.level = start_adoption
        self.speed = speed  # per month
        self.elasticity = elasticity  # kappa: doublings of the potential per doubling of cumulative training compute
        self.by_region: dict[str, float] = {}  # HEq-hours of training compute by buyer region, with its history
        self.cumulative = 0.0  # the frontier's: the largest of by_region
        self.start_cumulative = 0.0
        self.potential_usd = potential_usd_per_year  # AI's economic potential, USD a year
        self.cap = math.inf  # the bound on the ceiling, in adoption's units (set by `measure_start_value`)
        self.start_value_usd = math.nan  # USD a year of AI use at the start

    @property
    def start_measured(self) -> bool:
        """The value of the AI in use at the start has been measured (`measure_start_value`)."""
        return math.isfinite(self.start_value_usd)

    def measure_start_value(self, value_usd_per_year: float) -> None:
        """The value of the AI in use at the start (USD a year), which puts the economic potential in adoption's
        units: cap = start adoption x potential / start value. Only the first call counts."""
        if self.start_measured:
            return
        self.start_value_usd = value_usd_per_year
        if value_usd_per_year > 0 and math.isfinite(self.potential_usd):
            self.cap = self.start * self.potential_usd / value_usd_per_year

    @property
    def index(self) -> float:
        """Adoption relative to the start (1 at the start)."""
        return self.level / self.start

    @property
    def index_cap(self) -> float:
        """The bound on the adoption index (relative to the start) that AI's economic potential sets (inf until the
        start's value is measured, or with no bound)."""
        return self.cap / self.start

    @property
    def capability(self) -> float:
        """Doublings of cumulative training compute since the start."""
        return math.log2(self.cumulative / self.start_cumulative) if self.start_cumulative > 0 else 0.0

    def step(self, training_heq_hours: dict[str, float]) -> None:
        """A month: each buyer region ran `training_heq_hours[region]` of training compute (HEq-hours); the potential
        moves with the frontier's capability and adoption diffuses toward it."""
        for region, hours in training_heq_hours.items():
            if region not in self.by_region:  # a region's history: the months of training before the run
                self.by_region[region] = TRAINING_HISTORY_MONTHS * max(hours, 0.0)
        if self.start_cumulative == 0.0:
            self.start_cumulative = max(max(self.by_region.values(), default=0.0), 1.0)
        for region, hours in training_heq_hours.items():
            self.by_region[region] += max(hours, 0.0)
        self.cumulative = max(max(self.by_region.values(), default=0.0), self.start_cumulative)
        potential = saturated(ceiling(self.cumulative, self.start_cumulative, self.elasticity), self.cap)
        self.level = next_adoption(self.level, potential, self.speed)
