"""Typed configuration of the market model, with defaults and where each default comes from.

All money is nominal USD; all rates are per month unless the name says otherwise. The TOML front end
(experiments) validates files into these objects. No key sets a vendor's margin: margins are chosen
by the vendor agents (only the numerical bounds of their search grid are configurable).

MarketConfig is made of sections, one per TOML table ([choice], [demand], [clouds], [lab_finance], [supply],
[power], [pricing], [software], [inhouse], [policy], [venture]). Each numeric field declares its range as field
metadata (`Bounds`), read both by the section's own check and by the TOML loader.

The defaults here are the pre-fit values. The fields marked (fitted) (AI adoption's starting share, speed and
elasticity to capability, buyers' price sensitivity, switching cost, labs' revenue elasticity to their own compute,
the share of expected use labs book ahead, demand elasticity, the starting packaging capacity) are fitted to the
observed January 2023 - December 2025 path by `compute-market calibrate-history`, which writes them into the catalog
folder (history_calibration.toml);
they reach a config explicitly, through the catalog (`MarketConfig.build(catalog.fitted, ...)`, which the experiment
loader and ComputeMarket's default config use).
Defaults marked (cal) are older hand choices aimed at ../shared/reference/calibration_targets.md. All are
behavioural parameters, never outputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields

from hardware_catalog import months_between

from .venture_terms import TERMS


@dataclass(frozen=True)
class Bounds:
    """The range of a numeric config field: at least `low` (more than `low` if `low_open`), at most `high` (None: no
    upper bound of its own). Read by the dataclasses' own checks and by the TOML loader (experiments/config.py),
    which adds its general rules for input files (magnitudes, money)."""

    low: float = 0.0
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    share: bool = False  # a share in [0, 1] (errors say so)

    def problem(self, value: float) -> str | None:
        """Why `value` is out of range (None if it is in range)."""
        below = value <= self.low if self.low_open else value < self.low
        above = self.high is not None and (value >= self.high if self.high_open else value > self.high)
        if not (below or above):
            return None
        if self.share:
            return f"must be in {'(' if self.low_open else '['}0, 1{')' if self.high_open else ']'}"
        if below:
            return f"must be {'>' if self.low_open else '>='} {self.low:g}"
        return f"must be {'<' if self.high_open else '<='} {self.high:g}"


def number(default, *, low: float = 0.0, high: float | None = None, low_open: bool = False, high_open: bool = False):
    """A numeric config field with its range (field metadata "bounds")."""
    return field(default=default, metadata={"bounds": Bounds(low, high, low_open, high_open)})


def share(default):
    """A numeric field that is a share, in [0, 1]."""
    return field(default=default, metadata={"bounds": Bounds(0.0, 1.0, share=True)})


def positive(default, high: float | None = None):
    """A numeric field that must be > 0 (counts of months, scales, sensitivities)."""
    return number(default, low_open=True, high=high)


def bounds_of(cls, name: str) -> Bounds | None:
    """The declared range of field `name` of dataclass `cls` (None: none declared)."""
    for f in fields(cls):
        if f.name == name:
            return f.metadata.get("bounds")
    return None


def check_bounds(section) -> None:
    """Raise ValueError naming the first field of `section` (a config dataclass) outside its declared range."""
    for f in fields(section):
        bounds = f.metadata.get("bounds")
        value = getattr(section, f.name)
        if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        problem = bounds.problem(value) if math.isfinite(value) else "must be finite"
        if problem:
            raise ValueError(f"market config field '{f.name}': {problem}, got {value!r}")


@dataclass(frozen=True)
class HyperscalerSpec:
    """A cloud: its starting AI accelerator budget and who it is."""

    id: str
    name: str
    budget_share: float  # share of the starting hyperscaler accelerator budget
    internal_share: float  # share of its demand that is its own AI work (the rest is rented to labs)
    inhouse_vendor: str = ""  # vendor id of an existing in-house chip programme ("" if none)
    can_design_chips: bool = False  # may start a custom-silicon programme during the run
    region: str = "us"  # for export controls
    subsidy_usd_per_month: float = 0.0  # public money on top of operating cash flow (sovereign compute)
    # operating cash flow of its whole business at the start (USD a month; filings, DEFAULT_HYPERSCALERS)
    operating_cash_flow_usd_per_month: float = 0.0
    credit_months: float = 0.0  # its own credit limit in months of AI cash flow (0: the [clouds] default)
    debt_service_usd_per_month: float = 0.0  # interest and repayments to lenders outside the model (neocloud debt)


@dataclass(frozen=True)
class LabSpec:
    """A group of AI labs with the same starting profile."""

    prefix: str
    count: int
    cash_usd: float  # starting cash of each lab
    revenue_usd: float  # starting monthly revenue of each lab
    frontier: bool


@dataclass(frozen=True)
class DealSpec:
    """A multi-year capacity deal scripted as an event: from `start`, for `months`, the cloud `buyer` takes
    `gigawatts` of facility power worth of `vendor`'s newest chip, spread evenly over the months (GW of data-
    centre capacity, as such deals are announced: chip TDP x (1 + host power) x PUE, market/model.py). The
    deal's orders are filled before any other order and are paid at the vendor's posted price; the cloud is
    bound by them even above what it would have chosen to spend."""

    name: str
    buyer: str  # hyperscaler id
    vendor: str  # vendor id
    gigawatts: float  # GW of facility power over the deal's life
    start: str  # YYYY-MM
    months: int


# TrendForce 2024 shares of high-end AI servers (MSFT 20.2%, GOOG 16.6%, AWS 16%, META 10.8%) [2];
# Oracle and CoreWeave shares and internal-use shares are estimates.
# Operating cash flow of the whole business, the year before the run [P, 10-K net cash from operating activities]:
# Microsoft FY2023 (to June 2023) $87.6B; Alphabet 2023 $101.7B; Amazon 2023 $84.9B; Meta 2023 $71.1B; Oracle
# FY2023 (to May 2023) $17.2B; a twelfth of each a month. CoreWeave (private until 2025): est $1.2B a year, a
# levered neocloud that finances its fleet with debt against its rental contracts. The Chinese clouds: Alibaba
# FY2023 ~$29B, Tencent 2023 ~$31B, Baidu 2023 ~$5B (RMB at ~7.1 per USD; der). Other buyers: est $24B a year
# (enterprises', sovereigns' and neoclouds' budgets for AI, far beyond their starting chip budget of ~$4B a year).
DEFAULT_HYPERSCALERS = (
    HyperscalerSpec("microsoft", "Microsoft Azure", 0.202, 0.35, can_design_chips=True,
                    operating_cash_flow_usd_per_month=87.6e9 / 12),
    HyperscalerSpec("google", "Google Cloud", 0.166, 0.60, inhouse_vendor="google", can_design_chips=True,
                    operating_cash_flow_usd_per_month=101.7e9 / 12),
    HyperscalerSpec("aws", "Amazon Web Services", 0.160, 0.25, inhouse_vendor="aws", can_design_chips=True,
                    operating_cash_flow_usd_per_month=84.9e9 / 12),
    HyperscalerSpec("meta", "Meta", 0.108, 1.00, can_design_chips=True, operating_cash_flow_usd_per_month=71.1e9 / 12),
    HyperscalerSpec("oracle", "Oracle Cloud", 0.060, 0.05, operating_cash_flow_usd_per_month=17.2e9 / 12),
    # CoreWeave borrows against its customers' multi-year take-or-pay contracts: est 48 months of cash flow (its
    # delayed-draw term loans of 2023-24, $2.3B and $7.6B, were secured on contracted GPU capacity; S-1, 2025-03)
    HyperscalerSpec("coreweave", "CoreWeave (neocloud)", 0.050, 0.0, operating_cash_flow_usd_per_month=1.2e9 / 12,
                    credit_months=48.0),
    # Chinese clouds in aggregate (est: China ~10-15% of NVIDIA data-centre revenue before 2023 controls);
    # they design accelerators too (Alibaba, Baidu Kunlun)
    HyperscalerSpec("china-cloud", "Chinese clouds (aggregate)", 0.060, 0.6, region="cn", can_design_chips=True,
                    operating_cash_flow_usd_per_month=65e9 / 12),
    # Everyone else who buys high-end AI servers: the shares above sum to 0.806 of the starting budget, and Omdia
    # names only 1.5M of the 3.9M NVIDIA high-end GPUs of 2024 as bought by the big four, ByteDance and Tencent
    # (../shared/reference/history_2023_2025.md s3, s6). The rest: neoclouds beyond CoreWeave, xAI and Tesla,
    # sovereign and enterprise buyers. Share = 1 - the named shares (der); half for their own AI work (est);
    # they design no chips.
    HyperscalerSpec("other-buyers", "Other buyers (neoclouds, xAI, sovereigns, enterprises)", 0.194, 0.5,
                    operating_cash_flow_usd_per_month=24e9 / 12),
)

# Stylised lab population (est): a few frontier labs with billions, many smaller ones.
DEFAULT_LABS = (
    # frontier revenue: ~$0.5B annualised across the four at the start of 2023 (est: OpenAI ~$1.3B annualised
    # by Oct 2023 and ~$2B by Dec 2023 after growing all year; Anthropic far smaller; history_2023_2025.md s8)
    # frontier cash at the start: ~$12B across the four (est: Microsoft's ~$10B investment in OpenAI, Jan 2023,
    # much of it Azure credits drawn over years, Bloomberg/Semafor via press; Anthropic's ~$0.7B raised by early
    # 2023 and Inflection's ~$0.2B, company announcements via press); was 6e9 each, which made labs want twice
    # the rental capacity there was in January 2023 and NVIDIA's Feb-Apr 2023 revenue 34% too high
    LabSpec("frontier", 4, cash_usd=3e9, revenue_usd=1.0e7, frontier=True),
    LabSpec("scaleup", 8, cash_usd=8e8, revenue_usd=1.0e7, frontier=False),
    LabSpec("small", 14, cash_usd=1e8, revenue_usd=1.0e6, frontier=False),
)


@dataclass(frozen=True)
class VentureConfig:
    """The venture side: startups, VC firms and their syndication network. Money in USD.

    Growth, selection and syndication parameters are estimates chosen (cal) so the baseline's emergent
    deal outcomes land near the venture targets of ../shared/reference/calibration_targets.md.
    """

    enabled: bool = True
    firms: int = positive(200, high=100_000)  # VC firms (each raises successive funds)
    startups_per_month: float = number(60.0, high=100_000)  # mean of a Poisson number of new startups seeking seed
    # The reputation loop's channels, each with its own switch (and one master switch for all four):
    information_advantage: bool = True  # network and reputation sharpen signals and bring deal flow (and invitations)
    founder_sorting: bool = True  # founders take the most reputable lead among the firms that offer (else any offer)
    reputation_discount: bool = True  # a reputable lead prices the round lower, up to 12% at the top (Hsu 2004)
    value_added: bool = True  # a reputable lead adds growth to the startups it leads (value_add_drift)
    reputation_loop: bool = True  # master switch: False turns all four channels off
    # new LP commitments to venture a year, before recycled distributions (est, scaled; set so that funds call
    # about half their commitments in 24 months, the deployment pace of market/data/venture_terms.toml)
    lp_pool_usd_per_year: float = number(6.0e9)
    # scenario lever: higher rates cut LP appetite and exit multiples (LP appetite is 1 - 2 x premium: none at 0.5)
    rate_premium: float = number(0.0, high=0.5)
    # a firm's typical gap between funds: a fund's size is a cycle's share of the LP pool, and the starting funds'
    # vintages are spread over one cycle (when a firm raises is its own decision: VentureFund.ready_to_raise)
    fund_cycle_months: int = positive(36, high=1200)
    # fund terms: defaults from market/data/venture_terms.toml ([fund], with their sources)
    investment_period_months: int = positive(TERMS.fund.investment_period_months, high=1200)
    fund_life_months: int = positive(TERMS.fund.fund_life_months, high=1200)
    # management fee on committed capital over the investment period (the 2 of "2 and 20"; then a step-down)
    fee_rate_per_year: float = share(TERMS.fund.fee_rate_per_year)
    reserve_share: float = share(TERMS.fund.reserve_share)  # share of a fund kept for follow-on rounds
    # s.d. of logs (quality, signals, revenue shocks): at most 10, e^(10 s.d.) is already 2e4-fold
    quality_sigma: float = positive(1.0, high=10.0)  # s.d. of startups' log latent quality (lognormal quality)
    signal_noise: float = positive(1.2, high=10.0)  # s.d. of a firm's signal of log quality without information adv.
    information_gain: float = number(6.0, high=1000)  # signal noise divided by (1 + gain x information advantage)
    deal_flow_gain: float = number(6.0, high=1000)  # deal-flow weight 1 + gain x information advantage
    candidates_per_deal: int = positive(6, high=1000)  # firms that see each deal
    seed_bar: float = number(1.0)  # a firm offers when its signal of log quality exceeds this bar
    # monthly log-revenue drifts: at most 1 (e^1, 2.7x a month), else revenue overflows within a year
    growth_drift: float = number(0.05, low=-1.0, high=1.0)  # monthly drift of an average startup (before the drag)
    quality_drift: float = number(0.05, high=1.0)  # extra drift per unit of log quality
    value_add_drift: float = number(0.005, high=1.0)  # extra drift from a lead with the top reputation (by its rank)
    growth_volatility: float = positive(0.20, high=10.0)  # monthly s.d. of log revenue
    # growth fades with scale: drift x max(0, 1 - ln(ARR / first ARR) / ln(saturation ARR / first ARR))
    saturation_arr_usd: float = positive(1e9)
    max_cheque_share: float = share(0.015)  # a lead puts at most this share of its fund into one first cheque
    compute_cost_share: float = number(0.35, high=10)  # inference compute / revenue at the starting rental price
    base_compute_usd: float = number(2.0e4)  # monthly compute of a pre-scale product at the starting rental price
    revenue_multiple: float = positive(12.0)  # exit and pricing multiple of annualised revenue at the start
    centrality_interval: int = positive(12, high=1200)  # months between network-metric computations
    edge_decay_per_year: float = share(0.3)  # unused syndication ties fade
    syndicate_max: int = number(4, high=1000)  # co-investors a lead may invite

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class ChoiceConfig:
    """[choice] Buyers' choice among chips: a logit over USD per unit of useful work."""

    # alpha: utility = -alpha log(USD per useful work) ... (fitted); exp() of the logit overflows past ~700
    price_sensitivity: float = positive(3.0, high=100)
    # utility lost per unit of (1 - vendor software maturity) (fitted): the cost of leaving the installed software
    # stack. It applies to every purchase, a cloud's own chips for its own work too (an immature in-house stack is
    # charged on its owner's work: market/phases/selling.py), and to labs' rentals (market/rental.py).
    switching_cost: float = number(3.5, high=100)
    choice_noise: float = number(0.15, high=10.0)  # s.d. of monthly buyer-chip utility shocks
    offered_generations: int = number(2, high=100)  # each vendor sells its newest n chips

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class DemandConfig:
    """[demand] Clouds' own AI demand and the workload mix, in calendar time."""

    # Hyperscaler accelerator spend at the start: NVIDIA data-centre revenue Q1 FY24 (Feb-Apr 2023)
    # $4.28B a quarter, about $1.4B a month, plus TPUs and others: ~$1.8B a month (der).
    start_budget_usd: float = positive(1.8e9)
    # Clouds' own AI demand and labs' revenue follow the economy's adoption of AI (market/adoption.py): diffusion
    # toward a potential that rises with capability, which follows the industry's cumulative training compute.
    # The three are fitted to the observed path (calibrate-history); nothing is a function of the calendar.
    start_adoption: float = number(0.1, high=1.0, low_open=True)  # share of the start's potential in use (fitted)
    adoption_speed: float = number(0.2, high=1.0)  # logistic diffusion rate toward the potential, per month (fitted)
    # kappa: doublings of AI's potential per doubling of cumulative training compute (fitted)
    capability_elasticity: float = number(1.0, high=10.0)
    # eta: clouds' own useful-work demand ~ (its market's cost of useful work)^-eta (fitted; > 1: elastic)
    demand_elasticity: float = positive(1.2, high=10)
    # AI's economic potential, USD a year: the value of the use at which adoption saturates, priced at the start's
    # price of AI (market/adoption.py). McKinsey & Company, "The economic potential of generative AI" (2023-06):
    # $2.6-4.4T a year across 63 use cases; the upper end (reading the value as the bound on what AI use is worth
    # at the start's price is an estimate). inf: no bound (from Python; a config file takes at most 1e15).
    ai_value_potential_usd_per_year: float = positive(4.4e12)
    inference_share_start: float = share(0.35)  # hyperscaler workload mix, share of inference (est)...
    inference_share_end: float = share(0.75)  # ...moving linearly over the schedule window below
    # The workload mix's schedule runs in calendar time:
    # its start value holds at `schedule_start`, its end value `schedule_months` later and after. So a
    # run of M months equals the first M months of any longer run with the same seed (tested exactly).
    schedule_start: str = "2023-01"
    schedule_months: int = positive(120, high=1200)

    def __post_init__(self):
        check_bounds(self)

    def schedule_progress(self, date: str) -> float:
        """How far `date` (YYYY-MM) is through the schedule window, in [0, 1] (calendar time, not run time)."""
        elapsed = months_between(self.schedule_start, date)
        return min(1.0, max(0.0, elapsed / max(self.schedule_months - 1, 1)))

    def growth_at(self, start: float, end: float, date: str) -> float:
        """A value moving linearly from `start` (at schedule_start) to `end` (schedule_months later) at `date`."""
        return start + (end - start) * self.schedule_progress(date)



