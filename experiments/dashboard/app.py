"""The teaching dashboard page. Start it with `compute-market dashboard`, or
`solara run experiments/dashboard/app.py` (set COMPUTE_MARKET_PRESET to open on another preset).

A classroom layout: a top bar with labelled Reset / Play / Step, the date and 12-month monitors; presets, levers
and exports on the left; the charts in the middle; the lesson on the right, with steps to tick off and its
prediction question. Presenter mode shows one chart with larger type. Each browser session builds its own model
(state lives in the page's hooks, never at module level); the only state shared by the sessions of a server is
the answer book of predictions, which the Teacher tab reads. Only the visible tab is drawn; the network layout
is computed once per simulated year; the baseline ghost is one cached run per (preset, seed).
"""

from __future__ import annotations

import dataclasses
import io
import os
import time
import uuid

import matplotlib
import numpy as np
import solara
import solara.server.settings

from experiments.dashboard import figures, lessons, predictions, session
from hardware_catalog import add_months

DEFAULT_PRESET = os.environ.get("COMPUTE_MARKET_PRESET", "baseline")
solara.server.settings.theme.show_banner = False  # Solara's corner banner would cover the page's text
TABS = ("Market", "Prices", "Chip revenue", "Supply", "Capex & power", "Venture", "About preset", "Glossary",
        "Teacher")
CHART_TABS = TABS[:5]
SCREEN_DPI = 100  # the figures' own size (figures.style): the page scales the image to the column's width
PNG_DPI = 110  # the PNG download
PLAY_PAUSE_S = 0.05  # between redraws while playing: lets clicks (Pause) through
MONTHS_PER_REDRAW = (1, 3, 6, 12)
RECENT_EVENTS = 6  # listed in full under the chart; older ones fold away
LEVER_SLIDERS = (  # (field, label) multipliers relative to the preset
    ("lock_in", "Lock-in (switching cost) x preset"),
    ("capacity", "Packaging / HBM capacity x preset"),
    ("demand_growth", "AI demand growth x preset"),
    ("lp_pool", "LP money for VC funds x preset"),
)
LEVER_CHOICES = (
    ("lead_time", "Supply lead time (months vendors commit ahead)", session.LEAD_TIME_CHOICES),
    ("export_controls", "Export controls", session.EXPORT_CONTROL_CHOICES),
    ("price_cap", "Price cap on NVIDIA's margin from 2026", session.PRICE_CAP_CHOICES),
    ("vc_loop", "VC feedback loop (information advantage)", session.LOOP_CHOICES),
)
CSS = """
.cm-top { position: sticky; top: 0; z-index: 10; background: white; border-bottom: 1px solid #ddd;
          padding: 4px 8px; }
.cm-top .v-btn { text-transform: none; font-size: 1rem; }
.cm-monitor-name { font-size: 0.75rem; color: #555; line-height: 1.1; }
[class^="monitor-"] { font-size: 1.05rem; font-weight: bold; line-height: 1.2; }
.cm-monitor-note { font-size: 0.75rem; color: #555; }
.cm-side { flex: 0 0 240px; width: 240px; }
.cm-main { flex: 1 1 0; min-width: 0; }
.cm-lesson { flex: 0 0 340px; width: 340px; max-height: calc(100vh - 130px); overflow-y: auto;
             position: sticky; top: 120px; font-size: 0.9rem; }
.cm-main img { width: 100%; height: auto; }
.cm-tabs .v-btn { text-transform: none; }
.cm-events { font-size: 0.9rem; max-height: 11em; overflow-y: auto; }
.cm-presenter [class^="monitor-"] { font-size: 1.5rem; }
.cm-presenter .cm-monitor-name { font-size: 1rem; }
.cm-presenter .cm-events { font-size: 1.2rem; }
.cm-side .v-card__title { font-size: 1.05rem; word-break: normal; padding: 8px 12px; }
.cm-answers th, .cm-answers td { padding: 2px 10px; text-align: left; vertical-align: top; }
.cm-answers tr:nth-child(even) { background: #f4f4f4; }
.cm-lesson-text h1 { font-size: 1.3rem; } .cm-lesson-text h2 { font-size: 1.1rem; margin-top: 0.6em; }
"""


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def chart(model, tab: str, ghost: bool, events=None, presenter: bool = False):
    """The matplotlib figure of a chart tab for the model as it is now (`events`: the run's timeline events,
    computed here unless the caller has them); the time axis spans the simulated years."""
    settings = model.settings
    start, months = model.config.start, figures.shown_months(model.month, settings.months)
    events = session.timeline_events(model) if events is None else events
    monthly, vendors = session.model_series(model), session.vendor_series(model)
    ghost_monthly = ghost_vendors = None
    label = session.ghost_label(settings)
    if ghost:  # the whole ghost run, cut to the axis so that it does not set the y scale off screen
        ghost_monthly, ghost_vendors = session.ghost_run(session.ghost_settings(settings))
        ghost_monthly, ghost_vendors = ghost_monthly[ghost_monthly.month < months], ghost_vendors[
            ghost_vendors.month < months]
    with matplotlib.rc_context(figures.style(presenter)):
        if tab == "Market":
            return figures.market_figure(vendors, start, months, events, ghost_vendors, label)
        if tab == "Prices":
            return figures.prices_figure(monthly, start, months, events, ghost_monthly, label)
        if tab == "Chip revenue":
            return figures.revenue_figure(monthly, vendors, start, months, events, ghost_monthly, label)
        if tab == "Supply":
            return figures.supply_figure(monthly, vendors, start, months, events, ghost_monthly, label)
        if tab == "Capex & power":
            return figures.capex_figure(monthly, [h.hyperscaler_id for h in model.hyperscalers], start, months,
                                        events, ghost_monthly, label)
    raise ValueError(f"no chart for tab {tab!r}")


