"""Figures (PNG) drawn with matplotlib's non-interactive Agg backend."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hardware_catalog import Accelerator, Catalog, Workload  # noqa: E402
from market import roofline  # noqa: E402
from market.evaluation import maturity_of  # noqa: E402

from .rundir import atomic_write_bytes  # noqa: E402

PHASE_MARKERS = {"train": "s", "prefill": "^", "decode": "o", "serve": "D"}

# One colour per company in every chart and in the dashboard, whether it shows as a chip vendor, a cloud or the
# cloud's in-house programme ("<cloud>-silicon" takes its cloud's colour), brand-like where that stays distinct;
# any other id gets a stable colour from its name.
COMPANY_COLOURS = {
    "nvidia": "#76b900", "amd": "#ed1c24", "intel": "#0071c5", "google": "#9467bd", "aws": "#ff9900",
    "groq": "#8c564b", "microsoft": "#17becf", "meta": "#1c2b5a", "oracle": "#e377c2", "coreweave": "#bcbd22",
    "china-cloud": "#7f0000", "other-buyers": "#7f7f7f",
}
VENDOR_COLOURS = COMPANY_COLOURS  # the name the run figures used


def vendor_colour(vendor: str) -> str:
    """The colour of a company (a vendor, a cloud or its '-silicon' programme) in every chart: fixed for known
    companies, stable (by id) for the rest."""
    import zlib

    company = vendor.removesuffix("-silicon")
    if company in COMPANY_COLOURS:
        return COMPANY_COLOURS[company]
    return matplotlib.colors.to_hex(plt.get_cmap("tab20")(zlib.crc32(vendor.encode()) % 20))


MIN_SALES_SHARE_FOR_MARGIN = 0.01  # a vendor's margin is drawn once it has 1% of the chip revenue shown
FEW_SEEDS = 5  # a 5-95% band over fewer seeds than this says little: its caption says so


def selling(vendors: pd.DataFrame, threshold: float = MIN_SALES_SHARE_FOR_MARGIN) -> pd.DataFrame:
    """The rows of vendors with at least `threshold` of the revenue in the table: the margin of a vendor that
    sells almost nothing is a price with no sales behind it, not a margin anyone earns."""
    if vendors.empty:
        return vendors
    sold = vendors.groupby("vendor")["revenue"].sum()
    keep = sold.index[sold >= threshold * sold.sum()] if sold.sum() > 0 else sold.index[:0]
    return vendors[vendors["vendor"].isin(keep)]


def band_label(seeds: int) -> str:
    """What a shaded band holds: the spread over seeds (randomness only, not parameter uncertainty), with a caveat
    when there are too few seeds for a 5-95% range."""
    label = f"5-95% over {seeds} seeds (seed noise only)"
    return label + f"; under {FEW_SEEDS} seeds: indicative" if seeds < FEW_SEEDS else label


def operating_points(
    catalog: Catalog,
    chips: Sequence[Accelerator],
    workloads: Sequence[Workload],
    precision: str,
    phases: Sequence[str],
    batches: Sequence[int],
    input_tokens: int,
    output_tokens: int,
) -> pd.DataFrame:
    """Arithmetic intensity and achieved FLOP/s of each (chip, workload, phase, batch) point."""
    chip_arr = roofline.chip_arrays(chips, precision, catalog.efficiency, maturity_of(catalog, chips), axis=0, ndim=3)
    model_arr = roofline.model_arrays(workloads, axis=1, ndim=3)
    batch_arr = np.asarray(batches, dtype=float).reshape(1, 1, -1)
    rows = []
    for phase in phases:
        res = roofline.evaluate(
            phase,
            model_arr,
            chip_arr,
            batch_arr,
            precision=precision,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
        )
        flops = _achieved_flops(phase, res, model_arr, chip_arr)
        shape = res.tokens_per_second.shape
        for c, w, b in np.ndindex(shape):
            if res.feasible[c, w, b] and (phase != "train" or b == 0):
                rows.append(
                    {
                        "chip": chips[c].id,
                        "workload": workloads[w].id,
                        "phase": phase,
                        "batch": int(res.batch[c, w, b]),
                        "intensity": float(res.arithmetic_intensity[c, w, b]),
                        "achieved_flops": float(flops[c, w, b]),
                        "bound": res.bound_name((c, w, b)),
                    }
                )
    return pd.DataFrame(rows)


def _achieved_flops(phase, res, model_arr, chip_arr):
    """Useful FLOP/s per chip at each point (the y-position on the roofline chart)."""
    if phase == "train":
        return res.tokens_per_second_per_chip * roofline.training_flop_per_token(model_arr)
    busy = res.compute_s  # compute time at the efficiency cap, so FLOP = compute_s x peak x mfu
    flop = busy * chip_arr.peak_flops * chip_arr.mfu_infer
    return flop / (res.latency_s * res.chips)


def roofline_chart(catalog: Catalog, chips, workloads, path: Path, *, precision="bf16", phases=None,
                   batches=(1, 16, 256), input_tokens=512, output_tokens=256) -> Path:
    """Classic log-log roofline: attainable FLOP/s vs arithmetic intensity, with operating points."""
    phases = phases or ("train", "prefill", "decode")
    fig, ax = plt.subplots(figsize=(10, 6.5))
    intensity = np.logspace(-1, 4.5, 300)
    colours = plt.get_cmap("tab10")
    for i, chip in enumerate(chips):
        peak = chip.peak_flops(precision)
        bandwidth = chip.hbm_tbps * 1e12
        ax.loglog(intensity, np.minimum(peak, intensity * bandwidth), color=colours(i % 10), lw=2,
                  label=f"{chip.id}: {peak / 1e12:.0f} TFLOP/s, {chip.hbm_tbps:.2f} TB/s (ridge "
                        f"{peak / bandwidth:.0f})")
    points = operating_points(catalog, chips, workloads, precision, phases, batches, input_tokens, output_tokens)
    for i, chip in enumerate(chips):
        mine = points[points["chip"] == chip.id]
        for phase, group in mine.groupby("phase"):
            ax.scatter(group["intensity"].clip(upper=intensity[-1]), group["achieved_flops"],
                       marker=PHASE_MARKERS[phase],
                       color=colours(i % 10), edgecolor="black", s=45, zorder=3)
    for phase in phases:
        ax.scatter([], [], marker=PHASE_MARKERS[phase], color="white", edgecolor="black", label=f"{phase} points")
    names = ", ".join(w.id for w in workloads)
    ax.set_title(f"Roofline ({precision}) with operating points of {names}\n"
                 f"decode/prefill at batch {', '.join(map(str, batches))}; training plotted at its compute roof")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of HBM traffic)")
    ax.set_ylabel("attainable FLOP/s per chip")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, metadata={"Software": STANDALONE_PNG_SOFTWARE})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


# The PNG text tag of a chart written to a path the user names (`roofline --plot`): a later command may replace a file
# carrying it (its own earlier chart), never another file (`made_by_compute_market`)
STANDALONE_PNG_SOFTWARE = "compute-market roofline chart"


def made_by_compute_market(path: Path) -> bool:
    """Whether `path` is a regular file (not a link) holding a PNG this tool wrote to a user-named path: its text tag
    'Software' is STANDALONE_PNG_SOFTWARE (Pillow reads the tags ahead of the image data, not the image)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_symlink() or not path.is_file():
        return False
    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get("Software") == STANDALONE_PNG_SOFTWARE
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):  # not an image, or a damaged PNG
        return False