@dataclass(frozen=True)
class CloudConfig:
    """[clouds] How clouds plan capex, price rentals and fail."""

    capex_utilisation_target: float = share(0.85)  # fleet utilisation clouds plan for (est)
    # share of the gap between planned and desired capex closed each month (cal): above 1 it overshoots to
    # negative capex
    capex_response: float = share(0.5)
    capex_adjustment_months: float = positive(6.0, high=120)  # months to close the gap between fleet and target (est)
    # Clouds raise rental prices above cost-plus while labs want more than they offer, closing this share of the
    # (log) gap to the clearing price each month, and lower them as supply catches up (est: the same stickiness
    # as vendors' margins, margin_adjustment; H100 rentals were $4-8/h in the 2023 shortage against ~$2-3 of
    # cost-plus: ~$4.70 at launch, peaks above $8, neoclouds 2023, ../shared/reference/history_2023_2025.md s5 [E])
    rental_price_adjustment: float = share(0.5)
    # A cloud whose cash goes negative is insolvent: it stops buying chips for good, its fleet is sold to
    # the solvent cloud with the most cash at this share of what it paid (est: distressed GPU sales), and
    # what the sale does not cover is written off by its lenders (outside the model).
    distressed_sale_share: float = share(0.5)
    # Budgets. A cloud's cash comes from its whole business, not from AI: its operating cash flow (HyperscalerSpec)
    # grows at `business_growth_per_year` (est: the big four's revenue grew ~11-13% in 2023-24, 10-Ks), and
    # `ai_cash_share` of it is left for AI chips after dividends, buybacks and other capex (der from the big four's
    # 2023 10-Ks: ~$143B of buybacks and dividends and about half of $151B of capex for other uses, against $345B
    # of operating cash flow: ~37%). Its own AI work earns what renting it would cost (its rental price), rentals
    # earn what labs pay. Beyond its cash it borrows, up to `credit_months` of its AI cash flow (est: investment-
    # grade leverage of about one year of cash flow), at `interest_rate_per_year` (est: US investment-grade
    # corporate yields ~4.5-5.5% in 2023-25). A cloud whose debt passes the limit is insolvent.
    business_growth_per_year: float = number(0.10, high=1.0)
    ai_cash_share: float = share(0.35)
    credit_months: float = number(12.0, high=1200)
    interest_rate_per_year: float = number(0.05, high=1.0)
    # cash beyond this many months of its AI cash flow is returned to shareholders (buybacks, dividends: est; the
    # big four held ~$300B of cash and securities against ~$345B a year of operating cash flow in 2023, 10-Ks)
    cash_buffer_months: float = number(12.0, high=1200)

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class LabFinanceConfig:
    """[lab_finance] AI labs' revenue and funding."""

    lab_runway_months: float = positive(18.0)  # labs spend cash / runway each month (est)
    # beta: doublings of a lab's revenue per doubling of its cumulative compute, its own capability (fitted since
    # 2026-12: labs' revenue grew faster than clouds' own AI demand, ~$0.5B -> $2B -> $7B -> $29B annualised from
    # end-2022 to end-2025 [2], and this is the mechanism that lets it)
    lab_revenue_elasticity: float = number(0.35, high=10)
    # round size = annualised revenue x multiple (der, est): OpenAI raised $6.6B (2024-10, company post) on ~$3.7B of
    # 2024 revenue (1.8x) and $40B (2025-03, company post) on ~$12.7B expected for 2025 (3.1x); Anthropic $13B
    # (2025-09, company post) at a ~$5B run-rate (2.6x); press figures for the revenues. Fitted until 2026-12, when
    # compute commitments made labs raise against what their contracts call for and the fitted 37.5x became a loop
    lab_funding_multiple: float = number(2.5)
    # ...at the revenue growth those rounds were raised at: the multiple investors pay scales with growth (valuations
    # are revenue times a multiple that rises with growth, and a round sells a slice of the valuation), so a lab
    # growing at this fraction a year or faster raises up to the full multiple and one that does not grow raises
    # nothing: it lives on its revenue. OpenAI's run-rate grew ~$2B -> ~$6B over 2024 (+200%) before its 2024-10
    # and 2025-03 rounds (history_2023_2025.md, [2]); Anthropic's grew faster (~$1B -> ~$5B in eight months) at a
    # similar multiple, so the full multiple is reached at +200% (est)
    funding_growth_reference: float = positive(2.0, high=100.0)
    # labs' revenue ~ (adoption index)^elasticity: 1, as clouds' own AI work follows it (fitted until 2026-12, when
    # labs' own capability, lab_revenue_elasticity, took its place among the fitted parameters)
    lab_adoption_elasticity: float = number(1.0, high=10.0)
    # Multi-year compute commitments (market/commitments.py). Each month a lab books this share of the useful work
    # it expects to use `commitment_lead_months` ahead (what it uses now, grown at its revenue growth over the last
    # year measured from its revenue's high of 12 months ago, at most `commitment_growth_cap` a year), take-or-pay for
    # `commitment_term_months`, at its cloud's price of the day, and no more than it could pay then, counting on the
    # round its growth earns (agents/lab.py); 0 switches commitments off. Estimates from the 2025 deals
    # (../shared/reference/history_2025H2.md and history_2023_2025.md): OpenAI-AMD signed 2025-10 for a first GW in
    # H2 2026, Anthropic-Google signed 2025-10 for TPUs coming online in 2026 (lead ~9-15 months); OpenAI-CoreWeave
    # ($11.9B, 2025-03) and OpenAI-Oracle (~$300B, 2025-09) run about five years; labs' commitments far exceed their
    # revenue, so most of what they expect to use is booked (share est).
    commitment_share: float = share(0.6)
    commitment_lead_months: int = number(12, high=120)
    commitment_term_months: int = positive(60, high=240)
    commitment_growth_cap: float = number(3.0, high=100.0)  # fraction a year (3.0: at most 4x a year)

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class SupplyConfig:
    """[supply] Packaging capacity, its allocation among vendors, and how vendors commit supply."""

    # Advanced-packaging/HBM capacity in HBM-GB-equivalents a month (a chip uses max(HBM GB, 16)).
    # Growth by calendar year: 2023 +100% (est: TSMC set out to double CoWoS output during 2023), 2024 +140%
    # (CoWoS 2.4x, Bernstein via press, 2nd), 2025 +80% (same source); from then on +20%/yr (est) plus
    # investment that responds to unfilled orders (suppliers build when order books exceed capacity).
    # Fitted within the range the units shipped allow (0.8x - 3x the ~1e7 HBM-GB a month that Epoch AI's 1.3M
    # NVIDIA GPUs of 2023 imply at ~80 GB, a 63% share and capacity doubling in the year; der):
    # history_calibration.toml; 3e7, the top of that range, where a fit with make-to-order supply left it, otherwise
    start_capacity_hbm_gb: float = positive(3e7)
    # calendar years from the first, the last repeating
    capacity_growth_by_year: tuple[float, ...] = (1.0, 1.4, 0.8, 0.2)
    capacity_growth_first_year: int = number(2023, high=2200)  # calendar year of capacity_growth_by_year[0]
    capacity_investment_response: float = number(1.5)  # extra yearly growth per unit of excess orders/capacity (est)
    capacity_scale: float = positive(1.0)  # scenario lever: multiplies all capacity (0.5 = halved)
    # allocation_t+1 = m * allocation_t + (1 - m) * order share_t: packaging shares follow orders slowly, as
    # CoWoS capacity is contracted ahead (TSMC allocates a year's capacity on customers' forecasts)
    # (fitted until 2026-12, held at that fit's value since: experiments/calibrate_history.py)
    allocation_memory: float = share(0.98)
    # A merchant whose first chip is due within this many months keeps its packaging share while it has
    # nothing on sale (est: CoWoS for a launch is contracted about a year ahead; TSMC's 2024 CoWoS was being
    # booked by NVIDIA and AMD in mid-2023, DigiTimes via press), so a launch is not starved by the months
    # in which it could take no orders.
    launch_booking_months: int = number(12)
    min_packaging_units_per_chip: float = number(16.0)
    # Supply with commitments: vendors order wafers, HBM and substrates this many months ahead, from their
    # own demand forecasts, with some headroom, and make at least that (above it, to order within their packaging
    # allocation); a reserve is booked against inventory beyond a few months of forecast sales and against
    # commitments beyond forecast orders. 6 months (est): a leading-node wafer takes about three to four months
    # through the fab before packaging and test; SK hynix said in May 2024 that its HBM for 2024 was sold out and
    # 2025's nearly so (booked about a year ahead, press reports of its earnings call); NVIDIA's FY24 10-K reports
    # $16.1B of inventory purchase and long-term supply and capacity obligations at 28 January 2024. 0: make to order.
    supply_lead_time_months: int = number(6, high=36)
    supply_headroom: float = share(0.05)
    inventory_cover_months: float = positive(3.0, high=120)
    rationing: str = "proportional"  # how short supply is shared: "proportional" or "largest_first"
    # A domestic vendor's own supply (regional.toml [[capacity]], used with [policy] regional_catalog): outside the
    # shared pool above, neither normalised with it nor reallocated by orders. After its last sourced year it grows
    # by this much a year (est: the pool's own growth from 2026, capacity_growth_by_year's last entry), and a
    # scenario may scale it.
    domestic_capacity_growth: float = number(0.2, low=-1.0, low_open=True, high=10.0)
    domestic_capacity_scale: float = positive(1.0, high=1000)

    def __post_init__(self):
        check_bounds(self)
        if self.rationing not in ("proportional", "largest_first"):
            raise ValueError(f"market config field 'rationing': must be proportional or largest_first, "
                             f"got {self.rationing!r}")

    def capacity_growth_in(self, year: int) -> float:
        """Scheduled yearly growth of packaging capacity in calendar `year` (the last entry repeats)."""
        growth = self.capacity_growth_by_year
        return growth[min(max(year - self.capacity_growth_first_year, 0), len(growth) - 1)]


