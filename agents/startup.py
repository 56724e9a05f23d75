"""The startups of a run: companies with latent quality that raise rounds from VC syndicates, rent inference
compute, grow (or not), and exit or die. They are one cohort of arrays (index = startup id) so that growth,
burn and exits are vectorised; the cohort also owns each startup's cap table and makes the founders' one
decision, which lead to take."""

from __future__ import annotations

import numpy as np

STAGES = ("seed", "series_a", "series_b", "series_c", "series_d", "growth")
FOUNDER_SHARES = 1.0e7  # shares are counted in units of the founders' 10M
FIRST_REVENUE = 2.0e4  # USD per month once a product ships after the seed round


class StartupCohort:
    """Every startup founded in a run. Money in USD (revenue, burn: USD per month); shares in founders' units.

    Arrays by startup: `quality` (latent, unobserved by investors), `founded` (month), `revenue`, `cash`, `drift`
    (monthly log-revenue drift), `bonus` (drift added by its lead), `alive`, `burn`, `rounds` (raised so far),
    `raised`, `last_post_money`, `total_shares`, `exit_value` (USD, 0 until it ends); `status` (alive | acquired |
    ipo | dead), `exit_kind` (how it ended, "" while alive: market/venture.EXIT_KINDS) and `cap_tables`
    ((firm index, fund vintage) -> shares) per startup.
    """

    def __init__(self) -> None:
        self.quality = np.zeros(0)
        self.founded = np.zeros(0, dtype=int)
        self.revenue = np.zeros(0)
        self.cash = np.zeros(0)
        self.drift = np.zeros(0)
        self.bonus = np.zeros(0)
        self.alive = np.zeros(0, dtype=bool)
        self.burn = np.zeros(0)
        self.rounds = np.zeros(0, dtype=int)
        self.raised = np.zeros(0)
        self.last_post_money = np.zeros(0)
        self.total_shares = np.zeros(0)
        self.exit_value = np.zeros(0)
        self.status: list[str] = []
        self.exit_kind: list[str] = []
        self.cap_tables: list[dict[tuple[int, int], float]] = []

    def __len__(self) -> int:
        return len(self.status)

    def found(self, log_quality: np.ndarray, month: int, drift: np.ndarray) -> None:
        """Add startups of latent log quality `log_quality` founded in `month`, with their growth drifts."""
        n = len(log_quality)
        grow = lambda values, fill: np.concatenate([values, np.full(n, fill, dtype=values.dtype)])  # noqa: E731
        self.quality = np.concatenate([self.quality, np.exp(log_quality)])
        self.founded = grow(self.founded, month)
        self.revenue, self.cash, self.bonus, self.burn = (
            grow(a, 0.0) for a in (self.revenue, self.cash, self.bonus, self.burn)
        )
        self.drift = np.concatenate([self.drift, drift])
        self.alive = grow(self.alive, True)
        self.rounds = grow(self.rounds, 0)
        self.raised, self.last_post_money = grow(self.raised, 0.0), grow(self.last_post_money, 0.0)
        self.exit_value = grow(self.exit_value, 0.0)
        self.total_shares = grow(self.total_shares, FOUNDER_SHARES)
        self.status += ["alive"] * n
        self.exit_kind += [""] * n
        self.cap_tables += [{} for _ in range(n)]

    def grow_and_burn(self, live: np.ndarray, growth: np.ndarray, opex: np.ndarray, base_compute: float,
                      compute_share: float, rental_index: float) -> np.ndarray:
        """A month of business: revenue of the startups `live` grows by `growth` (log); funded startups pay their
        team (`opex`, USD a month) and inference compute (a base plus a share of revenue, at the market's rental
        index) from revenue and cash. Returns each startup's compute spend (USD; 0 if not funded)."""
        self.revenue[live] *= np.exp(growth)
        compute = (base_compute + compute_share * self.revenue) * rental_index
        funded = self.alive & (self.rounds > 0)
        self.burn = np.where(funded, opex + compute, 0.0)
        self.cash += np.where(funded, self.revenue - self.burn, 0.0)
        return np.where(funded, compute, 0.0)

    @staticmethod
    def choose_lead(offers: np.ndarray, made: np.ndarray, reputation_rank: np.ndarray, taste: np.ndarray,
                    sorting: bool) -> np.ndarray:
        """The place of the firm the founders take as lead in each row of `offers` (R, D) (firm indices; `made` says
        which made an offer, at least one a row): the most reputable (its `reputation_rank`, indexed by firm, with some
        personal taste, `taste` (R, D)) when founders sort on reputation, else the one they like best; the first of
        equal scores."""
        score = reputation_rank[offers] + taste if sorting else taste
        return np.argmax(np.where(made, score, -np.inf), axis=1)

    def take_cheques(self, startup: list[int], holder: list[tuple[int, int]], shares: list[float]) -> None:
        """Add new `shares` to each `holder`'s stake in `startup` (lists of the same length, one entry per cheque; the
        shares outstanding are updated by the caller, market/rounds.issued_shares)."""
        tables = self.cap_tables
        for i, owner, bought in zip(startup, holder, shares, strict=True):
            table = tables[i]
            table[owner] = table.get(owner, 0.0) + bought

    def close_rounds(self, i: np.ndarray, pre_money: np.ndarray, amount: np.ndarray) -> None:
        """Startups `i` (distinct) close rounds of `amount` USD at `pre_money` USD: the cash comes in, the last
        post-money is set, the raised total and the round count grow; one with no revenue yet starts selling."""
        self.last_post_money[i] = pre_money + amount
        self.raised[i] += amount
        self.rounds[i] += 1
        self.cash[i] += amount
        self.revenue[i] = np.where(self.revenue[i] == 0, FIRST_REVENUE, self.revenue[i])

    def ownership(self, i: int, holder: tuple[int, int]) -> float:
        return self.cap_tables[i].get(holder, 0.0) / self.total_shares[i]

    def payout(self, i: int, value: float) -> dict[tuple[int, int], float]:
        """Split an exit value (USD) among startup `i`'s investors pro rata to shares (founders keep the rest)."""
        return {holder: value * shares / self.total_shares[i] for holder, shares in self.cap_tables[i].items()}

    def end(self, i: int, status: str, kind: str = "shutdown", value: float = 0.0) -> None:
        """Startup `i` exits (ipo, acquired) or dies, the way `kind` says, for `value` USD to its holders."""
        self.status[i] = status
        self.exit_kind[i] = kind
        self.exit_value[i] = value
        self.alive[i] = False

    def share_value(self, i: int) -> float:
        """USD value of one share of startup `i` now: its last round's price while it lives, its exit proceeds
        per share once it has ended (0 if it died)."""
        return (self.last_post_money[i] if self.alive[i] else self.exit_value[i]) / self.total_shares[i]