def headline(model) -> list[tuple[str, str, str, str]]:
    """The monitors: (css key, name, value, note). Flows and margins over the last 12 months (or the months so
    far, if fewer), so one month's write-down does not stand for the year; the note gives this month's figure."""
    s = model.stats
    if not s:
        return [("month", "Month", f"{model.config.start} (not started)", "")]
    monthly, vendors = session.model_series(model), session.vendor_series(model)
    months = min(12, len(monthly))
    recent = vendors[(vendors.month >= model.month - months) & (vendors.kind != "hyperscaler_inhouse")]
    sold = recent.groupby("vendor").revenue.sum()
    leader = sold.idxmax() if len(sold) and sold.max() > 0 else next(iter(model.vendors))
    rows = recent[recent.vendor == leader]
    booked = float((rows.revenue * rows.gross_margin).sum() / rows.revenue.sum()) if rows.revenue.sum() > 0 else np.nan
    posted = float((rows.revenue * rows.margin_posted).sum() / rows.revenue.sum()) if rows.revenue.sum() > 0 else np.nan
    all_sold = vendors[vendors.month >= model.month - months].revenue.sum()
    period = "last 12 months" if months == 12 else f"last {months} months"
    this_margin = s.get(f"gross_margin_{leader}", np.nan)
    rental = monthly["rental_price_heq_hour"].tail(months).mean()
    deals = len(model.venture.deals) if model.venture is not None else 0

    def pct(x):
        return f"{x:.0%}" if np.isfinite(x) else "n/a"
    return [
        ("month", "Month", s["date"], ""),
        ("leader", f"Leader, {period}", f"{leader} {sold.max() / all_sold:.0%} of revenue" if all_sold > 0 else leader,
         ""),
        ("margin", f"Leader's gross margin, {period}", f"{pct(booked)} booked",
         f"posted {pct(posted)}; this month {pct(this_margin)}"),
        ("revenue", f"Chip revenue, {period}", f"${monthly['chip_revenue'].tail(months).sum() / 1e9:,.1f}B", ""),
        ("rental", f"H100-eq. hour, {period}", f"${rental:.2f}" if np.isfinite(rental) else "n/a",
         f"this month ${s['rental_price_heq_hour']:.2f}" if np.isfinite(s["rental_price_heq_hour"]) else ""),
        ("deals", "VC deals so far", f"{deals:,}", ""),
    ]


@solara.component
def Monitors(model, version: int):
    with solara.Row(gap="18px", style={"flex-wrap": "wrap", "align-items": "flex-end"}):
        for key, name, value, note in headline(model):
            with solara.Column(gap="0px"):
                solara.Text(name, classes=["cm-monitor-name"])
                solara.Text(value, classes=[f"monitor-{key}"])
                if note:
                    solara.Text(note, classes=["cm-monitor-note"])


