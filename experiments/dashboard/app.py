"""The teaching dashboard page (Mesa SolaraViz). Start it with `compute-market dashboard`, or
`solara run experiments/dashboard/app.py` (set COMPUTE_MARKET_PRESET to open on another preset).

Each browser session builds its own model (state lives in the page's hooks, never at module level).
Mesa's SolaraViz gives the Reset / Step / Play controls and the speed sliders; the sidebar adds the
presets (one click loads one), the levers (relative to the preset, applied at once: the run restarts
from month 0) and the seed. Only the visible tab is drawn; the network layout is computed once per
simulated year; the baseline ghost is one cached run per (preset, seed).
"""

from __future__ import annotations

import dataclasses
import io
import os

import numpy as np
import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from experiments.dashboard import figures, lessons, session
from hardware_catalog import add_months

DEFAULT_PRESET = os.environ.get("COMPUTE_MARKET_PRESET", "baseline")
TABS = ("Market", "Prices", "Supply", "Capex and power", "Venture", "Lessons", "About this preset", "Glossary")
CHART_TABS = TABS[:5]
SCREEN_DPI = 80  # figures are drawn at 10 inches wide: 800 px on screen (the PNG download uses 110 dpi)
LEVER_SLIDERS = (  # (field, label) multipliers relative to the preset
    ("lock_in", "Lock-in (switching cost) x preset"),
    ("capacity", "Packaging / HBM capacity x preset"),
    ("demand_growth", "AI demand growth x preset"),
    ("lp_pool", "LP money for VC funds x preset"),
)
LEVER_CHOICES = (
    ("export_controls", "Export controls", session.EXPORT_CONTROL_CHOICES),
    ("price_cap", "Price cap on NVIDIA's margin from 2026", session.PRICE_CAP_CHOICES),
    ("vc_loop", "VC feedback loop (information advantage)", session.LOOP_CHOICES),
)


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def chart(model, tab: str, ghost: bool, events=None):
    """The matplotlib figure of a chart tab for the model as it is now (`events`: the run's timeline events,
    computed here unless the caller has them)."""
    settings = model.settings
    start, months = model.config.start, settings.months
    events = session.timeline_events(model) if events is None else events
    monthly, vendors = session.model_series(model), session.vendor_series(model)
    ghost_monthly = ghost_vendors = None
    label = session.ghost_label(settings)
    if ghost:
        ghost_monthly, ghost_vendors = session.ghost_run(session.ghost_settings(settings))
    if tab == "Market":
        return figures.market_figure(vendors, start, months, events, ghost_vendors, label)
    if tab == "Prices":
        return figures.prices_figure(monthly, start, months, events, ghost_monthly, label)
    if tab == "Supply":
        return figures.supply_figure(monthly, vendors, start, months, events, ghost_monthly, label)
    if tab == "Capex and power":
        return figures.capex_figure(monthly, [h.hyperscaler_id for h in model.hyperscalers], start, months, events,
                                    ghost_monthly, label)
    raise ValueError(f"no chart for tab {tab!r}")


def headline(model) -> dict[str, str]:
    """The monitors: this month's headline figures."""
    s = model.stats
    if not s:
        return {"Month": f"{model.config.start} (not started)"}
    merchants = {vid: v for vid, v in model.vendors.items() if v.prices_strategically}
    leader = max(merchants, key=lambda vid: s.get(f"revenue_share_{vid}", 0.0))
    margin = s.get(f"gross_margin_{leader}", np.nan)
    year = session.model_series(model).tail(12)
    deals = len(model.venture.deals) if model.venture is not None else 0
    return {
        "Month": s["date"],
        "Leader": f"{leader} {s.get(f'revenue_share_{leader}', 0.0):.0%} of revenue",
        "Leader's gross margin": f"{margin:.0%}" if np.isfinite(margin) else "n/a",
        "Chip revenue, last 12 months": f"${year['chip_revenue'].sum() / 1e9:,.1f}B",
        "H100-equivalent hour": (f"${s['rental_price_heq_hour']:.2f}" if np.isfinite(s["rental_price_heq_hour"])
                                 else "n/a"),
        "VC deals so far": f"{deals:,}",
    }


