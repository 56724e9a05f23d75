"""The dashboard's views as matplotlib figures: pure functions of the run's tables (and of a ghost run to
compare with), so the page, the PNG download and the tests draw the same thing.

Time axes are in calendar years from the run's start to the horizon the caller gives (the page passes the
simulated span rounded up to whole years, so the data fills the width); events (launches, in-house programmes,
policies, shocks, write-downs) are dotted lines on them. Sizes come from `style(presenter)`: a figure as wide as
the page shows it, with type readable from the back of a room; legends sit outside the data, on the right.
"""

from __future__ import annotations

import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from experiments.plots import (
    COMMUNITY_PALETTE,
    MIN_SALES_SHARE_FOR_MARGIN,
    community_colours,
    community_layout,
    reputation_legend,
    selling,
    vendor_colour,
)

GHOST_ALPHA = 0.25
MIN_DEALS_FOR_FIT = 200  # below this a power-law tail fit says little; the CCDF is drawn without it
WRITEDOWN_FLOOR_USD = 1e6  # a month's write-downs below USD 1M are rounding in the books, drawn as none
MARGIN_AXIS_FLOOR = -1.0  # a month whose write-downs exceed twice its sales runs off the margin axis (said so)
LEGEND_RIGHT = 0.80  # the panels end here; the legends sit to their right


def style(presenter: bool = False) -> dict:
    """matplotlib rc settings for the page (8 inches at 100 dpi, 13-15 pt type) or presenter mode (12.8 inches,
    one chart filling a projected screen). Use as `with matplotlib.rc_context(style(...))`."""
    width, base = (12.8, 15) if presenter else (8.0, 12)
    return {"figure.figsize": (width, 6.0), "font.size": base, "axes.titlesize": base + 1,
            "axes.labelsize": base, "xtick.labelsize": base, "ytick.labelsize": base, "legend.fontsize": base - 1,
            "axes.formatter.useoffset": False}


def _legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the panel, outside the data."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0, **kwargs)