@solara.component
def TopBar(model, version: int, playing, per_redraw, presenter, on_step, on_reset):
    running = model.month < model.settings.months
    with solara.Column(classes=["cm-top"], gap="2px"):
        with solara.Row(gap="8px", style={"align-items": "center", "flex-wrap": "wrap"}):
            solara.Text("compute-market", style={"font-weight": "bold", "font-size": "1.1rem"})
            solara.Button("Reset", on_click=on_reset, outlined=True, icon_name="mdi-restart")
            if playing.value:
                solara.Button("Pause", on_click=lambda: playing.set(False), color="warning", icon_name="mdi-pause")
            else:
                solara.Button("Play", on_click=lambda: playing.set(True), color="success", icon_name="mdi-play",
                              disabled=not running)
            solara.Button("Step", on_click=on_step, color="primary", icon_name="mdi-step-forward",
                          disabled=playing.value or not running)
            solara.Select("Months per redraw", values=list(MONTHS_PER_REDRAW), value=per_redraw,
                          style={"max-width": "150px"}, dense=True)
            solara.Checkbox(label="Presenter mode", value=presenter)
            solara.Text(f"preset: {model.settings.preset.replace('_', ' ')}, seed {model.settings.seed}",
                        style={"color": "#555"})
        Monitors(model, version)


@solara.component
def EventList(model, events):
    if not events:
        return
    lines = [f"{add_months(model.config.start, month)}: {label}" for month, label in reversed(events)]
    with solara.Column(classes=["cm-events"], gap="0px"):
        solara.Text(f"Events (dotted lines on the charts), latest first; {len(lines)} so far:",
                    style={"font-weight": "bold"})
        for line in lines[:RECENT_EVENTS]:
            solara.Text(line)
        if len(lines) > RECENT_EVENTS:
            with solara.Details(f"{len(lines) - RECENT_EVENTS} earlier events"):
                for line in lines[RECENT_EVENTS:]:
                    solara.Text(line)


@solara.component
def ChartTab(model, version: int, tab: str, ghost: bool, presenter: bool):
    events = session.timeline_events(model)
    fig = chart(model, tab, ghost, events, presenter)
    solara.FigureMatplotlib(fig, format="png", dpi=SCREEN_DPI,
                            dependencies=[id(model), model.month, ghost, tab, presenter])
    EventList(model, events)
    solara.FileDownload(lambda: png_bytes(fig),
                        filename=f"{model.settings.preset}-{tab.lower().replace(' ', '-')}-month{model.month}.png",
                        label="Download this figure (PNG)")


@solara.component
def VentureTab(model, version: int, presenter: bool = False):
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
    with matplotlib.rc_context(figures.style(presenter)):
        network = figures.network_figure(giant, positions, reputation,
                                         f"VC syndicates: {giant.number_of_nodes()} firms, year {year + 1}",
                                         seed=model.settings.seed)
        ccdf = figures.ccdf_figure(multiples, tail, "Deal multiples (CCDF, log-log)")
    solara.FigureMatplotlib(network, format="png", dpi=SCREEN_DPI)  # one above the other, each the column's width
    solara.FigureMatplotlib(ccdf, format="png", dpi=SCREEN_DPI)
    name = f"{model.settings.preset}-month{model.month}"
    with solara.Row():
        solara.FileDownload(lambda: png_bytes(network), filename=f"{name}-network.png", label="Network (PNG)")
        solara.FileDownload(lambda: png_bytes(ccdf), filename=f"{name}-deal-multiples.png",
                            label="Deal multiples (PNG)")


@solara.component
def TeacherTab(version: int):
    refresh, set_refresh = solara.use_state(0)
    table = predictions.BOOK.table()
    solara.Markdown("**Predictions from every browser session on this server** (kept in the server's memory "
                    "only; nothing leaves this machine). Refresh to see new answers.")
    with solara.Row():
        solara.Button("Refresh", on_click=lambda: set_refresh(refresh + 1), outlined=True)
        solara.FileDownload(lambda: predictions.BOOK.table().to_csv(index=False).encode(),
                            filename="predictions.csv", label="Answers (CSV)")
    if table.empty:
        solara.Text("No predictions yet.", classes=["cm-no-answers"])
    else:
        solara.HTML(tag="div", unsafe_innerHTML=table.to_html(index=False, classes="cm-answers", border=0),
                    classes=["cm-answer-table"])