@solara.component
def Monitors(model):
    update_counter.get()  # a step changes the model, not its identity: re-render on every step
    with solara.Row(gap="24px", style={"flex-wrap": "wrap"}):
        for name, value in headline(model).items():
            with solara.Column(gap="0px"):
                solara.Text(name, style={"font-size": "0.75rem", "color": "grey"})
                solara.Text(value, classes=[f"monitor-{name.split()[0].lower()}"], style={"font-size": "1.1rem",
                                                                                          "font-weight": "bold"})


@solara.component
def ChartTab(model, tab: str, ghost: bool):
    update_counter.get()  # a step changes the model, not its identity: re-render on every step
    events = session.timeline_events(model)
    fig = chart(model, tab, ghost, events)
    solara.FigureMatplotlib(fig, format="png", dpi=SCREEN_DPI, dependencies=[id(model), model.month, ghost, tab])
    if events:
        solara.Markdown("**Events** (dotted lines): " + "; ".join(
            f"{add_months(model.config.start, month)} {label}" for month, label in events),
                        style={"font-size": "0.8rem"})
    solara.FileDownload(lambda: png_bytes(fig),
                        filename=f"{model.settings.preset}-{tab.lower()}-month{model.month}.png",
                        label="Download this figure (PNG)")


@solara.component
def VentureTab(model):
    update_counter.get()  # a step changes the model, not its identity: re-render on every step
    venture = model.venture
    year = model.month // 12
    def snapshot():
        giant = figures.giant_component(venture.graph)
        return giant, figures.network_layout(giant, seed=model.settings.seed)

    giant, positions = solara.use_memo(snapshot, [id(model), year])  # the layout is costly: once per simulated year
    reputation = {i: f.reputation for i, f in enumerate(venture.firms)}
    deals = venture.deal_table()
    multiples = deals["multiple"].to_numpy() if len(deals) else np.array([])

    def fit():
        if len(multiples) < figures.MIN_DEALS_FOR_FIT:
            return None
        from experiments.venture_analysis import powerlaw_fit
        return powerlaw_fit(multiples)

    # the tail fit (Clauset-Shalizi-Newman, several seconds) runs in a thread once per simulated year;
    # the CCDF is drawn at once and the fitted line appears when the fit is done
    fitted = solara.use_thread(fit, dependencies=[id(model), year, len(multiples) >= figures.MIN_DEALS_FOR_FIT])
    tail = fitted.value if fitted.state == solara.ResultState.FINISHED else None
    network = figures.network_figure(giant, positions, reputation, f"Syndication network, largest component "
                                     f"({giant.number_of_nodes()} firms; layout of year {year + 1})")
    ccdf = figures.ccdf_figure(multiples, tail, "Deal multiples (CCDF, log-log)")
    with solara.Row():
        solara.FigureMatplotlib(network, format="png", dpi=SCREEN_DPI)
        solara.FigureMatplotlib(ccdf, format="png", dpi=SCREEN_DPI)
    name = f"{model.settings.preset}-month{model.month}"
    with solara.Row():
        solara.FileDownload(lambda: png_bytes(network), filename=f"{name}-network.png", label="Network (PNG)")
        solara.FileDownload(lambda: png_bytes(ccdf), filename=f"{name}-deal-multiples.png",
                            label="Deal multiples (PNG)")


@solara.component
def LessonsTab(model, load):
    all_lessons = lessons.all_lessons()
    chosen, set_chosen = solara.use_state(all_lessons[0].slug if all_lessons else "")
    by_slug = {lesson.slug: lesson for lesson in all_lessons}
    solara.Select("Lesson", values=list(by_slug), value=chosen, on_value=set_chosen)
    lesson = by_slug.get(chosen)
    if lesson is None:
        return
    running = model.settings.preset == lesson.preset
    solara.Button(f"Load this lesson's preset ({lesson.preset})" + (" - loaded" if running else ""),
                  on_click=lambda: load(lesson.preset), disabled=running, color="primary")
    solara.Markdown(lesson.text)