@dataclass(frozen=True)
class PowerConfig:
    """[power] Data-centre power (market/power.py).

    Chips run only where a cloud has site power (facility W: TDP x (1 + host power) x PUE). A cloud orders new
    site power for the load it expects `site_lead_time_months` ahead plus a reserve; the industry can bring on
    only so much new site power a month (grid connections, construction), shared among clouds in proportion
    to their open orders; what a cloud is allotted is energised `site_lead_time_months` later. A cloud whose
    sites are full prices each chip's power envelope at a shadow price (USD per kWh) in its choice, and buys
    only what it can power; chips beyond its sites wait, idle, for power."""

    power_enabled: bool = True
    # est: leased powered shells and retrofits ~6 months (2023-24 AI capacity was mostly leased), new builds 18-24
    site_lead_time_months: int = number(6, high=120)
    site_power_reserve: float = number(0.15, high=100)  # est: site power planned above the expected load
    # est: headroom at the end of 2022 over the AI fleet's own draw (existing halls that could take AI racks
    # after a retrofit, and builds under way): the AI fleet drew ~1 GW of the ~20 GW of US data centres alone
    # (LBNL, Dec 2024: 176 TWh in 2023); 2023's AI chips went into existing and leased space
    site_power_start_reserve: float = number(1.5, high=1000)
    # New site power the industry can bring on for AI in its first calendar year, GW a year (est: IEA, Apr
    # 2025, world data-centre use 415 TWh in 2024 -> ~945 TWh in 2030, ~+10 GW of average load a year, about
    # half of it accelerated servers, at a ~0.6-0.7 load factor: ~7-8 GW of capacity a year), growing yearly by
    # `site_power_growth_per_year` (est: LBNL's 74-132 GW of US data-centre load in 2028 from ~20 GW in 2023)
    site_power_gw_per_year: float = positive(8.0, high=1e4)
    site_power_growth_per_year: float = number(0.15, high=10)
    site_power_first_year: int = number(2023, high=2200)  # calendar year of site_power_gw_per_year

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class PricingConfig:
    """[pricing] How merchant vendors choose margins and spend their gross profit."""

    margin_grid_min: float = share(0.02)  # numerical bounds of the best-response search, not a target
    margin_grid_max: float = share(0.95)
    margin_grid_points: int = positive(94, high=10_000)
    # share of the gap to the best response closed each month: prices are sticky (list prices and supply contracts
    # are renegotiated over quarters); fitted to the 2023 - 2025 margins and revenues (history_calibration.toml)
    # (fitted to 2025-12 at the lower bound of its range, 0.03, and held there since: experiments/calibrate_history.py)
    margin_adjustment: float = field(default=0.03, metadata={"bounds": Bounds(0.0, 1.0, low_open=True, share=True)})
    # ...and the share a vendor that could not fill last month's orders closes toward a higher best response (der:
    # NVIDIA's GAAP gross margin went from 64.6% in Q1 FY24 to 74.0% in Q3 FY24 in the 2023 shortage, NVIDIA results
    # releases 2023-05 and 2023-11, history.toml; toward a best response of ~0.85 that is ~12% of the gap a month)
    scarce_margin_adjustment: float = share(0.12)
    rd_share_of_gross_profit: float = share(0.2)  # R&D reinvested (est: NVIDIA R&D ~10-25% of revenue)
    opex_share_of_revenue: float = share(0.05)  # SG&A (est)

    def __post_init__(self):
        check_bounds(self)
        if not self.margin_grid_min < self.margin_grid_max < 1:
            raise ValueError(f"market config field 'margin_grid_min': need 0 <= min < max < 1, "
                             f"got {self.margin_grid_min!r} and {self.margin_grid_max!r}")