@solara.component
def MainView(model, version: int, ghost: bool, presenter: bool):
    tab, set_tab = solara.use_state("Market")
    shown = [t for t in TABS if not (presenter and t in ("About preset", "Glossary", "Teacher"))]
    solara.ToggleButtonsSingle(value=tab, values=shown, on_value=set_tab, classes=["cm-tabs"],
                               style={"flex-wrap": "wrap"}, dense=True)
    if tab in CHART_TABS:  # only the visible tab is drawn
        ChartTab(model, version, tab, ghost, presenter)
    elif tab == "Venture" and model.venture is None:
        solara.Markdown("The venture side is off in this preset.")
    elif tab == "Venture":
        VentureTab(model, version, presenter)
    elif tab == "About preset":
        solara.HTML(tag="div", unsafe_innerHTML=lessons.html(
            f"**{model.settings.preset}**: {session.preset_question(model.settings.preset)}\n\n"
            + lessons.info_page(model.settings.preset)), classes=["cm-lesson-text"])
    elif tab == "Glossary":
        solara.HTML(tag="div", unsafe_innerHTML=lessons.html(lessons.glossary()), classes=["cm-lesson-text"])
    else:
        TeacherTab(version)


@solara.component
def PredictionBox(model, version: int, lesson, student_id: str):
    prediction = predictions.for_lesson(lesson.slug)
    text, set_text = solara.use_state("")
    name, set_name = solara.use_state("")
    error, set_error = solara.use_state("")
    submitted, set_submitted = solara.use_state(0)  # re-render with the stored answer
    answer = predictions.BOOK.answer(student_id, lesson.slug)
    outcome = predictions.outcome(prediction, model)
    if answer is not None and outcome is not None:
        predictions.BOOK.set_outcome(student_id, lesson.slug, session_label(model.settings), outcome)

    def submit():
        try:
            value = predictions.parse_answer(prediction, text)
        except ValueError as exc:
            set_error(str(exc))
            return
        set_error("")
        predictions.BOOK.record(student_id, name, lesson.slug, prediction.question, value)
        set_submitted(submitted + 1)

    with solara.Card("Predict, then run", style={"background": "#f6f8fb"}), solara.Column(gap="4px"):
        solara.Text(prediction.question)
        if prediction.kind == "choice":
            solara.Select("Your answer", values=list(prediction.choices), value=text or None, on_value=set_text)
        else:
            solara.InputText("Your answer", value=text, on_value=set_text, continuous_update=True)
        solara.InputText("Your name (optional)", value=name, on_value=set_name, continuous_update=True)
        solara.Button("Submit prediction", on_click=submit, color="primary", outlined=True,
                      disabled=model.month >= prediction.months and answer is None)
        if error:
            solara.Error(error)
        if answer is not None:
            solara.Text(f"Your prediction: {prediction.shown(answer)}", classes=["cm-prediction"])
        if outcome is not None:
            solara.Text(f"This run ({session_label(model.settings)}): {outcome}", classes=["cm-outcome"],
                        style={"font-weight": "bold"})
        elif model.month < prediction.months:
            solara.Text(f"The outcome shows once the run has simulated "
                        f"{add_months(model.config.start, prediction.months - 1)}"
                        + ("" if answer is not None else "; predict before you run."), style={"color": "#555"})


def session_label(settings: session.Settings) -> str:
    """The preset and the levers moved, in a few words."""
    neutral = settings.neutral()
    moved = [f"{f.name}={getattr(settings, f.name)}" for f in dataclasses.fields(settings)
             if f.name not in ("preset", "seed", "months") and getattr(settings, f.name) != getattr(neutral, f.name)]
    return f"{settings.preset}, seed {settings.seed}" + (", " + ", ".join(moved) if moved else "")


@solara.component
def LessonPanel(model, version: int, load, student_id: str):
    all_lessons = lessons.all_lessons()
    by_title = {lesson.title: lesson for lesson in all_lessons}
    chosen, set_chosen = solara.use_state(all_lessons[0].title if all_lessons else "")
    solara.Select("Lesson", values=list(by_title), value=chosen, on_value=set_chosen)
    lesson = by_title.get(chosen)
    if lesson is None:
        return
    running = model.settings.preset == lesson.preset
    preset = lesson.preset.replace("_", " ")
    solara.Button(f"Preset loaded: {preset}" if running else f"Load its preset: {preset}",
                  on_click=lambda: load(lesson.preset), disabled=running, color="primary", small=True,
                  style={"text-transform": "none"})
    if predictions.for_lesson(lesson.slug) is not None:
        PredictionBox(model, version, lesson, student_id).key(f"predict-{lesson.slug}")
    if lesson.steps:
        solara.Text("Run and watch (tick each step off):", style={"font-weight": "bold", "margin-top": "8px"})
        for i, step in enumerate(lesson.steps):
            solara.Checkbox(label=f"{i + 1}. {step}", value=False).key(f"{lesson.slug}-{i}")
    solara.HTML(tag="div", unsafe_innerHTML=lessons.html(lesson.without_steps()), classes=["cm-lesson-text"])


