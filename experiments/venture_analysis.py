"""Venture analyses: deal-multiple distribution (power-law fit with the `powerlaw` package), return
concentration, syndication rate, fund returns, and the centrality-return and centrality-exit relationships.

Deals and funds are judged at a fixed age, not when the run stops (market/data/venture_terms.toml, [evaluation]):
a round at 6 years from its date, a fund at 8 years from its vintage (and 10 years where the run reaches it),
successive funds at 5 years; an unrealised stake is marked at the startup's last round's post-money, a failed
one at 0, an exited one at its proceeds. So the first M months of a longer run give the same figures for every
round and fund that reached its age within them; a run too short for any gives NaN (`coverage` says which).
Only funds raised in the run are judged (a fund raised before it has no record of its first years)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from market.venture_terms import TERMS

AGES = TERMS.evaluation


def deal_cohort(deals: pd.DataFrame) -> pd.DataFrame:
    """The rounds that reached the judging age in the run, with `value`, `multiple` and `resolved` as they stood at
    that age (value_at_age, multiple_at_age, resolved_at_age)."""
    judged = deals[deals.value_at_age.notna()]
    return judged.assign(value=judged.value_at_age, multiple=judged.multiple_at_age, resolved=judged.resolved_at_age)


def coverage(months: int, ages=AGES) -> list[str]:
    """Sentences saying which age-based figures a run of `months` cannot give (empty: it gives them all). A round
    made in month m is judged at the end of month m + deal_age_months, so a run needs more than that many months
    (a fund raised in month 0 likewise)."""
    needs = (("rounds judged at 6 years", ages.deal_age_months), ("funds judged at 8 years", ages.fund_age_months),
             ("funds judged at 10 years", ages.fund_final_age_months),
             ("persistence of successive funds (judged at 5 years)", ages.persistence_age_months))
    return [f"{what}: a run of {months} months is too short (it needs more than {age})"
            for what, age in needs if months <= age]


def as_of(deals: pd.DataFrame, funds: pd.DataFrame, months: int, ages=AGES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The deal and fund tables of a longer run as a run of `months` months would have them, for the age-based
    figures: rounds and funds from month `months` on left out, and each judgment made at or after `months` (a round
    judged at month + deal_age_months, a fund at vintage + each age) blanked. A shorter run of the same config and
    seed gives the same age-based figures (tests/test_venture.py)."""
    deals = deals[deals.month < months].copy()
    late = deals.month + ages.deal_age_months >= months
    deals.loc[late, ["value_at_age", "multiple_at_age"]] = np.nan
    deals.loc[late, "resolved_at_age"] = False
    funds = funds[funds.vintage < months].copy()
    judged_at_age = ["tvpi_at_age", "dpi_at_age", "exit_rate_at_age", "called_share_at_age"]
    for columns, age in ((["called_share_at_deployment_age"], ages.deployment_age_months),
                         (["tvpi_interim"], ages.persistence_age_months), (judged_at_age, ages.fund_age_months),
                         (["tvpi_final"], ages.fund_final_age_months)):
        funds.loc[funds.vintage + age >= months, columns] = np.nan
    return deals, funds


# A tail start whose closed-form KS distance exceeds the best one's by more than this cannot be the best start.
XMIN_SCREEN_MARGIN = 0.02