@dataclass(frozen=True)
class SoftwareConfig:
    """[software] Software ecosystems' maturity in [0, 1]."""

    maturity_learning: float = number(0.03)  # monthly gain per unit of sqrt(installed-base share) x (1 - M)
    maturity_rd: float = number(0.01)  # monthly gain per unit of log10(1 + R&D / $100M) x (1 - M)
    maturity_decay: float = number(0.004)  # monthly loss x M x (1 - installed-base share): unused stacks rot

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class InhouseConfig:
    """[inhouse] Clouds' custom-silicon programmes (market/inhouse.py).

    A cloud that may design chips starts a programme when the present value of what it expects to save on its chip
    bill over the programme's life exceeds the present value of the programme's design costs (both discounted at
    the clouds' cost of capital, tco.toml). The saving is the fall in its price index of useful work when its own
    chip joins its choice set, priced at cost plus the design partner's margin and charged the switching cost of
    its immature stack (market/inhouse.py `saving_share`)."""

    inhouse_enabled: bool = True
    # first chip after the delay (est: Maia 100 announced 2023-11 after a ~2019 start; MTIA work from 2020, v1
    # 2023-05, 2nd; OpenAI's Broadcom accelerator ~18 months in development by 2025-10-13, first racks H2 2026,
    # OpenAI/Broadcom release; Maia 200 slipped to 2026, The Information 2025-06-27 via press, 2nd)
    inhouse_delay_months: int = positive(30, high=1200)
    inhouse_start_maturity: float = share(0.35)  # its stack's maturity at first delivery (est)
    # custom-ASIC partner's gross margin on the chips it builds (Broadcom semiconductor segment ~67%, Q3 FY25 [P];
    # ~70% on TPU orders against MediaTek's 30%+, Wallstreetcn 2025-12-07, 2nd; est 0.6 across partners)
    design_partner_margin: float = share(0.6)
    # Design cost (NRE) of one generation of a custom accelerator, paid to the design partner and its own team over
    # the generation's cadence (est): IBS puts the design of a leading-edge chip at $542M (5nm, 2018) and ~$725M
    # (2nm-class, a slide circulated mid-2023, ~$314M of it software and ~$154M verification; The Transcript via
    # techovedas, 2nd); SemiEngineering ("What will that chip cost?", 2023-11) argues such headline figures
    # overstate replicated-array AI chips. A hyperscaler XPU generation adds the rack, interconnect and compiler
    # work: est $1B a generation. (Published orders such as OpenAI's >$10B with Broadcom, Broadcom Q3 FY25 call
    # 2025-09-04, pay for production, which the partner's margin covers, not for design.)
    design_cost_usd_per_generation: float = number(1.0e9)
    # the life over which a cloud appraises a programme, after its first delivery (est: OpenAI-Broadcom deployment
    # 2026-2029, 2025-10-13; Google-Broadcom TPU supply reported through 2031; clouds' 5-year server lives, tco.toml)
    programme_life_years: float = positive(5.0, high=30.0)
    # the yearly growth of its chip spend a cloud carries forward, at most (est: big-four capex grew ~60% in 2025,
    # ../shared/reference/history_2025H2.md; faster recent growth is not extrapolated for five years)
    max_spend_growth_per_year: float = number(0.6, high=5.0)

    def __post_init__(self):
        check_bounds(self)