@solara.component
def ExportCard(model):
    with solara.Card("Export this run"):
        solara.FileDownload(lambda: session.export_table(model).to_csv(index=False).encode(),
                            filename=f"{model.settings.preset}-seed{model.settings.seed}.csv", label="Series (CSV)")
        solara.FileDownload(lambda: session.export_table(model).to_parquet(index=False),
                            filename=f"{model.settings.preset}-seed{model.settings.seed}.parquet",
                            label="Series (Parquet)")


@solara.component
def Controls(current: session.Settings, model, load, lever, set_seed, ghost):
    with solara.Card("Presets"), solara.Row(style={"flex-wrap": "wrap"}, gap="4px"):
        for preset in session.PRESETS:
            solara.Button(preset.replace("_", " "), on_click=lambda p=preset: load(p), small=True,
                          color="primary" if preset == current.preset else None, outlined=preset != current.preset)
    with solara.Card("Levers"):
        solara.Text("Relative to the preset; moving one restarts the run.", style={"font-size": "0.8rem"})
        same = current.preset == "baseline" and not current.levers_moved
        solara.Checkbox(label=f"Compare with {session.ghost_label(current)} (faint lines)"
                        + (": the same run until you move a lever or load a preset" if same else ""), value=ghost)
        for field, label in LEVER_SLIDERS:
            solara.Text(f"{label}: {getattr(current, field):.2f}", style={"font-size": "0.85rem"})
            solara.SliderFloat("", value=getattr(current, field), min=0.25 if field != "lock_in" else 0.0,
                               max=2.0, step=0.05, on_value=lever(field), thumb_label=False)
        for field, label, choices in LEVER_CHOICES:
            solara.Select(label, values=list(choices), value=getattr(current, field), on_value=lever(field),
                          dense=True)
        solara.InputText("Seed (replays the same run)", value=str(current.seed), on_value=set_seed)
    ExportCard(model)


@solara.component
def Page():
    settings = solara.use_reactive(session.Settings(preset=DEFAULT_PRESET))
    first = solara.use_memo(lambda: session.DashboardMarket(settings), [])
    model = solara.use_reactive(first)
    version = solara.use_reactive(0)  # bumped after every step: the model changes in place
    playing = solara.use_reactive(False)
    per_redraw = solara.use_reactive(MONTHS_PER_REDRAW[0])
    ghost = solara.use_reactive(False)
    presenter = solara.use_reactive(False)
    student_id = solara.use_memo(lambda: uuid.uuid4().hex, [])

    def advance(months: int) -> None:
        current = model.value
        for _ in range(months):
            current.step()
            if not current.running:
                break
        version.set(version.value + 1)

    def play_loop():
        while playing.value and model.value.running:
            advance(per_redraw.value)
            time.sleep(PLAY_PAUSE_S)
        playing.set(False)

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)

    def rebuild(new: session.Settings) -> None:
        playing.set(False)
        settings.set(new)
        model.set(session.DashboardMarket(settings))
        version.set(version.value + 1)

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

    solara.Title("compute-market")
    solara.Style(CSS)
    with solara.Column(classes=["cm-root"] + (["cm-presenter"] if presenter.value else []), gap="6px",
                       style={"padding": "0px"}):
        TopBar(model.value, version.value, playing, per_redraw, presenter, lambda: advance(1),
               lambda: rebuild(settings.value))
        with solara.Row(gap="12px", style={"align-items": "flex-start"}):
            if not presenter.value:
                with solara.Column(classes=["cm-side"]):
                    Controls(settings.value, model.value, load, lever, set_seed, ghost)
            with solara.Column(classes=["cm-main"]):
                MainView(model.value, version.value, ghost.value, presenter.value)
            if not presenter.value:
                with solara.Column(classes=["cm-lesson"]):
                    LessonPanel(model.value, version.value, load, student_id)
