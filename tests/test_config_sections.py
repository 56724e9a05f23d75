"""MarketConfig in sections (issue 23 item 3): each TOML table is a section, ranges are declared once as field
metadata and read by both the loader and the dataclasses, and the [market] shorthand of the older format still
reads into the right section."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from experiments.config import ConfigError, load_experiment, with_value
from market.config import SECTION_OF, SECTIONS, MarketConfig, bounds_of

BASELINE = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "baseline.toml"


def config(tmp_path: Path, body: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'extends = "{BASELINE}"\n{body}')
    return path


def test_a_section_table_sets_its_field(tmp_path):
    body = "[choice]\nswitching_cost = 2.5\n[supply]\ncapacity_scale = 0.5\n"
    market = load_experiment(config(tmp_path, body)).market
    assert market.choice.switching_cost == 2.5 and market.supply.capacity_scale == 0.5


def test_the_market_shorthand_reads_into_the_section_and_errors_name_it_as_written(tmp_path):
    market = load_experiment(config(tmp_path, "[market]\nswitching_cost = 2.5\n")).market
    assert market.choice.switching_cost == 2.5
    with pytest.raises(ConfigError, match=r"c.toml: market.switching_cost: must be <= 100, got 500"):
        load_experiment(config(tmp_path, "[market]\nswitching_cost = 500\n"))
    with pytest.raises(ConfigError, match=r"market.switching_cost: also set as choice.switching_cost; set it once"):
        load_experiment(config(tmp_path, "[market]\nswitching_cost = 1.0\n[choice]\nswitching_cost = 2.0\n"))


def test_a_child_file_wins_however_either_file_spells_the_field(tmp_path):
    config(tmp_path, "[market]\nswitching_cost = 1.0\n", "base.toml")
    child = tmp_path / "child.toml"
    child.write_text('extends = "base.toml"\n[choice]\nswitching_cost = 2.0\n')
    assert load_experiment(child).market.choice.switching_cost == 2.0
    child.write_text('extends = "base.toml"\n[choice]\nswitching_cost = 500\n')
    with pytest.raises(ConfigError, match=r"child.toml: choice.switching_cost: must be <= 100"):  # where it was set
        load_experiment(child)


def test_unknown_keys_list_their_section_and_policy_levers_stay_in_policy(tmp_path):
    with pytest.raises(ConfigError, match=r"choice.switching_kost: unknown key \(known: choice_noise, "):
        load_experiment(config(tmp_path, "[choice]\nswitching_kost = 1.0\n"))
    with pytest.raises(ConfigError, match=r"market.price_cap_vendor: unknown key .*policy levers go in \[policy\]"):
        load_experiment(config(tmp_path, '[market]\nprice_cap_vendor = "nvidia"\n'))


def test_sweep_paths_take_either_spelling(tmp_path):
    experiment = load_experiment(config(tmp_path, ""))
    assert with_value(experiment, "choice.switching_cost", 1.5).market.choice.switching_cost == 1.5
    assert with_value(experiment, "market.switching_cost", 1.5).market.choice.switching_cost == 1.5


def numeric_fields():
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            bounds = f.metadata.get("bounds")
            if bounds is not None:
                yield section, f.name, bounds


@pytest.mark.parametrize(("section", "name", "bounds"), list(numeric_fields()),
                         ids=[f"{section}.{name}" for section, name, _ in numeric_fields()])
def test_the_loader_and_the_dataclass_refuse_the_same_out_of_range_values(tmp_path, section, name, bounds):
    """Just outside a declared bound, both the section's own check and the TOML loader refuse, naming the field."""
    outside = [bounds.low - 1.0 if not bounds.low_open else bounds.low]
    if bounds.high is not None:
        outside.append(bounds.high + 1.0 if not bounds.high_open else bounds.high)
    for value in outside:
        with pytest.raises(ValueError, match=f"'{name}'"):
            MarketConfig.build(**{name: value})
        with pytest.raises(ConfigError, match=f"{section}.{name}: must be"):
            load_experiment(config(tmp_path, f"[{section}]\n{name} = {float(value)!r}\n"))


def test_every_section_field_has_one_section_and_a_declared_range_when_numeric():
    assert len(SECTION_OF) == sum(len(dataclasses.fields(cls)) for cls in SECTIONS.values())
    for section, cls in SECTIONS.items():
        hints = {f.name: f.type for f in dataclasses.fields(cls)}
        for name, hint in hints.items():
            if hint in ("int", "float"):
                assert bounds_of(cls, name) is not None, f"{section}.{name} declares no range"