@dataclass(frozen=True)
class PolicyConfig:
    """[policy] Policy levers and scenario shocks (all off by default)."""

    open_stack_floor: float = share(0.0)  # an open stack makes every stack at least this mature...
    open_stack_start: str = ""  # ...from this month (YYYY-MM; "" = from the start)...
    open_stack_ramp_months: int = number(24, low=1, high=1200)  # ...reached linearly over this many months
    export_control_regions: tuple[str, ...] = ()  # buyer regions cut off from merchant chips at or above...
    export_control_min_tflops: float = number(600.0)  # ...this dense bf16 TFLOP/s (H100-class and up)...
    export_control_start: str = ""  # ...from this month
    # Offer regional.toml's parts: each vendor's export SKUs (A800, H800, H20, MI308X) next to its generations, and the
    # domestic vendors (Huawei Ascend, selling in "cn" from its own supply). Off: the main catalog only, as before.
    # Who may buy what follows market/regions.py's rule either way.
    regional_catalog: bool = False
    price_cap_vendor: str = ""  # a vendor whose gross margin is capped (antitrust remedy)...
    price_cap_margin: float = field(default=0.95, metadata={"bounds": Bounds(0.0, 1.0, True, True, True)})  # ...at this
    # ceiling...
    price_cap_start: str = ""  # ...from this month
    demand_shock_start: str = ""  # a bust: from this month...
    demand_shock_months: int = number(12, high=1200)  # ...for this long...
    demand_shock_scale: float = positive(1.0)  # ...own AI demand of clouds and lab revenue are multiplied by this
    # one model buyers serve (a small one: the on-device shift); "" follows the catalog's dated serving mix (dense
    # 70B-class in 2023, mixture-of-experts from 2025: hardware_catalog/data/paths.toml)
    serving_workload: str = ""
    startup_compute_price_scale: float = positive(1.0, high=1000)  # multiplies the rental price startups pay
    # An architecture shift: from `serving_shift_start` (YYYY-MM), buyers move this share of their serving to the
    # model `serving_shift_workload` (a state-space or hybrid one, say), linearly over serving_shift_months
    serving_shift_workload: str = ""
    serving_shift_start: str = ""
    serving_shift_months: int = number(24, low=1)
    serving_shift_share: float = share(0.7)
    # A power crunch: from `power_crunch_start`, the industry's new site power a month is multiplied by this
    power_crunch_start: str = ""
    power_crunch_scale: float = positive(1.0, high=100)

    def __post_init__(self):
        check_bounds(self)