def closed_form_xmin_scan(data: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The candidate tail starts (xmin) of the `powerlaw` package's search, with each one's continuous power-law
    exponent by its closed-form maximum likelihood estimate (Clauset, Shalizi & Newman 2009, eq. 3.1) and the KS
    distance of that fit to the data's tail, computed as the package does (its empirical CDF of all the data,
    rescaled to the tail). Vectorised over candidates; returns (xmin, alpha, ks), all (C,)."""
    import powerlaw

    x = np.sort(np.asarray(data, dtype=float))
    bins, cumulative = powerlaw.cdf(x)
    # the package's candidates: the distinct values below the largest, less the last of them
    xmin, first = np.unique(x[x < x.max()], return_index=True)
    xmin, first = xmin[:-1], first[:-1]
    tail_n = x.size - first
    log_sum_above = np.cumsum(np.log(x)[::-1])[::-1]  # sum of log x over the tail that starts at each index
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = 1.0 + tail_n / (log_sum_above[first] - tail_n * np.log(xmin))
    ks = np.full(xmin.size, np.inf)
    for j in range(xmin.size):
        keep = bins >= xmin[j]
        empirical = cumulative[keep]
        empirical = (empirical - empirical[0]) / (1.0 - empirical[0])
        gap = 1.0 - (bins[keep] / xmin[j]) ** (1.0 - alpha[j]) - empirical
        ks[j] = max(gap.max(), -gap.min())
    return xmin, alpha, ks


def xmin_search_range(data: np.ndarray) -> tuple[float, float] | None:
    """The part of the data in which the `powerlaw` package's own xmin search (KS minimisation) must find the same
    tail start as a search over all of it, so that it can search only there (~10x faster on a run's deal multiples,
    where the full search takes ~1 s). None: search everywhere.

    Below the range, every candidate's KS distance under the closed-form exponent is more than XMIN_SCREEN_MARGIN
    above the best. There the package's own distances are the same: it uses the closed form for exponents in
    (1.5, 3] and maximises the same likelihood numerically below that, which lands at the closed form
    (tests/test_venture.py checks both). Candidates with closed-form exponents above 3, where the package's
    numerical fits can differ, are always inside the range."""
    xmin, alpha, ks = closed_form_xmin_scan(data)
    if xmin.size < 2 or not np.isfinite(ks).any():
        return None
    inside = np.flatnonzero((ks <= np.nanmin(ks) + XMIN_SCREEN_MARGIN) | ~(alpha <= 3.0))
    return float(xmin[inside[0]]), float(np.max(data))


def powerlaw_fit(multiples: np.ndarray) -> dict[str, float]:
    """Fit a power law to the positive multiples (xmin by KS minimisation) and compare it with a
    lognormal and an exponential by log-likelihood ratio (normalised; R > 0 favours the power law)."""
    import powerlaw

    positive = np.asarray(multiples, dtype=float)
    positive = positive[positive > 0]
    out = dict.fromkeys(("powerlaw_alpha", "powerlaw_xmin", "powerlaw_ks", "powerlaw_vs_lognormal_loglik_ratio",
                         "powerlaw_vs_lognormal_p", "powerlaw_vs_exponential_loglik_ratio",
                         "powerlaw_vs_exponential_p", "powerlaw_tail_n"), float("nan"))
    if positive.size < 50:
        return out
    with warnings.catch_warnings():
        # powerlaw 2.0 trips its own deprecated accessors and warns on edge fits; its numbers are unaffected
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        fit = powerlaw.Fit(positive, xmin=xmin_search_range(positive), verbose=False)
        if fit.noise_flag:  # no valid fit inside the range: let the package search all of the data
            fit = powerlaw.Fit(positive, verbose=False)
        r_ln, p_ln = fit.distribution_compare("power_law", "lognormal", normalized_ratio=True)
        r_ex, p_ex = fit.distribution_compare("power_law", "exponential", normalized_ratio=True)
    out.update(powerlaw_alpha=float(fit.power_law.alpha), powerlaw_xmin=float(fit.xmin),
               powerlaw_ks=float(fit.power_law.D),
               powerlaw_vs_lognormal_loglik_ratio=float(r_ln), powerlaw_vs_lognormal_p=float(p_ln),
               powerlaw_vs_exponential_loglik_ratio=float(r_ex), powerlaw_vs_exponential_p=float(p_ex),
               powerlaw_tail_n=float((positive >= fit.xmin).sum()))
    return out


def judged_funds(funds: pd.DataFrame, age_column: str = "tvpi_at_age") -> pd.DataFrame:
    """The funds raised in the run that reached the age of `age_column` (a TVPI column of the fund table:
    tvpi_at_age, tvpi_interim, tvpi_final), with that TVPI as `tvpi`; cohorts by calendar vintage year."""
    judged = funds[(funds.vintage >= 0) & funds[age_column].notna()]
    return judged.assign(tvpi=judged[age_column])


def _spearman(funds: pd.DataFrame, outcome: str) -> float:
    old = judged_funds(funds).dropna(subset=[outcome])
    if len(old) < 10:
        return float("nan")
    return float(spearmanr(old.centrality_at_vintage, old[outcome]).statistic)


def centrality_return_spearman(funds: pd.DataFrame) -> float:
    """Rank correlation between a fund's firm centrality at its vintage (lagged) and its TVPI at the judging age."""
    return _spearman(funds, "tvpi")


def centrality_exit_spearman(funds: pd.DataFrame) -> float:
    """Rank correlation between a fund's firm centrality at its vintage and the share of the startups it backed that
    had made a successful exit (IPO or trade sale) by the judging age: the effect Hochberg, Ljungqvist & Lu (2007)
    measure."""
    return _spearman(funds, "exit_rate_at_age")