def cost_per_token_chart(frame: pd.DataFrame, path: Path, title: str) -> Path:
    """Bar chart of USD per million tokens by chip (one bar group per workload)."""
    table = frame.pivot_table(index="chip", columns="workload", values="usd_per_million_tokens")
    table = table.loc[table.min(axis=1).sort_values().index]
    fig, ax = plt.subplots(figsize=(11, 5.5))
    table.plot.bar(ax=ax, logy=True, width=0.8)
    ax.set_ylabel("USD per million output tokens (log)")
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def perf_per_watt_chart(serve: pd.DataFrame, train: pd.DataFrame, path: Path, title: str, note: str = "") -> Path:
    """Energy efficiency by chip: serving tokens per joule (one bar group per workload) and training model
    TFLOP per kJ, bars in each vendor's colour order."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [2, 1]})
    table = serve.pivot_table(index="chip", columns="workload", values="tokens_per_joule")
    table = table.loc[table.max(axis=1).sort_values(ascending=False).index]
    table.plot.bar(ax=left, logy=True, width=0.8)
    left.set_ylabel("output tokens per joule (log)")
    left.set_title(title, fontsize=9)
    left.grid(True, axis="y", which="both", alpha=0.3)
    per_kj = train.groupby("chip")["joules_per_flop"].mean().rdiv(1e3 / 1e12).sort_values(ascending=False)
    right.bar(per_kj.index, per_kj.values,
              color=[vendor_colour(v) for v in train.groupby("chip")["vendor"].first()[per_kj.index]])
    right.set_ylabel("model TFLOP per kJ (training, bf16)")
    right.set_title("Training energy efficiency", fontsize=9)
    right.tick_params(axis="x", rotation=60)
    right.grid(True, axis="y", alpha=0.3)
    fig.text(0.01, 0.01, note, fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def throughput_vs_batch_chart(frame: pd.DataFrame, path: Path, title: str) -> Path:
    """Decode tokens/s per chip against batch size, one line per chip (log-log)."""
    fig, ax = plt.subplots(figsize=(10, 6))
    for chip, group in frame[frame["feasible"]].groupby("chip"):
        ax.loglog(group["batch"], group["tokens_per_second_per_chip"], marker="o", ms=3, label=chip)
    ax.set_xlabel("batch size (sequences)")
    ax.set_ylabel("decode tokens/s per chip")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def _month_axis(ax, frame: pd.DataFrame) -> None:
    """Label the x axis with dates (YYYY-MM) every 12 months."""
    dates = frame.drop_duplicates("month").set_index("month")["date"]
    ticks = [m for m in dates.index if m % 12 == 0]
    ax.set_xticks(ticks)
    ax.set_xticklabels([dates[m] for m in ticks], rotation=45, ha="right")
    ax.grid(True, alpha=0.3)


def _legend_below(ax) -> None:
    """The legend under the panel (below the date labels), outside the data."""
    ax.legend(fontsize=8, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def vendor_band_chart(vendor_tables: pd.DataFrame, column: str, vendors, path: Path, title: str,
                      selling_only: bool = False) -> Path:
    """Per vendor: the monthly mean of `column` over seeds, with a 5-95% band over seeds. With `selling_only`,
    only vendors with MIN_SALES_SHARE_FOR_MARGIN of the revenue in the table are drawn (the title says so)."""
    fig, ax = plt.subplots(figsize=(10, 5.5))
    if selling_only:
        kept = set(selling(vendor_tables[vendor_tables.vendor.isin(vendors)]).vendor)
        vendors = [v for v in vendors if v in kept]
        title += f"; vendors with {MIN_SALES_SHARE_FOR_MARGIN:.0%}+ of revenue"
    seeds = vendor_tables["seed"].nunique() if "seed" in vendor_tables else 1
    for vendor in vendors:
        rows = vendor_tables[vendor_tables.vendor == vendor].groupby("month")[column]
        mean, lo, hi = rows.mean(), rows.quantile(0.05), rows.quantile(0.95)
        if mean.notna().sum() == 0:
            continue
        ax.plot(mean.index, mean.values, label=vendor, color=vendor_colour(vendor))
        ax.fill_between(mean.index, lo.values, hi.values, color=vendor_colour(vendor), alpha=0.2)
    if column == "gross_margin":
        ax.set_ylim(0, 1)
    ax.fill_between([], [], [], color="grey", alpha=0.2, label=band_label(seeds))
    _month_axis(ax, vendor_tables)
    ax.set_title(title)
    _legend_below(ax)
    return _save(fig, path)


def stacked_share_chart(vendor_tables: pd.DataFrame, column: str, path: Path, title: str) -> Path:
    """Stacked area of the mean (over seeds) of a share column, by vendor."""
    table = vendor_tables.pivot_table(index="month", columns="vendor", values=column, aggfunc="mean").fillna(0.0)
    table = table[table.mean().sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(10, 5.5))
    ax.stackplot(table.index, table.T.values, labels=table.columns, colors=[vendor_colour(v) for v in table.columns],
                 alpha=0.85)
    ax.set_ylim(0, 1)
    _month_axis(ax, vendor_tables)
    ax.set_title(title)
    _legend_below(ax)
    return _save(fig, path)


def series_band_chart(model_tables: pd.DataFrame, columns, path: Path, title: str, logy: bool = False) -> Path:
    """Model-level series: monthly mean over seeds with a 5-95% band."""
    fig, ax = plt.subplots(figsize=(10, 5))
    seeds = model_tables["seed"].nunique() if "seed" in model_tables else 1
    for column in columns:
        rows = model_tables.groupby("month")[column]
        mean = rows.mean()
        line, = ax.plot(mean.index, mean.values, label=column)
        ax.fill_between(mean.index, rows.quantile(0.05).values, rows.quantile(0.95).values, color=line.get_color(),
                        alpha=0.2)
    ax.fill_between([], [], [], color="grey", alpha=0.2, label=band_label(seeds))
    if logy:
        ax.set_yscale("log")
    _month_axis(ax, model_tables)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _save(fig, path)


def stacked_series_chart(model_tables: pd.DataFrame, columns, path: Path, title: str, prefix: str = "capex_") -> Path:
    """Stacked area of several model-level series (mean over seeds), labelled by column name without `prefix`."""
    means = model_tables.groupby("month")[list(columns)].mean()
    fig, ax = plt.subplots(figsize=(10, 5.5))
    names = [c.removeprefix(prefix) for c in columns]
    scale = 1e-9 if prefix == "capex_" else 1.0  # money in USD billion
    ax.stackplot(means.index, (means * scale).T.values, labels=names, colors=[vendor_colour(n) for n in names],
                 alpha=0.85)
    if scale != 1.0:
        ax.set_ylabel("USD B per month")
    _month_axis(ax, model_tables)
    ax.set_title(title)
    _legend_below(ax)
    return _save(fig, path)


def multiples_ccdf_chart(multiples, fit: dict, path: Path, title: str) -> Path:
    """Log-log complementary CDF of deal multiples with the fitted power-law tail."""
    x = np.sort(np.asarray(multiples, dtype=float))
    x = x[x > 0]
    ccdf = 1.0 - np.arange(len(x)) / len(x)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.loglog(x, ccdf, ".", ms=3, alpha=0.5, label="deals (multiple > 0)")
    alpha, xmin = fit.get("powerlaw_alpha"), fit.get("powerlaw_xmin")
    if alpha and np.isfinite(alpha):
        tail = x[x >= xmin]
        share = len(tail) / len(x)
        ax.loglog(tail, share * (tail / xmin) ** (1.0 - alpha), "r-", lw=2,
                  label=f"power law alpha={alpha:.2f}, xmin={xmin:.2f} (KS {fit['powerlaw_ks']:.3f})")
    ax.set_xlabel("deal multiple (value / invested)")
    ax.set_ylabel("P(multiple >= x)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


NETWORK_COMMUNITIES = 8  # the largest communities get a colour each; the rest are grey


COMMUNITY_PALETTE = tuple(plt.get_cmap("tab10")(i) for i in (0, 1, 2, 3, 4, 5, 6, 8))  # tab10 without its grey
OTHER_COMMUNITIES = (0.75, 0.75, 0.75, 1.0)


def community_colours(communities) -> dict:
    """A colour per node: its community's (largest first) for the first NETWORK_COMMUNITIES, else grey."""
    return {node: COMMUNITY_PALETTE[i] if i < NETWORK_COMMUNITIES else OTHER_COMMUNITIES
            for i, members in enumerate(communities) for node in members}