def shown_months(month: int, horizon: int) -> int:
    """The time axis of a run at `month`: whole years up to the simulated span (at least one), within the horizon."""
    return min(horizon, 12 * max(1, -(-month // 12)))


def _years(months, start: str) -> np.ndarray:
    return int(start[:4]) + (int(start[5:7]) - 1) / 12.0 + np.asarray(months, dtype=float) / 12.0


def _frame_panels(axes, ylabels, start: str, months: int, events) -> None:
    """A fixed time axis over the run's horizon on each panel of a column, with its y label, the events as
    dotted lines (one collection per panel: cheap to draw; the page lists the events with their dates under
    the figure; rotated labels on the lines cost ~20 ms each), and "year" under the last panel."""
    xs = _years([month for month, _ in events], start)
    for i, (ax, ylabel) in enumerate(zip(axes, ylabels, strict=True)):
        ax.set_xlim(_years(0, start), _years(months, start))
        ax.xaxis.set_major_locator(MultipleLocator(1.0 if months <= 72 else 2.0))  # whole years, no 2023.25
        ax.xaxis.set_minor_locator(MultipleLocator(0.25))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}"))
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        if events:
            ax.vlines(xs, 0, 1, transform=ax.get_xaxis_transform(), colors="grey", lw=0.8 if i == 0 else 0.6,
                      linestyles=":", zorder=0)
    axes[-1].set_xlabel("year")


def _ghost_note(title: str, ghost, ghost_label: str) -> str:
    """A panel title, naming the ghost run when one is drawn."""
    return title + (f"  (faint: {ghost_label})" if ghost is not None else "")


def _figure(rows: int, height: float = 3.0) -> tuple[Figure, list]:
    """A column of `rows` panels with a fixed layout (a layout engine would double the drawing time)."""
    width = matplotlib.rcParams["figure.figsize"][0]
    scale = matplotlib.rcParams["font.size"] / 12.0
    height *= scale
    fig = Figure(figsize=(width, height * rows))
    total = height * rows
    fig.subplots_adjust(left=0.1 * 8.0 / width * scale, right=LEGEND_RIGHT, top=1.0 - 0.4 * scale / total,
                        bottom=0.6 * scale / total, hspace=0.6)
    axes = [fig.add_subplot(rows, 1, i + 1) for i in range(rows)]
    return fig, axes


def _vendor_lines(ax, vendors: pd.DataFrame, column: str, start: str, *, ghost=False, style="-", label=True,
                  width=1.8, alpha=1.0):
    if vendors is None or vendors.empty:
        return
    for vendor, rows in vendors.groupby("vendor", sort=False):
        values = rows[column].to_numpy(dtype=float)
        if np.all(~np.isfinite(values) | (values == 0)):
            continue
        kwargs = {"color": vendor_colour(vendor), "ls": style}
        if ghost:
            kwargs.update(alpha=GHOST_ALPHA, lw=3.0)
        else:
            kwargs.update(lw=width, alpha=alpha, label=vendor if label else None)
        ax.plot(_years(rows["month"], start), values, **kwargs)


def market_figure(vendors: pd.DataFrame, start: str, months: int, events, ghost_vendors=None, ghost_label="") -> Figure:
    """Revenue share and gross margin (booked, solid; posted, dashed) by vendor."""
    fig, (share, margin) = _figure(2)
    merchants = selling(vendors[vendors["kind"] != "hyperscaler_inhouse"] if not vendors.empty else vendors)
    if ghost_vendors is not None:
        _vendor_lines(share, ghost_vendors, "revenue_share", start, ghost=True)
        _vendor_lines(margin, selling(ghost_vendors[ghost_vendors["kind"] != "hyperscaler_inhouse"]), "gross_margin",
                      start, ghost=True)
    _vendor_lines(share, vendors, "revenue_share", start)
    # booked: a thick pale band; posted: a thin dashed line on top, so both show where they coincide
    _vendor_lines(margin, merchants, "gross_margin", start, label=False, width=5.0, alpha=0.4)
    _vendor_lines(margin, merchants, "margin_posted", start, style="--", label=False, width=1.6)
    share.set_ylim(0, 1)
    low = np.nanmin(merchants["gross_margin"].to_numpy(dtype=float)) if len(merchants) else 0.0
    low = min(0.0, np.floor(low * 5) / 5) if np.isfinite(low) else 0.0
    margin.set_ylim(max(low, MARGIN_AXIS_FLOOR), 1)
    share.set_title(_ghost_note("Share of chip revenue", ghost_vendors, ghost_label))
    margin.set_title(f"Gross margin, booked and posted (vendors with {MIN_SALES_SHARE_FOR_MARGIN:.0%}+ of revenue)"
                     + (f"; axis cut at {MARGIN_AXIS_FLOOR:.0f}" if low < MARGIN_AXIS_FLOOR else ""))
    _frame_panels((share, margin), ("share of revenue", "gross margin"), start, months, events)
    _legend_outside(share)  # vendor colours, the same in both panels
    margin.plot([], [], color="black", lw=5.0, alpha=0.4, label="booked\n(after\nwrite-downs)")
    margin.plot([], [], color="black", lw=1.6, ls="--", label="posted\n(priced at)")
    _legend_outside(margin)
    return fig


def revenue_figure(monthly: pd.DataFrame, vendors: pd.DataFrame, start: str, months: int, events, ghost=None,
                   ghost_label="") -> Figure:
    """Total chip revenue: each vendor's monthly revenue stacked (USD billion / month) and the trailing 12-month
    total (USD billion / year, against the ghost run's)."""
    fig, (stack, year) = _figure(2)
    if not vendors.empty:
        wide = vendors.pivot_table(index="month", columns="vendor", values="revenue", aggfunc="sum").fillna(0.0)
        wide = wide[wide.columns[wide.sum() > 0]]
        wide = wide[wide.sum().sort_values(ascending=False).index]
        stack.stackplot(_years(wide.index, start), (wide * 1e-9).T.to_numpy(), labels=list(wide.columns),
                        colors=[vendor_colour(v) for v in wide.columns], lw=0)
    for table, ghosted in ((ghost, True), (monthly, False)):
        if table is None or table.empty or "chip_revenue" not in table:
            continue
        trailing = table["chip_revenue"].rolling(12, min_periods=12).sum() * 1e-9
        kwargs = {"alpha": GHOST_ALPHA, "lw": 3.0} if ghosted else {"lw": 2.2, "label": "all vendors"}
        year.plot(_years(table["month"], start), trailing, color="#333333", **kwargs)
    stack.set_title(_ghost_note("Chip revenue by vendor, each month", ghost, ghost_label))
    year.set_title("Total chip revenue over the last 12 months")
    for panel in (stack, year):
        panel.set_ylim(bottom=0)
    _frame_panels((stack, year), ("USD B / month", "USD B / year"), start, months, events)
    _legend_outside(stack)
    return fig


def _series(ax, monthly: pd.DataFrame, column: str, start: str, scale: float, label: str, colour: str, ghost=None):
    if ghost is not None and column in ghost:
        ax.plot(_years(ghost["month"], start), ghost[column] * scale, color=colour, alpha=GHOST_ALPHA, lw=3.0)
    if not monthly.empty and column in monthly:
        ax.plot(_years(monthly["month"], start), monthly[column] * scale, color=colour, lw=1.8, label=label)


def prices_figure(monthly: pd.DataFrame, start: str, months: int, events, ghost=None, ghost_label="") -> Figure:
    """Price of serving a million tokens and of renting an H100-equivalent hour."""
    fig, (tokens, rental) = _figure(2)
    _series(tokens, monthly, "usd_per_million_tokens", start, 1.0, "USD per million tokens (reference model)",
            "#1f77b4", ghost)
    _series(rental, monthly, "rental_price_heq_hour", start, 1.0, "USD per H100-equivalent hour (cloud rental)",
            "#d62728", ghost)
    tokens.set_title(_ghost_note("Price per million tokens served", ghost, ghost_label))
    rental.set_title("Rental price of an H100-equivalent hour")
    for ax in (tokens, rental):
        ax.set_ylim(bottom=0)
    _frame_panels((tokens, rental), ("USD / million tokens", "USD / hour"), start, months, events)
    return fig


def supply_figure(monthly: pd.DataFrame, vendors: pd.DataFrame, start: str, months: int, events, ghost=None,
                  ghost_label="") -> Figure:
    """Packaging capacity, backlog, inventory and write-downs."""
    fig, (capacity, backlog, stock) = _figure(3, height=2.4)
    _series(capacity, monthly, "capacity_hbm_gb", start, 1e-6, "capacity", "#2ca02c", ghost)
    _series(backlog, monthly, "backlog_units", start, 1e-3, "backlog", "#ff7f0e", ghost)
    if not vendors.empty:
        held = vendors.groupby("month")[["inventory", "writedown"]].sum().reset_index()
        stock.plot(_years(held["month"], start), held["inventory"] * 1e-3, color="#9467bd", lw=1.8,
                   label="chips held (thousands)")
        twin = stock.twinx()
        written = held["writedown"].where(held["writedown"] >= WRITEDOWN_FLOOR_USD, 0.0) * 1e-9
        twin.fill_between(_years(held["month"], start), 0, written, step="mid", color="#8c564b", alpha=0.5,
                          label="write-downs")  # one artist, not a bar each
        twin.set_ylim(0, max(1.0, float(written.max()) * 1.1))  # at least USD 1B: no full-height bar of noise
        twin.set_ylabel("write-downs, USD B / month")
        twin.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.1f}"))
        twin.yaxis.label.set_color("#8c564b")
    capacity.set_title(_ghost_note("Packaging / HBM capacity", ghost, ghost_label))
    backlog.set_title("Chips ordered but not delivered (backlog)")
    stock.set_title(f"Vendors' inventory and write-downs (under USD {WRITEDOWN_FLOOR_USD / 1e6:.0f}M a month: none)")
    _frame_panels((capacity, backlog, stock), ("million HBM-GB / month", "thousand chips", "thousand chips held"),
                  start, months, events)
    stock.yaxis.label.set_color("#9467bd")
    return fig


def capex_figure(monthly: pd.DataFrame, clouds, start: str, months: int, events, ghost=None, ghost_label="") -> Figure:
    """Accelerator capex by cloud (USD billion per month) and data-centre power (GW): site power on line and the
    chips running, at the facility meter, and the accelerators' own TDP."""
    fig, (ax, power) = _figure(2)
    for cloud in clouds:
        _series(ax, monthly, f"capex_{cloud}", start, 1e-9, cloud, vendor_colour(cloud), ghost)
    _series(power, monthly, "site_power_gw", start, 1.0, "sites on line\n(at the meter)", "#7f7f7f", ghost)
    _series(power, monthly, "deployed_power_gw", start, 1.0, "chips running\n(at the meter)", "#17becf", ghost)
    _series(power, monthly, "installed_power_gw", start, 1.0, "chips' own TDP", "#bcbd22", ghost)
    ax.set_title(_ghost_note("Accelerator capex by cloud", ghost, ghost_label))
    power.set_title("Data-centre power")
    for panel in (ax, power):
        panel.set_ylim(bottom=0)
    _frame_panels((ax, power), ("USD B / month", "GW"), start, months, events)
    _legend_outside(ax)
    _legend_outside(power)
    return fig


def giant_component(graph: nx.Graph) -> nx.Graph:
    """The largest connected component (empty graph if there are no edges)."""
    if graph.number_of_edges() == 0:
        return nx.Graph()
    return graph.subgraph(max(nx.connected_components(graph), key=len)).copy()


def communities(giant: nx.Graph, seed: int = 0) -> list[set]:
    """Louvain communities of the network on co-investment weights, largest first."""
    if not giant.number_of_nodes():
        return []
    return sorted(nx.community.louvain_communities(giant, weight="weight", seed=seed), key=len, reverse=True)


def network_layout(giant: nx.Graph, seed: int = 0) -> dict:
    """Positions keeping each community together (the costly part: the page computes it once per snapshot)."""
    return community_layout(giant, communities(giant, seed), seed) if giant.number_of_nodes() else {}


def network_figure(giant: nx.Graph, positions: dict, reputation: dict, title: str, seed: int = 0) -> Figure:
    """The syndication network's largest component: firms coloured by community, sized by reputation, ties within
    a community darker than ties between them; a legend for both."""
    width = matplotlib.rcParams["figure.figsize"][0]
    fig = Figure(figsize=(width, 0.7 * width), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    nodes = [n for n in giant.nodes if n in positions]
    if nodes:
        groups = communities(giant, seed)
        colour = community_colours(groups)
        for u, v in giant.edges:
            if u in positions and v in positions:
                inside = colour[u] == colour[v]
                ax.plot(*np.array([positions[u], positions[v]]).T, color="grey", lw=0.5 if inside else 0.3,
                        alpha=0.5 if inside else 0.08, zorder=0)
        xy = np.array([positions[n] for n in nodes])
        ax.scatter(xy[:, 0], xy[:, 1], s=[10 + 60 * reputation.get(n, 0.0) for n in nodes],
                   c=[colour[n] for n in nodes], zorder=1, edgecolors="white", linewidths=0.3)
        for i, members in enumerate(groups[:len(COMMUNITY_PALETTE)]):
            ax.scatter([], [], color=COMMUNITY_PALETTE[i], s=30, label=f"community {i + 1}: {len(members)} firms")
        for rep in reputation_legend([reputation.get(n, 0.0) for n in nodes]):
            ax.scatter([], [], color="white", edgecolors="black", s=10 + 60 * rep, label=f"reputation {rep:.1f}")
        _legend_outside(ax)
    else:
        ax.text(0.5, 0.5, "no syndicates yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title, loc="left")
    ax.axis("off")
    return fig


def ccdf_figure(multiples: np.ndarray, fit: dict | None, title: str) -> Figure:
    """Log-log CCDF of deal multiples, with the fitted power-law tail when there are enough deals."""
    width = matplotlib.rcParams["figure.figsize"][0]
    fig = Figure(figsize=(width, 0.6 * width), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    x = np.sort(np.asarray(multiples, dtype=float))
    x = x[x > 0]
    if len(x):
        ccdf = 1.0 - np.arange(len(x)) / len(x)
        ax.loglog(x, ccdf, ".", ms=3, alpha=0.5, label=f"{len(x)} deals with value > 0")
        alpha, xmin = (fit or {}).get("powerlaw_alpha"), (fit or {}).get("powerlaw_xmin")
        if alpha and np.isfinite(alpha):
            tail = x[x >= xmin]
            ax.loglog(tail, len(tail) / len(x) * (tail / xmin) ** (1.0 - alpha), "r-", lw=2,
                      label=f"power-law tail: alpha = {alpha:.2f} from x = {xmin:.2f}")
        elif len(x) < MIN_DEALS_FOR_FIT:
            ax.text(0.05, 0.05, f"power-law fit shown from {MIN_DEALS_FOR_FIT} deals", transform=ax.transAxes)
        ax.legend(loc="lower left")
    else:
        ax.text(0.5, 0.5, "no deals yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("deal multiple (value now / invested;\nliving companies at their last round)")
    ax.set_ylabel("share of deals with multiple >= x")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return fig
