"""The teaching dashboard without a browser: settings and levers, the model it builds, exports, the lesson
files, and the Solara page rendered in process (solara.render), as Mesa tests its own visualisation."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from experiments.dashboard import figures, lesson_figures, lessons, predictions, session

SHORT = 6  # months: enough for every series to exist


def run(settings: session.Settings, months: int = SHORT) -> session.DashboardMarket:
    model = session.DashboardMarket(settings)
    for _ in range(months):
        model.step()
    return model


# ---------------------------------------------------------------------------------------- settings

def test_presets_are_the_configs():
    assert set(session.PRESETS) == {p.stem for p in session.CONFIG_DIR.glob("*.toml")}
    assert "baseline" in session.PRESETS and len(session.PRESETS) >= 9


@pytest.mark.parametrize("bad, match", [
    ({"preset": "nope"}, "unknown preset"),
    ({"capacity": -1.0}, "capacity"),
    ({"capacity": 0.0}, "above 0"),
    ({"lock_in": float("nan")}, "lock_in"),
    ({"price_cap": "0.3"}, "price_cap"),
    ({"seed": -1}, "seed"),
    ({"lead_time": "5"}, "lead_time"),
])
def test_bad_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        session.Settings(**bad)


def test_levers_are_relative_to_the_preset():
    base, _ = session.load_preset("hbm_shortage")
    cfg = session.build_config(session.Settings(preset="hbm_shortage", capacity=0.5, lock_in=2.0, lp_pool=0.5,
                                                demand_growth=1.5))
    assert cfg.supply.capacity_scale == pytest.approx(0.5 * base.market.supply.capacity_scale) == pytest.approx(0.25)
    assert cfg.choice.switching_cost == pytest.approx(2.0 * base.market.choice.switching_cost)
    assert cfg.venture.lp_pool_usd_per_year == pytest.approx(0.5 * base.market.venture.lp_pool_usd_per_year)
    assert cfg.demand.adoption_speed == pytest.approx(1.5 * base.market.demand.adoption_speed)


def test_neutral_levers_reproduce_the_preset_exactly():
    for preset in session.PRESETS:
        experiment, _ = session.load_preset(preset)
        cfg = session.build_config(session.Settings(preset=preset, months=experiment.market.months))
        assert cfg == experiment.market, preset


def test_choice_levers():
    on = session.build_config(session.Settings(export_controls=session.EXPORT_CONTROL_CHOICES[1]))
    assert on.policy.export_control_regions == ("cn",) and on.policy.export_control_start == "2023-10"
    off = session.build_config(session.Settings(preset="export_controls", export_controls="off"))
    assert off.policy.export_control_regions == ()
    assert session.build_config(session.Settings(preset="price_cap", price_cap="none")).policy.price_cap_vendor == ""
    capped = session.build_config(session.Settings(price_cap="0.45"))
    policy = capped.policy
    assert (policy.price_cap_vendor, policy.price_cap_margin, policy.price_cap_start) == ("nvidia", 0.45, "2026-01")
    assert session.build_config(session.Settings(vc_loop="off")).venture.information_advantage is False
    assert session.build_config(session.Settings(lead_time="6")).supply.supply_lead_time_months == 6
    assert session.build_config(session.Settings(lead_time="0")).supply.supply_lead_time_months == 0


def test_ghost_is_the_preset_without_levers_or_else_the_baseline():
    plain = session.Settings(preset="hbm_shortage", seed=3)
    assert session.ghost_settings(plain) == session.Settings(preset="baseline", seed=3)
    moved = dataclasses.replace(plain, capacity=2.0)
    assert session.ghost_settings(moved) == plain
    assert session.ghost_label(moved) == "hbm_shortage without levers"


# ---------------------------------------------------------------------------------------- the model

def test_same_settings_and_seed_replay_exactly_and_seeds_differ():
    a = run(session.Settings(seed=5)).model_table()
    b = run(session.Settings(seed=5)).model_table()
    c = run(session.Settings(seed=6)).model_table()
    pd.testing.assert_frame_equal(a, b)
    assert not a["chip_revenue"].equals(c["chip_revenue"])


def test_ghost_without_the_venture_side_has_the_same_chip_market():
    settings = session.Settings(preset="hbm_shortage", months=30, seed=4)
    monthly, vendors = session.ghost_run(settings)
    full = run(settings, months=30)
    pd.testing.assert_frame_equal(vendors, full.vendor_table())
    shared = [c for c in monthly.columns if c in full.model_table().columns]
    pd.testing.assert_frame_equal(monthly[shared], full.model_table()[shared])


def test_model_stops_at_the_horizon():
    model = session.DashboardMarket(session.Settings(months=3))
    for _ in range(5):
        model.step()
    assert model.month == 3 and model.running is False


def test_reset_reads_the_current_settings():
    class Box:  # what the page passes: a reactive holding Settings
        value = session.Settings(preset="price_cap", seed=2)
    model = session.DashboardMarket(Box)
    assert model.settings == Box.value and model.config.policy.price_cap_vendor == "nvidia"


def test_export_holds_one_row_per_month_with_vendor_columns():
    model = run(session.Settings(seed=1))
    table = session.export_table(model)
    assert len(table) == SHORT and list(table["month"]) == list(range(SHORT))
    assert {"preset", "seed", "revenue_nvidia", "gross_margin_nvidia", "margin_posted_amd"} <= set(table.columns)
    assert table["chip_revenue"].to_numpy() == pytest.approx(model.model_table()["chip_revenue"].to_numpy())
    assert session.export_table(session.DashboardMarket(session.Settings())).empty


def test_timeline_events_name_policies_and_launches():
    model = run(session.Settings(preset="export_controls"), months=14)
    labels = [label for _, label in session.timeline_events(model)]
    assert "export controls" in labels
    assert any(label.endswith("launch") for label in labels)
    assert all(0 <= month < model.month for month, _ in session.timeline_events(model))


def test_time_axis_spans_the_simulated_years():
    assert figures.shown_months(0, 120) == 12 and figures.shown_months(12, 120) == 12
    assert figures.shown_months(14, 120) == 24 and figures.shown_months(119, 120) == 120
    assert figures.shown_months(30, 24) == 24


def test_margins_are_drawn_only_for_vendors_that_sell():
    rows = pd.DataFrame({"vendor": ["big", "big", "tiny"], "revenue": [60.0, 39.9, 0.1], "kind": "merchant"})
    assert set(figures.selling(rows).vendor) == {"big"}
    assert set(figures.selling(rows.assign(revenue=[60.0, 39.0, 1.0])).vendor) == {"big", "tiny"}


def test_rounding_noise_is_no_write_down():
    vendors = pd.DataFrame({"month": [0, 1], "vendor": "nvidia", "kind": "merchant", "inventory": [10.0, 12.0],
                            "writedown": [1e-17, 4e5], "revenue": [1e9, 1e9]})
    monthly = pd.DataFrame({"month": [0, 1], "capacity_hbm_gb": [1e6, 1e6], "backlog_units": [0.0, 0.0]})
    fig = figures.supply_figure(monthly, vendors, "2023-01", 12, [])
    twin = fig.axes[-1]
    assert twin.get_ylim() == (0.0, 1.0)  # USD B: nothing drawn above zero, no axis scaled to 1e-17
    drawn = twin.collections[0].get_paths()[0].vertices[:, 1]
    assert drawn.max() == 0.0


def test_monitors_give_twelve_month_figures():
    from experiments.dashboard import app

    model = run(session.Settings(seed=0), months=14)
    monitors = {key: (name, value, note) for key, name, value, note in app.headline(model)}
    vendors = model.vendor_table()
    year = vendors[(vendors.vendor == "nvidia") & vendors.month.between(2, 13)]
    booked = (year.revenue * year.gross_margin).sum() / year.revenue.sum()
    assert monitors["margin"][0] == "Leader's gross margin, last 12 months"
    assert monitors["margin"][1] == f"{booked:.0%} booked"
    revenue = model.model_table().chip_revenue.to_numpy()[2:14].sum()
    assert monitors["revenue"][1] == f"${revenue / 1e9:,.1f}B"


@pytest.mark.slow
def test_figures_draw_empty_and_running_models():
    empty = session.DashboardMarket(session.Settings())
    model = run(session.Settings())
    from experiments.dashboard import app
    for m in (empty, model):
        for tab in app.CHART_TABS:
            for presenter in (False, True):
                assert app.png_bytes(app.chart(m, tab, False, presenter=presenter)).startswith(b"\x89PNG")
    giant = figures.giant_component(model.venture.graph)
    figures.network_figure(giant, figures.network_layout(giant), {}, "network")
    figures.ccdf_figure(np.array([0.5, 1.0, 3.0]), None, "ccdf")


# ---------------------------------------------------------------------------------------- texts

LESSON_SECTIONS = ("The question", "Predict first", "Run and watch", "What the model shows", "Things to try",
                   "Real-world figures")
INFO_SECTIONS = ("What is it?", "How it works", "How to use it", "Things to notice", "Things to try",
                 "Extending the model")


def test_lessons_cover_the_topics_with_every_section():
    all_lessons = lessons.all_lessons()
    assert len(all_lessons) >= 5
    for lesson in all_lessons:
        assert lesson.preset in session.PRESETS, lesson.slug
        headings = re.findall(r"^## (.+)$", lesson.text, flags=re.MULTILINE)
        for section in LESSON_SECTIONS:
            assert any(h.startswith(section) for h in headings), (lesson.slug, section)
        figures_part = lesson.text.split("## Real-world figures", 1)[1]
        assert re.search(r"\(.*(19|20)\d\d.*\)", figures_part), f"{lesson.slug}: real-world figures need dated sources"
    text = " ".join(lesson.text.lower() for lesson in all_lessons)
    for topic in ("lock-in", "open software stack", "hbm", "export control", "power law"):
        assert topic in text, topic


def test_every_lesson_figure_is_stored_and_every_stored_figure_is_quoted():
    used = set()
    for lesson in lessons.all_lessons():
        used |= set(lesson_figures.placeholders(lesson.source))
        assert not lesson_figures.placeholders(lesson.text), lesson.slug  # all filled
    stored = lesson_figures.stored()
    assert used == set(stored) == set(lesson_figures.BY_NAME)


def test_lessons_show_dollar_figures_literally():
    shortage = lessons.read_lesson(lessons.LESSON_DIR / "03-hbm-shortage.md")
    html = lessons.html(shortage.text)
    for name in ("l3_revenue_2024_shortage", "l3_revenue_2024", "l3_rental_2024_shortage"):
        figure = lesson_figures.stored()[name]
        assert figure.startswith("$") and figure in html, name
    assert "<span class=\"katex" not in html and "\\(" not in html


def test_a_placeholder_without_a_figure_is_refused():
    with pytest.raises(KeyError, match="no figure named 'nope'"):
        lesson_figures.fill("see {nope}", {})


def test_lesson_steps_are_the_run_and_watch_items():
    shock = lessons.read_lesson(lessons.LESSON_DIR / "06-demand-shock.md")
    assert len(shock.steps) == 4 and shock.steps[3].startswith("Set Supply lead time to 6 months")
    assert "## Run and watch" not in shock.without_steps() and "## What the model shows" in shock.without_steps()


def test_a_lesson_figure_that_rounds_to_zero_is_written_without_a_sign():
    assert lesson_figures.written("{:.2f}", -0.001) == "0.00"
    assert lesson_figures.written("${:.1f}B", -0.04) == "$0.0B"
    assert lesson_figures.written("{:.0%}", -0.004) == "0%"
    assert lesson_figures.written("{:.2f}", -0.01) == "-0.01"  # a value that does not round to zero keeps its sign
    assert lesson_figures.written("{:.2f}", 0.44) == "0.44"


def test_every_preset_has_an_info_page_and_the_glossary_has_the_terms():
    for preset in session.PRESETS:
        page = lessons.info_page(preset)
        for section in INFO_SECTIONS:
            assert f"## {section}" in page, (preset, section)
    glossary = lessons.glossary()
    for term in ("Roofline", "MFU", "HBM", "CoWoS", "Gross margin", "TVPI", "Syndicate", "Eigenvector centrality"):
        assert f"**{term}" in glossary, term


def test_a_lesson_without_a_preset_line_is_refused(tmp_path):
    bad = tmp_path / "x.md"
    bad.write_text("# Title\n\ntext\n")
    with pytest.raises(ValueError, match="preset: NAME"):
        lessons.read_lesson(bad)


# ---------------------------------------------------------------------------------------- predictions

def test_every_lesson_has_a_prediction_and_answers_are_checked():
    for lesson in lessons.all_lessons():
        assert predictions.for_lesson(lesson.slug) is not None, lesson.slug
    number = predictions.for_lesson("03-hbm-shortage")
    assert predictions.parse_answer(number, "$98B") == 98.0
    with pytest.raises(ValueError, match="enter a number in USD B"):
        predictions.parse_answer(number, "lots")
    choice = predictions.for_lesson("06-demand-shock")
    assert predictions.parse_answer(choice, "booked") == "booked"
    with pytest.raises(ValueError, match="choose one of"):
        predictions.parse_answer(choice, "neither")


def test_the_outcome_shows_once_the_run_reaches_the_year_asked_about():
    prediction = predictions.for_lesson("03-hbm-shortage")
    model = run(session.Settings(), months=6)
    assert predictions.outcome(prediction, model) is None
    tables = lesson_figures.run_tables(session.Settings(months=24))
    model = run(session.Settings(months=24), months=24)
    expected = tables.monthly.chip_revenue.to_numpy()[12:24].sum() / 1e9
    assert predictions.outcome(prediction, model) == f"{expected:,.2f} USD B"


def test_the_answer_book_keeps_each_sessions_latest_answer():
    book = predictions.AnswerBook()
    book.record("s1", "Ada", "03-hbm-shortage", "q", 90.0)
    book.record("s1", "Ada", "03-hbm-shortage", "q", 95.0)
    book.record("s2", "", "03-hbm-shortage", "q", 120.0)
    book.set_outcome("s1", "03-hbm-shortage", "hbm_shortage, seed 0", "98.00 USD B")
    table = book.table()
    assert list(table.columns) == list(predictions.COLUMNS) and len(table) == 2
    ada = table[table.student == "Ada"].iloc[0]
    assert (ada.answer, ada.outcome) == (95.0, "98.00 USD B")
    assert table[table.student != "Ada"].iloc[0].student == "s2"  # no name: the session's id


# ---------------------------------------------------------------------------------------- the page

solara = pytest.importorskip("solara", reason="the dashboard extra (Solara) is not installed")


@pytest.fixture()
def page():
    import ipyvuetify as v

    from experiments.dashboard import app

    _, rc = solara.render(solara.AppLayout(children=[app.Page()]), handle_error=False)

    def button(label):
        return next(b for b in rc.find(v.Btn).widgets if label in [c for c in b.children if isinstance(c, str)])

    def monitor(name="month"):
        return rc.find(v.Html, class_=f"monitor-{name}").widget.children[0]

    yield rc, button, monitor
    rc.close()


def test_page_steps_the_model(page):
    _, button, monitor = page
    assert "not started" in monitor()
    button("Step").click()
    button("Step").click()
    assert monitor() == "2023-02"


def test_preset_button_loads_the_preset_and_resets_levers(page):
    import ipyvuetify as v

    rc, button, monitor = page
    button("Step").click()
    button("hbm shortage").click()
    assert "not started" in monitor()
    assert button("hbm shortage").color == "primary" and button("baseline").color != "primary"
    sliders = rc.find(v.Slider).widgets
    assert all(s.v_model == 1.0 for s in sliders if s.label == "")


def test_lever_restarts_the_run_with_its_value(page):
    import ipyvuetify as v

    rc, button, monitor = page
    button("Step").click()
    slider = next(s for s in rc.find(v.Slider).widgets if s.label == "" and s.min == 0.25)  # capacity
    slider.v_model = 0.5
    assert "not started" in monitor()
    rc.find(v.Html, children=["Packaging / HBM capacity x preset: 0.50"]).assert_single()


def test_the_lesson_is_beside_the_chart(page):
    import ipyvuetify as v

    rc, _, _ = page
    first = lessons.all_lessons()[0]
    assert rc.find(v.Btn, children=[f"Preset loaded: {first.preset}"]).widgets
    rendered = [w.unsafe_innerHTML for w in rc.find(v.VuetifyTemplate).widgets if hasattr(w, "unsafe_innerHTML")]
    assert any(first.title in html for html in rendered)
    assert rc.find(v.Select, label="Lesson").widget.items[0] == first.title  # the picker shows titles


def test_controls_are_labelled_and_mesa_leftovers_are_gone(page):
    import ipyvuetify as v

    rc, button, _ = page
    for label in ("Reset", "Play", "Step"):
        button(label)
    labels = [c for b in rc.find(v.Btn).widgets for c in b.children if isinstance(c, str)]
    assert "▶" not in labels and "Model Parameters" not in str(labels)
    assert not rc.find(v.Checkbox, label="Use Threads").widgets


# ---------------------------------------------------------------------------------------- the command

def test_dashboard_command_refuses_bad_input_in_one_line(capsys):
    from experiments.cli import main

    assert main(["dashboard", "--preset", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown preset 'nope'" in err
    packaged = str(session.CONFIG_DIR.parent.parent / "hardware_catalog" / "data")
    assert main(["--catalog-dir", packaged, "dashboard"]) == 2
    assert "--catalog-dir" in capsys.readouterr().err


@pytest.mark.slow
def test_dashboard_command_serves_the_page_and_stops_on_ctrl_c(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    from serving import free_port, popen_as_at_a_terminal, wait_until_serving

    port = free_port()
    proc = popen_as_at_a_terminal([sys.executable, "-m", "experiments.cli", "dashboard", "--port", str(port)],
                                  stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True,
                                  cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    try:
        page = wait_until_serving(f"http://127.0.0.1:{port}/", proc)
        assert "solara" in page.lower()
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert err.strip().splitlines()[-1].startswith("compute-market: dashboard stopped (Ctrl-C)")
    assert "Aborted" not in err  # the server does not answer Ctrl-C with a line of its own
    assert list(tmp_path.iterdir()) == []  # it wrote nothing