def reputation_legend(values) -> list[float]:
    """The reputations the size legend shows: the network's lowest, median and highest (distinct, 1 decimal)."""
    values = np.asarray(values, dtype=float)
    if not len(values):
        return []
    return sorted({round(float(v), 1) for v in np.quantile(values, [0.0, 0.5, 1.0])})


def community_layout(graph, communities, seed: int = 0) -> dict:
    """Positions that keep each community together: the communities placed by a spring layout of the graph of
    communities (edge weight = ties between them), each laid out on its own around its place, sized by its
    number of firms."""
    import networkx as nx

    index = {node: i for i, members in enumerate(communities) for node in members}
    between = nx.Graph()
    between.add_nodes_from(range(len(communities)))
    for u, v, d in graph.edges(data=True):
        a, b = index[u], index[v]
        if a != b:
            w = between.get_edge_data(a, b, {"weight": 0.0})["weight"]
            between.add_edge(a, b, weight=w + d.get("weight", 1.0))
    centres = nx.spring_layout(between, seed=seed, weight="weight", k=2.0)
    pos = {}
    for i, members in enumerate(communities):
        inner = nx.spring_layout(graph.subgraph(members), seed=seed, weight="weight")
        radius = 0.4 * np.sqrt(len(members) / max(len(c) for c in communities))
        for node, xy in inner.items():
            pos[node] = centres[i] * 1.5 + radius * np.asarray(xy)
    return pos


