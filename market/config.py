"""Typed configuration of the market model, with defaults and where each default comes from.

All money is nominal USD; all rates are per month unless the name says otherwise. The TOML front end
(experiments) validates files into these objects. No key sets a vendor's margin: margins are chosen
by the vendor agents (only the numerical bounds of their search grid are configurable).

Defaults read from FITTED (price sensitivity, switching cost, the AI boom's scale, midpoint and width, the
labs' boom scale and funding multiple, demand elasticity, vendors' margin stickiness) are fitted to the observed
2023 - mid-2025 path by `compute-market calibrate-history` (hardware_catalog/data/history_calibration.toml);
defaults marked (cal) are older hand choices aimed at ../shared/reference/calibration_targets.md. All are
behavioural parameters, never outputs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from hardware_catalog import months_between
from hardware_catalog.loader import load_history_calibration

# Behavioural parameters fitted to the observed 2023 - mid-2025 path (`compute-market calibrate-history
# --write` writes hardware_catalog/data/history_calibration.toml); the literal beside each is the pre-fit value.
FITTED = load_history_calibration()


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
DEFAULT_HYPERSCALERS = (
    HyperscalerSpec("microsoft", "Microsoft Azure", 0.202, 0.35, can_design_chips=True),
    HyperscalerSpec("google", "Google Cloud", 0.166, 0.60, inhouse_vendor="google", can_design_chips=True),
    HyperscalerSpec("aws", "Amazon Web Services", 0.160, 0.25, inhouse_vendor="aws", can_design_chips=True),
    HyperscalerSpec("meta", "Meta", 0.108, 1.00, can_design_chips=True),
    HyperscalerSpec("oracle", "Oracle Cloud", 0.060, 0.05),
    HyperscalerSpec("coreweave", "CoreWeave (neocloud)", 0.050, 0.0),
    # Chinese clouds in aggregate (est: China ~10-15% of NVIDIA data-centre revenue before 2023 controls);
    # they design accelerators too (Alibaba, Baidu Kunlun)
    HyperscalerSpec("china-cloud", "Chinese clouds (aggregate)", 0.060, 0.6, region="cn", can_design_chips=True),
    # Everyone else who buys high-end AI servers: the shares above sum to 0.806 of the starting budget, and Omdia
    # names only 1.5M of the 3.9M NVIDIA high-end GPUs of 2024 as bought by the big four, ByteDance and Tencent
    # (../shared/reference/history_2023_2025.md s3, s6). The rest: neoclouds beyond CoreWeave, xAI and Tesla,
    # sovereign and enterprise buyers. Share = 1 - the named shares (der); half for their own AI work (est);
    # they design no chips.
    HyperscalerSpec("other-buyers", "Other buyers (neoclouds, xAI, sovereigns, enterprises)", 0.194, 0.5),
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
    firms: int = 200  # VC firms (each raises successive funds)
    startups_per_month: float = 60.0  # mean of a Poisson number of new startups seeking seed money
    # The reputation loop's channels, each with its own switch (and one master switch for all four):
    information_advantage: bool = True  # network and reputation sharpen signals and bring deal flow (and invitations)
    founder_sorting: bool = True  # founders take the most reputable lead among the firms that offer (else any offer)
    reputation_discount: bool = True  # a reputable lead prices the round lower, up to 12% at the top (Hsu 2004)
    value_added: bool = True  # a reputable lead adds growth to the startups it leads (value_add_drift)
    reputation_loop: bool = True  # master switch: False turns all four channels off
    lp_pool_usd_per_year: float = 1.2e10  # LP commitments available to the funds raised each year (est, scaled)
    rate_premium: float = 0.0  # scenario lever: higher rates cut LP appetite and exit multiples
    fund_cycle_months: int = 36  # a firm raises its next fund this long after the previous one
    investment_period_months: int = 48
    fund_life_months: int = 120
    fee_rate_per_year: float = 0.02  # management fee on committed capital (the 2 of "2 and 20")
    reserve_share: float = 0.5  # share of a fund kept for follow-on rounds
    quality_sigma: float = 1.0  # s.d. of startups' log latent quality (skewed, lognormal quality)
    signal_noise: float = 1.2  # s.d. of a firm's signal of log quality without information advantage
    information_gain: float = 6.0  # signal noise divided by (1 + gain x information advantage)
    deal_flow_gain: float = 6.0  # deal-flow weight 1 + gain x information advantage
    candidates_per_deal: int = 6  # firms that see each deal
    seed_bar: float = 1.0  # a firm offers when its signal of log quality exceeds this bar
    growth_drift: float = 0.05  # monthly log-revenue drift of an average startup (before the volatility drag)
    quality_drift: float = 0.05  # extra drift per unit of log quality
    value_add_drift: float = 0.005  # extra drift from a lead with the top reputation (scaled by its rank)
    growth_volatility: float = 0.20  # monthly s.d. of log revenue
    # growth fades with scale: drift x max(0, 1 - ln(ARR / first ARR) / ln(saturation ARR / first ARR))
    saturation_arr_usd: float = 1e9
    max_cheque_share: float = 0.015  # a lead puts at most this share of its fund into one first cheque
    compute_cost_share: float = 0.35  # inference compute as a share of revenue at the starting rental price
    base_compute_usd: float = 2.0e4  # monthly compute of a pre-scale product at the starting rental price
    revenue_multiple: float = 12.0  # exit and pricing multiple of annualised revenue at the start
    centrality_interval: int = 12  # months between network-metric computations
    edge_decay_per_year: float = 0.3  # unused syndication ties fade
    syndicate_max: int = 4  # co-investors a lead may invite


@dataclass(frozen=True)
class MarketConfig:
    """Everything the ComputeMarket model needs besides the hardware catalog and the seed."""

    months: int = 120
    start: str = "2023-01"

    # --- buyers' choice among chips (logit over USD per useful work) ---------------------------
    # alpha: utility = -alpha log(USD per useful work) ... (fitted)
    price_sensitivity: float = FITTED.get("price_sensitivity", 3.0)
    # utility lost per unit of (1 - vendor software maturity) (fitted)
    switching_cost: float = FITTED.get("switching_cost", 3.5)
    # A hyperscaler buys for two purposes: its own AI work (its own chips carry no switching cost:
    # it co-designs their software) and capacity it rents to labs (which must suit labs' software).
    choice_noise: float = 0.15  # s.d. of monthly buyer-chip utility shocks
    offered_generations: int = 2  # each vendor sells its newest n chips

    # --- demand ---------------------------------------------------------------------------------
    # Hyperscaler accelerator spend at the start: NVIDIA data-centre revenue Q1 FY24 (Feb-Apr 2023)
    # $4.28B a quarter, about $1.4B a month, plus TPUs and others: ~$1.8B a month (der).
    start_budget_usd: float = 1.8e9
    # Clouds' own AI demand follows the AI boom: a logistic S-curve in calendar time on top of a trend. Its
    # index is trend^t x (1 + scale x s((t - midpoint) / width)) / (1 + scale x s(-midpoint / width)), t in
    # months from schedule_start, s the logistic function: growth starts modest (early 2023), peaks near the
    # midpoint and fades to the trend. Scale, midpoint and width are fitted to the observed 2023 - mid-2025
    # path (calibrate-history); the trend, 1%/mo (~13%/yr), is an estimate of growth after the boom.
    ai_boom_scale: float = FITTED.get("ai_boom_scale", 10.0)
    ai_boom_midpoint_months: float = FITTED.get("ai_boom_midpoint_months", 18.0)
    ai_boom_width_months: float = FITTED.get("ai_boom_width_months", 6.0)
    internal_demand_growth_end: float = 0.01  # ~13%/yr trend beyond the boom (est; not fitted: see calibrate_history)
    capex_utilisation_target: float = 0.85  # fleet utilisation clouds plan for (est)
    capex_response: float = 0.5  # share of the gap between planned and desired capex closed each month (cal)
    capex_adjustment_months: float = 6.0  # months over which a cloud closes the gap between fleet and target (est)
    # eta: clouds' own useful-work demand ~ (its market's cost of useful work)^-eta (fitted; > 1: elastic)
    demand_elasticity: float = FITTED.get("demand_elasticity", 1.2)
    inference_share_start: float = 0.35  # hyperscaler workload mix, share of inference (est)...
    inference_share_end: float = 0.75  # ...moving linearly over the schedule window below
    # Every tapering schedule (demand growth, adoption growth, inference share) runs in calendar time:
    # its start value holds at `schedule_start`, its end value `schedule_months` later and after. So a
    # run of M months equals the first M months of any longer run with the same seed (tested exactly).
    schedule_start: str = "2023-01"
    schedule_months: int = 120
    # Clouds raise rental prices above cost-plus while labs want more than they offer, closing this share of the
    # (log) gap to the clearing price each month, and lower them as supply catches up (est: the same stickiness
    # as vendors' margins, margin_adjustment; H100 rentals were $4-8/h in the 2023 shortage against ~$2-3 of
    # cost-plus: ~$4.70 at launch, peaks above $8, neoclouds 2023, ../shared/reference/history_2023_2025.md s5 [E])
    rental_price_adjustment: float = 0.5
    lab_runway_months: float = 18.0  # labs spend cash / runway each month (est)
    lab_revenue_elasticity: float = 0.35  # revenue ~ (cumulative compute)^beta (est)
    # round size = annualised revenue x multiple (est)
    lab_funding_multiple: float = FITTED.get("lab_funding_multiple", 10.0)
    # labs' revenue from AI adoption rides the same boom (same midpoint and width) with its own scale (fitted:
    # frontier-lab revenue ~$0.5B -> $2B -> $7B annualised, end-2022 -> end-2023 -> end-2024 [2]) and trend
    lab_boom_scale: float = FITTED.get("lab_boom_scale", 20.0)
    lab_adoption_growth_end: float = 0.01

    # --- supply ---------------------------------------------------------------------------------
    # Advanced-packaging/HBM capacity in HBM-GB-equivalents a month (a chip uses max(HBM GB, 16)).
    # Growth by calendar year: 2023 +100% (est: TSMC set out to double CoWoS output during 2023), 2024 +140%
    # (CoWoS 2.4x, Bernstein via press, 2nd), 2025 +80% (same source); from then on +20%/yr (est) plus
    # investment that responds to unfilled orders (suppliers build when order books exceed capacity).
    # 3e7: the top of the range the units shipped allow (0.8x - 3x the ~1e7 HBM-GB a month that Epoch AI's
    # 1.3M NVIDIA GPUs of 2023 imply at ~80 GB, a 63% share and capacity doubling in the year; der); an
    # earlier history fit, free within that range, went to its top, so it is held there and no longer fitted
    start_capacity_hbm_gb: float = 3e7
    # calendar years from the first, the last repeating
    capacity_growth_by_year: tuple[float, ...] = (1.0, 1.4, 0.8, 0.2)
    capacity_growth_first_year: int = 2023  # calendar year of capacity_growth_by_year[0]
    capacity_investment_response: float = 1.5  # extra yearly growth per unit of excess orders/capacity (est)
    capacity_scale: float = 1.0  # scenario lever: multiplies all capacity (0.5 = halved)
    # allocation_t+1 = m * allocation_t + (1 - m) * order share_t: packaging shares follow orders slowly, as
    # CoWoS capacity is contracted ahead (TSMC allocates a year's capacity on customers' forecasts)
    # (fitted until 2026-12, held at that fit's value since: experiments/calibrate_history.py)
    allocation_memory: float = 0.98
    # A merchant whose first chip is due within this many months keeps its packaging share while it has
    # nothing on sale (est: CoWoS for a launch is contracted about a year ahead; TSMC's 2024 CoWoS was being
    # booked by NVIDIA and AMD in mid-2023, DigiTimes via press), so a launch is not starved by the months
    # in which it could take no orders.
    launch_booking_months: int = 12
    min_packaging_units_per_chip: float = 16.0
    # Supply with commitments: vendors order wafers, HBM and packaging this many months ahead, from their
    # own demand forecasts (est: CoWoS and HBM are booked two to three quarters ahead; NVIDIA reports
    # multi-quarter purchase obligations in its 10-K), with some headroom; a reserve is booked against
    # inventory beyond a few months of forecast sales and against commitments beyond forecast orders.
    supply_lead_time_months: int = 0  # 0: make to order (see the note on the baseline in the README)
    supply_headroom: float = 0.05
    inventory_cover_months: float = 3.0

    # --- data-centre power (market/power.py) ------------------------------------------------------
    # Chips run only where a cloud has site power (facility W: TDP x (1 + host power) x PUE). A cloud orders new
    # site power for the load it expects `site_lead_time_months` ahead plus a reserve; the industry can bring on
    # only so much new site power a month (grid connections, construction), shared among clouds in proportion
    # to their open orders; what a cloud is allotted is energised `site_lead_time_months` later. A cloud whose
    # sites are full prices each chip's power envelope at a shadow price (USD per kWh) in its choice, and buys
    # only what it can power; chips beyond its sites wait, idle, for power.
    power_enabled: bool = True
    # est: leased powered shells and retrofits ~6 months (2023-24 AI capacity was mostly leased), new builds 18-24
    site_lead_time_months: int = 6
    site_power_reserve: float = 0.15  # est: site power planned above the load a cloud expects at the lead time
    # est: headroom at the end of 2022 over the AI fleet's own draw (existing halls that could take AI racks
    # after a retrofit, and builds under way): the AI fleet drew ~1 GW of the ~20 GW of US data centres alone
    # (LBNL, Dec 2024: 176 TWh in 2023); 2023's AI chips went into existing and leased space
    site_power_start_reserve: float = 1.5
    # New site power the industry can bring on for AI in its first calendar year, GW a year (est: IEA, Apr
    # 2025, world data-centre use 415 TWh in 2024 -> ~945 TWh in 2030, ~+10 GW of average load a year, about
    # half of it accelerated servers, at a ~0.6-0.7 load factor: ~7-8 GW of capacity a year), growing yearly by
    # `site_power_growth_per_year` (est: LBNL's 74-132 GW of US data-centre load in 2028 from ~20 GW in 2023)
    site_power_gw_per_year: float = 8.0
    site_power_growth_per_year: float = 0.15
    site_power_first_year: int = 2023  # calendar year of site_power_gw_per_year

    # --- vendors --------------------------------------------------------------------------------
    margin_grid_min: float = 0.02  # numerical bounds of the best-response search, not a target
    margin_grid_max: float = 0.95
    margin_grid_points: int = 94
    # share of the gap to the best response closed each month: prices are sticky (list prices and supply contracts
    # are renegotiated over quarters); fitted to the 2023 - mid-2025 margins and revenues (history_calibration.toml)
    margin_adjustment: float = FITTED.get("margin_adjustment", 0.5)
    rd_share_of_gross_profit: float = 0.2  # R&D reinvested (est: NVIDIA R&D ~10-25% of revenue)
    opex_share_of_revenue: float = 0.05  # SG&A (est)

    # --- software ecosystems (maturity in [0, 1]) -----------------------------------------------
    maturity_learning: float = 0.03  # monthly gain per unit of sqrt(installed-base share) x (1 - M)
    maturity_rd: float = 0.01  # monthly gain per unit of log10(1 + R&D / $100M) x (1 - M)
    maturity_decay: float = 0.004  # monthly loss x M x (1 - installed-base share): unused stacks rot
    open_stack_floor: float = 0.0  # policy lever: an open stack makes every stack at least this mature...
    open_stack_start: str = ""  # ...from this month (YYYY-MM; "" = from the start)...
    open_stack_ramp_months: int = 24  # ...reached linearly over this many months

    # --- in-house silicon ------------------------------------------------------------------------
    inhouse_enabled: bool = True
    # A programme starts when trailing-12-month spend with one merchant vendor passes the threshold (est),
    # and delivers after the delay (est: Maia announced 2023-11 after a ~2019 start; MTIA v1 2023).
    inhouse_threshold_usd: float = 5e9
    inhouse_delay_months: int = 30
    inhouse_start_maturity: float = 0.35
    design_partner_margin: float = 0.6  # custom-ASIC partner's gross margin (Broadcom ~67% 2nd; est)

    startup_compute_price_scale: float = 1.0  # scenario lever: multiplies the rental price startups pay
    # A cloud whose cash goes negative is insolvent: it stops buying chips for good, its fleet is sold to
    # the solvent cloud with the most cash at this share of what it paid (est: distressed GPU sales), and
    # what the sale does not cover is written off by its lenders (outside the model).
    distressed_sale_share: float = 0.5

    # --- policy levers (all off by default) ------------------------------------------------------
    export_control_regions: tuple[str, ...] = ()  # buyer regions cut off from merchant chips at or above...
    export_control_min_tflops: float = 600.0  # ...this dense bf16 TFLOP/s (H100-class and up)...
    export_control_start: str = ""  # ...from this month
    price_cap_vendor: str = ""  # a vendor whose gross margin is capped (antitrust remedy)...
    price_cap_margin: float = 0.95  # ...at this ceiling...
    price_cap_start: str = ""  # ...from this month
    demand_shock_start: str = ""  # a bust: from this month...
    demand_shock_months: int = 12  # ...for this long...
    demand_shock_scale: float = 1.0  # ...own AI demand of clouds and lab revenue are multiplied by this
    serving_workload: str = "llama-3-70b"  # the model buyers serve (a small one: the on-device shift)
    # An architecture shift: from `serving_shift_start` (YYYY-MM), buyers move this share of their serving to the
    # model `serving_shift_workload` (a state-space or hybrid one, say), linearly over serving_shift_months
    serving_shift_workload: str = ""
    serving_shift_start: str = ""
    serving_shift_months: int = 24
    serving_shift_share: float = 0.7
    # A power crunch: from `power_crunch_start`, the industry's new site power a month is multiplied by this
    power_crunch_start: str = ""
    power_crunch_scale: float = 1.0

    # --- rationing --------------------------------------------------------------------------------
    rationing: str = "proportional"  # "proportional" or "largest_first"

    # --- data collection --------------------------------------------------------------------------
    agent_report_interval: int = 12  # months between agent-level snapshots

    venture: VentureConfig = field(default_factory=VentureConfig)
    hyperscalers: tuple[HyperscalerSpec, ...] = DEFAULT_HYPERSCALERS
    labs: tuple[LabSpec, ...] = DEFAULT_LABS
    capacity_deals: tuple[DealSpec, ...] = ()  # scripted multi-year capacity deals ([[deals]] in a config)
    vendors_disabled: tuple[str, ...] = field(default_factory=tuple)

    def schedule_progress(self, date: str) -> float:
        """How far `date` (YYYY-MM) is through the schedule window, in [0, 1] (calendar time, not run time)."""
        elapsed = months_between(self.schedule_start, date)
        return min(1.0, max(0.0, elapsed / max(self.schedule_months - 1, 1)))

    def growth_at(self, start: float, end: float, date: str) -> float:
        """A value moving linearly from `start` (at schedule_start) to `end` (schedule_months later) at `date`."""
        return start + (end - start) * self.schedule_progress(date)

    def boom_growth(self, scale: float, trend: float, date: str) -> float:
        """Monthly growth at `date` of an index that follows the AI boom's logistic S-curve (`scale`, and the
        shared ai_boom_midpoint_months / ai_boom_width_months) on top of a monthly `trend` (calendar time)."""
        t = max(0, months_between(self.schedule_start, date))

        def level(month: float) -> float:
            x = (month - self.ai_boom_midpoint_months) / self.ai_boom_width_months
            return 1.0 + scale / (1.0 + math.exp(-x)) if x > -700 else 1.0

        return (1.0 + trend) * level(t + 1) / level(t) - 1.0

    def capacity_growth_in(self, year: int) -> float:
        """Scheduled yearly growth of packaging capacity in calendar `year` (the last entry repeats)."""
        growth = self.capacity_growth_by_year
        return growth[min(max(year - self.capacity_growth_first_year, 0), len(growth) - 1)]

    def site_power_supply_w(self, date: str) -> float:
        """W of new site power the industry can bring on for AI in the month `date` (calendar time)."""
        year = max(int(date[:4]) - self.site_power_first_year, 0)
        supply = self.site_power_gw_per_year * 1e9 / 12.0 * (1.0 + self.site_power_growth_per_year) ** year
        return supply * (self.power_crunch_scale
                         if self.power_crunch_start and self.active(self.power_crunch_start, date)
                         else 1.0)

    def active(self, start: str, date: str) -> bool:
        """Whether a policy that starts at `start` (YYYY-MM, "" = the run's start) is on at `date`."""
        return date >= (start or self.start)

    def __post_init__(self):
        checks = [
            ("months", self.months >= 1, "must be >= 1"),
            ("price_sensitivity", self.price_sensitivity > 0, "must be > 0"),
            ("switching_cost", self.switching_cost >= 0, "must be >= 0"),
            ("start_capacity_hbm_gb", self.start_capacity_hbm_gb > 0, "must be > 0"),
            ("capacity_scale", self.capacity_scale > 0, "must be > 0"),
            ("ai_boom_width_months", self.ai_boom_width_months > 0, "must be > 0"),
            ("ai_boom_scale", self.ai_boom_scale >= 0, "must be >= 0"),
            ("lab_boom_scale", self.lab_boom_scale >= 0, "must be >= 0"),
            ("margin_grid_min", 0 <= self.margin_grid_min < self.margin_grid_max < 1, "need 0 <= min < max < 1"),
            ("margin_adjustment", 0 < self.margin_adjustment <= 1, "must be in (0, 1]"),
            ("rental_price_adjustment", 0 <= self.rental_price_adjustment <= 1, "must be in [0, 1]"),
            ("launch_booking_months", self.launch_booking_months >= 0, "must be >= 0"),
            ("rationing", self.rationing in ("proportional", "largest_first"), "must be proportional or largest_first"),
            ("open_stack_floor", 0 <= self.open_stack_floor <= 1, "must be in [0, 1]"),
            ("price_cap_margin", 0 < self.price_cap_margin < 1, "must be in (0, 1)"),
            ("demand_shock_scale", self.demand_shock_scale > 0, "must be > 0"),
            ("open_stack_ramp_months", self.open_stack_ramp_months >= 1, "must be >= 1"),
            ("serving_shift_months", self.serving_shift_months >= 1, "must be >= 1"),
            ("serving_shift_share", 0 <= self.serving_shift_share <= 1, "must be in [0, 1]"),
            ("power_crunch_scale", self.power_crunch_scale > 0, "must be > 0"),
            ("site_power_gw_per_year", self.site_power_gw_per_year > 0, "must be > 0"),
            ("agent_report_interval", self.agent_report_interval >= 1, "must be >= 1"),
        ]
        for name, ok, message in checks:
            if not ok:
                raise ValueError(f"market config field '{name}': {message}, got {getattr(self, name)!r}")