SECTIONS = {"choice": ChoiceConfig, "demand": DemandConfig, "clouds": CloudConfig, "lab_finance": LabFinanceConfig,
            "supply": SupplyConfig, "power": PowerConfig, "pricing": PricingConfig, "software": SoftwareConfig,
            "inhouse": InhouseConfig, "policy": PolicyConfig}
# each section field's name -> its section (names are unique across sections, so a flat name finds its field)
SECTION_OF = {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)}
TOP_LEVEL = ("months", "start", "agent_report_interval")  # the [simulation] fields of MarketConfig


@dataclass(frozen=True)
class MarketConfig:
    """Everything the ComputeMarket model needs besides the hardware catalog and the seed: the run's length and
    start, one section per TOML table (each a frozen dataclass whose fields declare their ranges), the venture
    side, and the populations. Build one from flat field names with `MarketConfig.build(**fields)`, change one
    with `config.replace(**fields)`; behavioural parameters fitted to the history come from the catalog
    (`MarketConfig.build(catalog.fitted, ...)`), never from an import."""

    months: int = positive(120, high=1200)
    start: str = "2023-01"
    agent_report_interval: int = number(12, low=1, high=1200)  # months between agent-level snapshots
    choice: ChoiceConfig = field(default_factory=ChoiceConfig)
    demand: DemandConfig = field(default_factory=DemandConfig)
    clouds: CloudConfig = field(default_factory=CloudConfig)
    lab_finance: LabFinanceConfig = field(default_factory=LabFinanceConfig)
    supply: SupplyConfig = field(default_factory=SupplyConfig)
    power: PowerConfig = field(default_factory=PowerConfig)
    pricing: PricingConfig = field(default_factory=PricingConfig)
    software: SoftwareConfig = field(default_factory=SoftwareConfig)
    inhouse: InhouseConfig = field(default_factory=InhouseConfig)
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    venture: VentureConfig = field(default_factory=VentureConfig)
    hyperscalers: tuple[HyperscalerSpec, ...] = DEFAULT_HYPERSCALERS
    labs: tuple[LabSpec, ...] = DEFAULT_LABS
    capacity_deals: tuple[DealSpec, ...] = ()  # scripted multi-year capacity deals ([[deals]] in a config)
    vendors_disabled: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        check_bounds(self)

    @classmethod
    def build(cls, fitted: Iterable[tuple[str, float]] | Mapping[str, float] = (), **values) -> MarketConfig:
        """A config from flat field names (`price_sensitivity=3.0`, `months=24`, `venture=VentureConfig(...)`),
        each routed to its section; `fitted` (name, value) pairs (a catalog's `fitted`) give the defaults of the
        fields they name that `values` leaves unset."""
        pairs = fitted.items() if isinstance(fitted, Mapping) else fitted
        merged = {name: value for name, value in pairs if name in SECTION_OF or name in TOP_LEVEL}
        return cls().replace(**{**merged, **values})

    def replace(self, **values) -> MarketConfig:
        """A copy with the fields named (flat names, routed to their sections, or whole sections) replaced."""
        top = {f.name for f in fields(self)}
        by_section: dict[str, dict] = {}
        direct = {}
        for name, value in values.items():
            if name in SECTION_OF:
                by_section.setdefault(SECTION_OF[name], {})[name] = value
            elif name in top:
                direct[name] = value
            else:
                raise TypeError(f"MarketConfig has no field '{name}'")
        for section, changes in by_section.items():
            direct[section] = dataclasses.replace(direct.get(section, getattr(self, section)), **changes)
        return dataclasses.replace(self, **direct)

    def get(self, name: str):
        """The value of a field by its flat name (a section field or a top-level one)."""
        return getattr(getattr(self, SECTION_OF[name]), name) if name in SECTION_OF else getattr(self, name)

    def site_power_supply_w(self, date: str) -> float:
        """W of new site power the industry can bring on for AI in the month `date` (calendar time), with any
        power crunch of the policy."""
        p, policy = self.power, self.policy
        year = max(int(date[:4]) - p.site_power_first_year, 0)
        supply = p.site_power_gw_per_year * 1e9 / 12.0 * (1.0 + p.site_power_growth_per_year) ** year
        return supply * (policy.power_crunch_scale
                         if policy.power_crunch_start and self.active(policy.power_crunch_start, date)
                         else 1.0)

    def active(self, start: str, date: str) -> bool:
        """Whether a policy that starts at `start` (YYYY-MM, "" = the run's start) is on at `date`."""
        return date >= (start or self.start)


def fitted_config(catalog=None, **values) -> MarketConfig:
    """`MarketConfig.build` with the history fit of `catalog` (the packaged catalog, read now, if None) as the
    defaults of the fitted fields: the config the baseline runs with, for code that builds one without a TOML file
    (tests, benchmarks, the dashboard)."""
    if catalog is None:
        from hardware_catalog import load_catalog

        catalog = load_catalog()
    return MarketConfig.build(catalog.fitted, **values)
