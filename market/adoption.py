"""AI adoption: how much AI the economy uses, driven by what models can do.

Demand for AI grows by diffusion toward a ceiling, and the ceiling rises with capability: capability follows the
industry's cumulative training compute (each doubling of it adds one unit, as in scaling laws), and each unit of
capability multiplies what AI is useful for by 2^capability_elasticity. So growth compounds while the industry keeps
adding compute (and the revenue and financing that pay for it hold up), and slows when it stops: nothing here is a
function of the calendar.

    capability_t = log2(C_t / C_0)              C: cumulative training compute (HEq-hours), C_0 what built the
                                                models of the run's start (TRAINING_HISTORY_MONTHS of its first
                                                month's training compute)
    ceiling_t    = 2^(kappa capability_t)       relative to the potential at the start (1)
    A_{t+1}      = A_t + s A_t (1 - A_t / ceiling_t)     adoption, a share of the start potential; A_0 given

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


class Adoption:
    """The economy's adoption of AI, updated once a month from the training compute the industry ran."""

    def __init__(self, start_adoption: float, speed: float, elasticity: float) -> None:
        self.start = start_adoption  # share of the start potential in use at the start
        self.level = start_adoption
        self.speed = speed  # per month
        self.elasticity = elasticity  # kappa: doublings of the potential per doubling of cumulative training compute
        self.cumulative = 0.0  # HEq-hours of training compute, with the history before the run
        self.start_cumulative = 0.0

    @property
    def index(self) -> float:
        """Adoption relative to the start (1 at the start)."""
        return self.level / self.start

    @property
    def capability(self) -> float:
        """Doublings of cumulative training compute since the start."""
        return math.log2(self.cumulative / self.start_cumulative) if self.start_cumulative > 0 else 0.0

    def step(self, training_heq_hours: float) -> None:
        """A month: the industry ran `training_heq_hours` of training compute; the potential moves with capability
        and adoption diffuses toward it."""
        if self.start_cumulative == 0.0:
            self.start_cumulative = self.cumulative = max(TRAINING_HISTORY_MONTHS * training_heq_hours, 1.0)
        self.cumulative += max(training_heq_hours, 0.0)
        self.level = next_adoption(self.level, ceiling(self.cumulative, self.start_cumulative, self.elasticity),
                                   self.speed)