def _centrality_return_null(funds: pd.DataFrame, rng: np.random.Generator, permutations: int,
                            outcome: str = "tvpi") -> tuple[float, np.ndarray] | None:
    """(observed Spearman, Spearman of `permutations` random reassignments of the judged funds' `outcome` (TVPI, or
    exit_rate_at_age) to their centralities within each vintage year), or None with fewer than 10 judged funds.

    Outcomes are shuffled only among funds of the same vintage year: later funds sit in a denser network (higher
    centrality), so a shuffle across years would credit centrality with a vintage effect (Hochberg, Ljungqvist &
    Lu 2007 hold vintage year fixed for the same reason)."""
    old = judged_funds(funds).dropna(subset=[outcome])
    if len(old) < 10:
        return None
    centrality = old.centrality_at_vintage.rank().to_numpy()
    tvpi = old[outcome].rank().to_numpy()
    observed = np.corrcoef(centrality, tvpi)[0, 1]  # Spearman = Pearson on ranks
    # a permutation keeps the mean and spread of the TVPI ranks, so centre both once and correlate by dot products
    centred_centrality, centred_tvpi = centrality - centrality.mean(), tvpi - tvpi.mean()
    shuffled = np.empty((permutations, len(old)))
    years = old.vintage_year.to_numpy().astype(int)
    for year in np.unique(years):
        members = np.flatnonzero(years == year)
        shuffled[:, members] = rng.permuted(np.tile(centred_tvpi[members], (permutations, 1)), axis=1)
    null = shuffled @ centred_centrality / (np.linalg.norm(centred_tvpi) * np.linalg.norm(centred_centrality))
    return float(observed), null


def centrality_return_p_value(funds: pd.DataFrame, permutations: int = 2000, outcome: str = "tvpi") -> float:
    """How often chance alone gives a centrality-return rank correlation at least as high as the run's: the share
    of `permutations` random reassignments of the funds' TVPIs (or `outcome`) to their centralities within vintage
    years (a one-sided permutation test, with its own fixed generator so the figure is reproducible) whose Spearman
    reaches the observed one. A small value means centrality carries information about returns beyond chance
    and beyond the vintage year."""
    result = _centrality_return_null(funds, np.random.default_rng(20070101), permutations, outcome)
    if result is None:
        return float("nan")
    observed, null = result
    return float((1 + (null >= observed - 1e-12).sum()) / (1 + permutations))


def pooled_centrality_return_p_value(funds_by_seed: list[pd.DataFrame], permutations: int = 2000,
                                     outcome: str = "tvpi") -> tuple[float, float]:
    """(mean Spearman over seeds, one-sided permutation p-value of that mean): TVPIs (or `outcome`) are reassigned
    at random within each seed and vintage year (seeds are independent runs, so funds are exchangeable only within
    one; vintage years as in `centrality_return_p_value`), and the p-value is the share of reassignments whose mean
    Spearman over the seeds reaches the observed mean. Seeds with fewer than 10 judged funds are left out; (NaN,
    NaN) if none is left."""
    rng = np.random.default_rng(20070101)
    results = [r for r in (_centrality_return_null(f, rng, permutations, outcome) for f in funds_by_seed) if r]
    if not results:
        return float("nan"), float("nan")
    observed = float(np.mean([r[0] for r in results]))
    null = np.mean([r[1] for r in results], axis=0)
    return observed, float((1 + (null >= observed - 1e-12).sum()) / (1 + permutations))