def network_chart(edges: pd.DataFrame, reputation: dict, path: Path, title: str, seed: int = 0) -> Path:
    """The syndication network's largest component: firms coloured by community (Louvain, on co-investment
    weights), sized by reputation; only the ties above the median weight drawn (the rest would hide the structure),
    with a legend for both."""
    import networkx as nx

    graph = nx.from_pandas_edgelist(edges, "source", "target", edge_attr="weight") if len(edges) else nx.Graph()
    fig, ax = plt.subplots(figsize=(10, 8))
    if graph.number_of_nodes():
        giant = graph.subgraph(max(nx.connected_components(graph), key=len))
        communities = sorted(nx.community.louvain_communities(giant, weight="weight", seed=seed), key=len,
                             reverse=True)
        pos = community_layout(giant, communities, seed)
        colour = community_colours(communities)
        weights = np.array([d["weight"] for _, _, d in giant.edges(data=True)], dtype=float)
        strong = [(u, v) for (u, v, d) in giant.edges(data=True) if d["weight"] > np.median(weights)]
        same = [(u, v) for u, v in strong if colour[u] == colour[v]]
        nx.draw_networkx_edges(giant, pos, edgelist=[e for e in strong if e not in set(same)], ax=ax, width=0.4,
                               alpha=0.08)
        nx.draw_networkx_edges(giant, pos, edgelist=same, ax=ax, width=0.6, alpha=0.4)
        nodes = list(giant.nodes)
        nx.draw_networkx_nodes(giant, pos, nodelist=nodes, ax=ax, node_size=[15 + 80 * reputation.get(n, 0.0)
                                                                             for n in nodes],
                               node_color=[colour[n] for n in nodes], edgecolors="white", linewidths=0.3)
        for i, members in enumerate(communities[:NETWORK_COMMUNITIES]):
            ax.scatter([], [], color=COMMUNITY_PALETTE[i], s=40, label=f"community {i + 1}: {len(members)} firms")
        if len(communities) > NETWORK_COMMUNITIES:
            rest = sum(len(m) for m in communities[NETWORK_COMMUNITIES:])
            ax.scatter([], [], color=OTHER_COMMUNITIES, s=40, label=f"{len(communities) - NETWORK_COMMUNITIES} "
                       f"smaller communities: {rest} firms")
        for rep in reputation_legend([reputation.get(n, 0.0) for n in nodes]):
            ax.scatter([], [], color="white", edgecolors="black", s=15 + 80 * rep, label=f"reputation {rep:.1f}")
        ax.plot([], [], color="black", alpha=0.4, lw=0.8, label="ties within a community")
        ax.plot([], [], color="black", alpha=0.1, lw=0.8, label="ties between communities\n(only ties above the "
                "median weight)")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    ax.set_title(title)
    ax.axis("off")
    return _save(fig, path)