@solara.component
def MainView(model, ghost: bool, load):
    tab, set_tab = solara.use_state(0)
    Monitors(model)
    with solara.v.Tabs(v_model=tab, on_v_model=set_tab):
        for name in TABS:
            solara.v.Tab(children=[name])
    name = TABS[tab]  # only the visible tab is drawn
    if name in CHART_TABS[:4]:
        ChartTab(model, name, ghost)
    elif name == "Venture" and model.venture is None:
        solara.Markdown("The venture side is off in this preset.")
    elif name == "Venture":
        VentureTab(model)
    elif name == "Lessons":
        LessonsTab(model, load)
    elif name == "About this preset":
        solara.Markdown(f"**{model.settings.preset}**: {session.preset_question(model.settings.preset)}\n\n"
                        + lessons.info_page(model.settings.preset))
    else:
        solara.Markdown(lessons.glossary())


@solara.component
def ExportCard(model):
    with solara.Card("Export this run"):
        solara.FileDownload(lambda: session.export_table(model).to_csv(index=False).encode(),
                            filename=f"{model.settings.preset}-seed{model.settings.seed}.csv", label="Series (CSV)")
        solara.FileDownload(lambda: session.export_table(model).to_parquet(index=False),
                            filename=f"{model.settings.preset}-seed{model.settings.seed}.parquet",
                            label="Series (Parquet)")


@solara.component
def Page():
    settings = solara.use_reactive(session.Settings(preset=DEFAULT_PRESET))
    first = solara.use_memo(lambda: session.DashboardMarket(settings), [])
    model = solara.use_reactive(first)
    ghost = solara.use_reactive(False)

    def rebuild(new: session.Settings) -> None:
        settings.set(new)
        model.set(session.DashboardMarket(settings))

    def load(preset: str) -> None:  # levers back to "as the preset has it"
        rebuild(session.Settings(preset=preset, seed=settings.value.seed, months=settings.value.months))

    def lever(field):
        return lambda value: rebuild(dataclasses.replace(settings.value, **{field: value}))

    def set_seed(text):
        try:
            seed = int(text)
        except (TypeError, ValueError):
            return
        if seed >= 0:
            rebuild(dataclasses.replace(settings.value, seed=seed))

    current = settings.value
    solara.Title("compute-market")
    SolaraViz(model, components=[], model_params={"settings": settings}, name="compute-market: the AI compute economy",
              play_interval=50)
    with solara.Sidebar():
        with solara.Card("Preset (one click loads it)"), solara.Row(style={"flex-wrap": "wrap"}, gap="4px"):
            for preset in session.PRESETS:
                solara.Button(preset.replace("_", " "), on_click=lambda p=preset: load(p), small=True,
                              color="primary" if preset == current.preset else None,
                              outlined=preset != current.preset)
        with solara.Card("Levers (relative to the preset; the run restarts)"):
            for field, label in LEVER_SLIDERS:
                solara.Text(f"{label}: {getattr(current, field):.2f}", style={"font-size": "0.85rem"})
                solara.SliderFloat("", value=getattr(current, field), min=0.25 if field != "lock_in" else 0.0,
                                   max=2.0, step=0.05, on_value=lever(field), thumb_label=False)
            for field, label, choices in LEVER_CHOICES:
                solara.Select(label, values=list(choices), value=getattr(current, field), on_value=lever(field))
            solara.InputText("Seed (replays the same run)", value=str(current.seed), on_value=set_seed)
            same = current.preset == "baseline" and not current.levers_moved
            solara.Checkbox(label=f"Compare with {session.ghost_label(current)} (faint lines)"
                            + (": the same run until you move a lever or load a preset" if same else ""), value=ghost)
        ExportCard(model.value)
    MainView(model.value, ghost.value, load)