def fund_metrics(funds: pd.DataFrame) -> dict[str, float]:
    """Fund-level outcomes of the funds raised in the run, judged at fixed ages: at the judging age (8 years) the
    median and 75th percentile TVPI and the shares above 2x and 3x; the median TVPI at 10 years; the median share
    of commitments called at the deployment age (24 months); and persistence at the interim age (5 years): the
    probability that a firm's next fund lands in the top quartile of its vintage year given that this one did (and
    given that this one was in the bottom quartile). Quartiles are ranked within calendar vintage years. A figure
    no fund reached the age for is NaN (a run too short: `coverage`)."""
    old = judged_funds(funds)
    out = dict.fromkeys(("fund_tvpi_median", "fund_tvpi_p75", "funds_above_2x_share", "funds_above_3x_share",
                         "fund_tvpi_10y_median", "fund_called_share_24m_median", "funds_judged",
                         "quartile_persistence_top", "quartile_persistence_bottom"), float("nan"))
    out["funds_judged"] = float(len(old))
    if not old.empty:
        out.update(fund_tvpi_median=float(old.tvpi.median()), fund_tvpi_p75=float(old.tvpi.quantile(0.75)),
                   funds_above_2x_share=float((old.tvpi > 2).mean()),
                   funds_above_3x_share=float((old.tvpi > 3).mean()))
    final = judged_funds(funds, "tvpi_final")
    if not final.empty:
        out["fund_tvpi_10y_median"] = float(final.tvpi.median())
    deployed = funds[(funds.vintage >= 0)].called_share_at_deployment_age.dropna()
    if not deployed.empty:
        out["fund_called_share_24m_median"] = float(deployed.median())
    interim = judged_funds(funds, "tvpi_interim").copy()
    if interim.empty:
        return out
    interim["quartile"] = interim.groupby("vintage_year").tvpi.transform(
        lambda t: np.ceil(4 * t.rank(method="first") / len(t)))
    nxt = interim.sort_values(["firm", "vintage"]).groupby("firm").quartile.shift(-1)
    pairs = interim.assign(next_quartile=nxt).dropna(subset=["next_quartile"])
    for name, quartile in (("quartile_persistence_top", 4), ("quartile_persistence_bottom", 1)):
        given = pairs[pairs.quartile == quartile]
        if len(given):
            out[name] = float((given.next_quartile == 4).mean())
    return out


def realised_and_marked(deals: pd.DataFrame) -> dict[str, float]:
    """Deal outcomes at the judging age split into realised (exited or dead by then) and marked (still held at their
    last round, which puts a step at exactly 1x in the CCDF): the share of the cohort still marked, and the shares
    below 1x and at 10x or more among realised deals only."""
    cohort = deal_cohort(deals)
    realised = cohort[cohort.resolved]
    return {
        "deals_marked_share": float((~cohort.resolved).mean()) if len(cohort) else float("nan"),
        "realised_deals_below_1x_share": float((realised.multiple < 1).mean()) if len(realised) else float("nan"),
        "realised_deals_10x_plus_share": float((realised.multiple >= 10).mean()) if len(realised) else float("nan"),
    }


def top_return_share(deals: pd.DataFrame, fraction: float) -> float:
    """Share of the deals' total value (returns) produced by the best `fraction` of them (at least one deal)."""
    value = np.sort(deals.value.to_numpy())[::-1]
    top = max(1, int(round(fraction * len(value))))
    return float(value[:top].sum() / value.sum()) if value.sum() > 0 else float("nan")


def venture_metrics(deals: pd.DataFrame, funds: pd.DataFrame, startups: pd.DataFrame) -> dict[str, float]:
    """Headline venture figures of one run. Without a single deal in the cohort (a tiny LP pool, a high bar, a short
    run) the shares and fits are undefined: NaN, computed without the warnings of empty means, since that is no
    numerical failure."""
    if deal_cohort(deals).empty:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return _venture_metrics(deals, funds, startups)
    return _venture_metrics(deals, funds, startups)


def _venture_metrics(deals: pd.DataFrame, funds: pd.DataFrame, startups: pd.DataFrame) -> dict[str, float]:
    cohort = deal_cohort(deals)
    multiples = cohort.multiple.to_numpy()
    return {
        "deals": float(len(deals)),
        "deals_below_1x_share": float((multiples < 1).mean()),
        "deals_10x_plus_share": float((multiples >= 10).mean()),
        "top5pct_deal_return_share": top_return_share(cohort, 0.05),
        **powerlaw_fit(multiples),
        "syndicated_round_share": float((deals.investors >= 2).mean()),
        "deals_judged": float(len(cohort)),
        "centrality_return_spearman": centrality_return_spearman(funds),
        "centrality_return_p": centrality_return_p_value(funds),
        "centrality_exit_spearman": centrality_exit_spearman(funds),
        "centrality_exit_p": centrality_return_p_value(funds, outcome="exit_rate_at_age"),
        **fund_metrics(funds),
        **realised_and_marked(deals),
        "funded_startups": float((startups.rounds > 0).sum()),
        "exits": float(startups.status.isin(["ipo", "acquired"]).sum()),
        "successful_exits": float(startups.exit_kind.isin(["ipo", "trade_sale"]).sum()),
        "ipos": float((startups.status == "ipo").sum()),
    }