def centrality_returns_chart(funds: pd.DataFrame, path: Path, title: str) -> Path:
    """Fund TVPI against the firm's eigenvector centrality at the fund's vintage."""
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.scatter(funds["centrality_at_vintage"], funds["tvpi"].clip(lower=1e-2), s=10, alpha=0.5)
    ax.set_yscale("log")
    ax.set_xlabel("firm eigenvector centrality at the fund's vintage")
    ax.set_ylabel("fund TVPI (log)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


def scenario_bands_chart(tables: dict, columns, path: Path) -> Path:
    """Key monthly series of several scenarios: mean over seeds with 5-95% bands, one panel each."""
    columns = [c for c in columns if all(c in t for t in tables.values())]
    fig, axes = plt.subplots(len(columns), 1, figsize=(10, 2.6 * len(columns)), sharex=True, squeeze=False)
    for ax, column in zip(axes[:, 0], columns, strict=True):
        for name, table in tables.items():
            rows = table.groupby("month")[column]
            mean = rows.mean()
            line, = ax.plot(mean.index, mean.values, label=name)
            ax.fill_between(mean.index, rows.quantile(0.05).values, rows.quantile(0.95).values, color=line.get_color(),
                            alpha=0.15)
        ax.set_title(column, fontsize=9)
        ax.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize=7, ncol=3)
    _month_axis(axes[-1, 0], next(iter(tables.values())))
    return _save(fig, path)


HISTORY_PANELS = (
    ("nvidia revenue, USD B per quarter", "vendor_revenue", "nvidia"),
    ("nvidia booked gross margin", "vendor_gross_margin", "nvidia"),
    ("amd revenue, USD B per quarter", "vendor_revenue", "amd"),
    ("custom silicon designed with Broadcom (TPU, MTIA), USD B per quarter", "custom_revenue", "custom"),
    ("big-four capex, USD B per quarter: model = the accelerators it buys,\nobserved = total capex "
     "(buildings, power, networking too)", "capex", "big-four"),
    ("rental price, USD per H100-hour", "rental_price", "h100-sxm"),
)
MONEY_SERIES = ("vendor_revenue", "custom_revenue", "capex")  # drawn in USD billion per quarter


def history_fit_chart(quarters: pd.DataFrame, observations, window_end: str, path: Path, title: str,
                      members: str = "seeds") -> Path:
    """Observed points over the simulated fans (the median, the central 50% and 90% of the runs), per panel; the
    fitting window (to `window_end`) shaded, the held-out observations after it drawn hollow. Money in USD billion.

    `quarters`: one row per run (a seed, or a parameter draw with a seed: `members` says which, for the legend) and
    calendar quarter (column `quarter_start`, YYYY-MM) with columns named like the panels' series
    (`vendor_revenue:nvidia`, ...). Observed flows over longer periods (a fiscal or calendar year) are drawn as their
    quarterly average (divided by the number of quarters), with a horizontal bar over the period and a diamond
    marker, as the legend says.
    """
    from hardware_catalog import months_between

    fig, axes = plt.subplots(3, 2, figsize=(13, 11), squeeze=False)
    seeds = quarters["seed"].nunique() if "seed" in quarters else 1
    first = quarters["quarter_start"].min()
    x_of = lambda date: months_between(first, date)  # noqa: E731
    for ax, (label, series, subject) in zip(axes.ravel(), HISTORY_PANELS, strict=True):
        column = f"{series}:{subject}"
        unit = 1e-9 if series in MONEY_SERIES else 1.0
        if column in quarters:
            grouped = quarters.groupby("quarter_start")[column]
            xs = [x_of(q) + 1.5 for q in grouped.mean().index]
            ax.plot(xs, grouped.median().values * unit, color="#1f77b4", label=f"model median over {members}")
            wide = band_label(seeds) if members == "seeds" else f"5-95% over {members}"
            ax.fill_between(xs, grouped.quantile(0.05).values * unit, grouped.quantile(0.95).values * unit,
                            color="#1f77b4", alpha=0.15, lw=0, label=f"model 90%: {wide}")
            ax.fill_between(xs, grouped.quantile(0.25).values * unit, grouped.quantile(0.75).values * unit,
                            color="#1f77b4", alpha=0.3, lw=0, label="model 50% (25-75%)")
        points = [o for o in observations if o.series == series and o.subject == subject]
        for o in points:
            months = months_between(o.period_start, o.period_end) + 1
            scale = (3.0 / months if series in MONEY_SERIES else 1.0) * unit
            mid = (x_of(o.period_start) + x_of(o.period_end) + 1) / 2
            y = o.value * scale
            marker = ("o" if o.fit else "s") if months <= 3 or series not in MONEY_SERIES else "D"
            colour = "black" if o.fit else "grey"
            ax.errorbar([mid], [y], xerr=[[months / 2], [months / 2]],
                        yerr=None if not np.isfinite(o.low) else [[y - o.low * scale], [o.high * scale - y]],
                        fmt=marker, color=colour, ms=5, capsize=2,
                        mfc="white" if o.period_end > window_end else colour)
        ax.axvspan(0, x_of(window_end) + 1, color="#ffd92f", alpha=0.15, lw=0)
        if series == "vendor_gross_margin":
            ax.set_ylim(0, 1)
        else:
            ax.set_ylim(bottom=0)
        ax.yaxis.get_major_formatter().set_useOffset(False)
        ax.set_title(label, fontsize=10)
        ticks = [m for m in range(0, int(ax.get_xlim()[1]) + 1, 12)]
        ax.set_xticks(ticks)
        ax.set_xticklabels([str(int(first[:4]) + m // 12) for m in ticks])
        ax.grid(True, alpha=0.3)
    axes[0, 0].plot([], [], "ko", label="observed (fitted)")
    axes[0, 0].plot([], [], "s", color="grey", label="observed (context)")
    axes[0, 0].plot([], [], "o", color="black", mfc="white", label="observed, held out (after the window)")
    axes[0, 0].plot([], [], "D", color="black", label="observed over a year, as its quarterly average (/4)")
    axes[0, 0].fill_between([], [], [], color="#ffd92f", alpha=0.3, label="fitting window; forecast after")
    axes[0, 0].legend(fontsize=7, loc="upper left")  # revenue grows: the upper left is empty in every window
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def band_position(value: float, low: float, high: float) -> float:
    """Where `value` lies relative to the band [low, high]: 0 at low, 1 at high; on a log scale when the band is
    positive (revenues, prices: a miss by a factor counts alike above and below), linear otherwise."""
    if low > 0 and value > 0:
        return float(np.log(value / low) / np.log(high / low))
    return float((value - low) / (high - low))


def band_position_chart(rows: Sequence[dict], path: Path, limits: tuple[float, float] = (-2.0, 3.0)) -> Path:
    """One line per fact (dicts with id, mean, p05, p95, low, high, verdict): its model figure placed in its band
    (shaded, 0-1), a dot for the mean over seeds and a bar for 5-95%; misses in red; beyond the axis, an arrow."""
    fig, ax = plt.subplots(figsize=(9, 0.24 * len(rows) + 1.2))
    ax.axvspan(0.0, 1.0, color="#d9ead3", zorder=0, label="band")
    lo_lim, hi_lim = limits
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        colour = "#c00000" if row["verdict"] == "MISS" else "#2b6cb0"
        spread = [band_position(row[k], row["low"], row["high"]) for k in ("p05", "p95") if np.isfinite(row[k])]
        if len(spread) == 2:
            ax.plot(np.clip(spread, lo_lim, hi_lim), [y, y], color=colour, lw=2, alpha=0.6)
        x = band_position(row["mean"], row["low"], row["high"])
        marker = "o" if lo_lim <= x <= hi_lim else (">" if x > hi_lim else "<")
        ax.plot([np.clip(x, lo_lim, hi_lim)], [y], marker=marker, color=colour, ms=5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["id"] for r in reversed(rows)], fontsize=7)
    ax.set_xlim(lo_lim - 0.1, hi_lim + 0.1)
    ax.set_ylim(-1, len(rows))
    ax.set_xlabel("model figure within the fact's band (0 = low end, 1 = high end; log scale for positive bands)")
    ax.set_title("Validation: model (mean, 5-95% over seeds) against observed bands; misses in red")
    return _save(fig, path)


def decomposition_chart(table: pd.DataFrame, path: Path) -> Path:
    """Centrality-return Spearman by variant (mean and 5-95% over seeds), with the pooled permutation p-value."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    x = np.arange(len(table))
    ax.bar(x, table["mean"], color=["#2b6cb0"] + ["#9bb8d3"] * (len(table) - 1))
    ax.errorbar(x, table["mean"], yerr=[table["mean"] - table["p05"], table["p95"] - table["mean"]], fmt="none",
                ecolor="black", capsize=3)
    for xi, (mean, p) in enumerate(zip(table["mean"], table["pooled_p"], strict=True)):
        ax.annotate(f"p={p:.3f}", (xi, max(mean, 0)), textcoords="offset points", xytext=(0, 4), ha="center",
                    fontsize=7)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(table["variant"], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("Spearman (centrality, fund TVPI)")
    ax.set_title("The reputation loop channel by channel (p: pooled permutation test)")
    return _save(fig, path)


def morris_chart(indices: pd.DataFrame, path: Path) -> Path:
    """Morris screening: mu* (influence) against sigma (interactions, non-linearity), one panel per metric, each
    parameter a labelled point; both axes scaled by the metric's largest mu*."""
    metrics = list(dict.fromkeys(indices["metric"]))
    cols = min(4, len(metrics))
    rows = int(np.ceil(len(metrics) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        part = indices[indices["metric"] == metric]
        scale = part["mu_star"].max() or 1.0
        ax.scatter(part["mu_star"] / scale, part["sigma"] / scale, s=18)
        height = (part["sigma"] / scale).max() or 1.0
        placed: list[tuple[float, float]] = []
        for row in part.nlargest(4, "mu_star").itertuples():
            x, y = row.mu_star / scale, row.sigma / scale
            # a label near one already placed goes a line lower; labels on the right run leftwards, inside the panel
            below = sum(abs(x - px) < 0.3 and abs(y - py) < 0.08 * height for px, py in placed)
            right = x > 0.6
            ax.annotate(row.parameter.split(".", 1)[1], (x, y), fontsize=7, xytext=(-3 if right else 3, 3 - 9 * below),
                        textcoords="offset points", ha="right" if right else "left")
            placed.append((x, y))
        ax.set_title(metric, fontsize=9)
        ax.set_xlabel("mu* / max mu*", fontsize=8)
        ax.set_ylabel("sigma / max mu*", fontsize=8)
        ax.grid(True, alpha=0.3)
    for ax in axes.ravel()[len(metrics):]:
        ax.set_visible(False)
    return _save(fig, path)


def sensitivity_heatmap(indices: pd.DataFrame, key: str, path: Path) -> Path:
    """Parameters x metrics: Sobol ST, or Morris mu* scaled by each metric's largest (1 = most influential)."""
    table = indices.pivot(index="parameter", columns="metric", values=key)
    if key == "mu_star":
        table = table / table.max(axis=0).replace(0.0, 1.0)
    table = table.loc[table.mean(axis=1).sort_values(ascending=False).index]
    fig, ax = plt.subplots(figsize=(1.1 * len(table.columns) + 4, 0.45 * len(table) + 2))
    image = ax.imshow(table.to_numpy(dtype=float), cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(table.columns)))
    ax.set_xticklabels(table.columns, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(len(table.index)))
    ax.set_yticklabels(table.index, fontsize=8)
    fig.colorbar(image, ax=ax, label="ST" if key == "ST" else "mu* / largest mu* of the metric")
    ax.set_title("Which assumptions drive which outcomes", fontsize=10)
    return _save(fig, path)


def window_effects_chart(table: pd.DataFrame, windows: Sequence[str], short_names: dict[str, str], title: str) -> bytes:
    """Small multiples of a scenario comparison's effects by window (experiments.effect_windows): one panel per
    headline series, a group of bars per window, one bar (one colour) per scenario. A bar is the mean paired
    difference as a percentage of the base's mean in that window (so windows of different units, a yearly rate and
    a discounted sum, share one axis); its line the bootstrap 90% interval on the same scale; a star marks an effect
    starred after the Benjamini-Hochberg correction. A window the run did not reach is labelled so. Returns the PNG."""
    import io

    from matplotlib.patches import Patch

    labels = list(dict.fromkeys(table["label"]))
    scenarios = list(dict.fromkeys(table["scenario"]))
    colours = {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(scenarios)}
    columns = min(4, max(len(labels), 1))
    rows = max(1, -(-len(labels) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows + 0.9), squeeze=False)
    width = 0.8 / max(len(scenarios), 1)
    for ax, label in zip(axes.ravel(), labels, strict=False):
        panel = table[table["label"] == label].set_index(["scenario", "window"])
        for j, scenario in enumerate(scenarios):
            for i, window in enumerate(windows):
                if (scenario, window) not in panel.index:
                    continue
                row = panel.loc[(scenario, window)]
                x = i - 0.4 + width * (j + 0.5)
                if row["status"] in ("not reached", "not recorded") or not np.isfinite(row["relative"]):
                    words = row["status"] if row["status"] in ("not reached", "not recorded") else "no value"
                    ax.text(x, 0.5, words, transform=ax.get_xaxis_transform(), rotation=90, ha="center",
                            va="center", fontsize=7, color="0.45")
                    continue
                scale = 100.0 / abs(row["base_mean"])
                ax.bar(x, 100.0 * row["relative"], width=width * 0.9, color=colours[scenario])
                if np.isfinite(row["p05"]):
                    ax.plot([x, x], [row["p05"] * scale, row["p95"] * scale], color="black", linewidth=1)
                if row["significant_bh"]:  # beyond the bar's end and its interval, away from zero
                    ends = [100.0 * row["relative"], *([row["p05"] * scale, row["p95"] * scale]
                                                       if np.isfinite(row["p05"]) else [])]
                    up = row["relative"] >= 0
                    ax.annotate("*", (x, max(ends) if up else min(ends)), ha="center", va="bottom" if up else "top",
                                fontsize=12)
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_xticks(range(len(windows)))
        ax.set_xticklabels([short_names.get(w, w) for w in windows], fontsize=8)
        ax.set_xlim(-0.5, len(windows) - 0.5)
        ax.set_title(label, fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("scenario - base, % of base", fontsize=8)
    for ax in axes.ravel()[len(labels):]:
        ax.set_visible(False)
    handles = [Patch(color=colours[name], label=name) for name in scenarios]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(scenarios), 6), fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120)
    plt.close(fig)
    return buffer.getvalue()
