"""Global sensitivity analysis: SALib's designs, a toy model with a known answer through the same runner, resuming
an interrupted analysis, and the command end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments import sensitivity
from experiments.config import load_experiment
from experiments.errors import Interrupted, UsageError

TOY = (sensitivity.Parameter("x.matters", 0.0, 1.0), sensitivity.Parameter("x.barely", 0.0, 1.0),
       sensitivity.Parameter("x.ignored", 0.0, 1.0))


def toy(values, seed):
    """One parameter that matters, one that barely does, one that does not; a little seed noise."""
    a, b, _ = values
    return {"y": 5.0 * a + 0.05 * b ** 2 + 1e-6 * seed, "z": a * b}


class Counting:
    """The toy, counting its calls and interrupting (as Ctrl-C would) after `stop_after` of them."""

    def __init__(self, stop_after: int | None = None):
        self.calls, self.stop_after = 0, stop_after

    def __call__(self, values, seed):
        if self.stop_after is not None and self.calls >= self.stop_after:
            raise KeyboardInterrupt
        self.calls += 1
        return toy(values, seed)


def test_the_designs_are_salibs():
    from SALib.sample import morris, sobol

    problem = sensitivity.problem(TOY)
    ours = sensitivity.design("morris", TOY, 6)
    assert ours.shape == (6 * (len(TOY) + 1), len(TOY))
    assert np.array_equal(ours, morris.sample(problem, 6, num_levels=sensitivity.MORRIS_LEVELS,
                                              seed=sensitivity.DESIGN_SEED))
    ours = sensitivity.design("sobol", TOY, 16)
    assert ours.shape == (16 * (len(TOY) + 2), len(TOY))
    assert np.array_equal(ours, sobol.sample(problem, 16, calc_second_order=False, seed=sensitivity.DESIGN_SEED))


@pytest.mark.parametrize("method, size, key", [("morris", 20, "mu_star"), ("sobol", 256, "ST")])
def test_a_toy_model_with_a_known_answer_is_ranked_right_through_the_runner(tmp_path, method, size, key):
    X = sensitivity.design(method, TOY, size)
    outputs = sensitivity.run_points(X, (0, 1), toy, tmp_path, "toy")
    indices = sensitivity.analyse(method, TOY, X, outputs)
    y = indices[indices.metric == "y"].set_index("parameter")[key]
    assert y["x.matters"] > 10 * y["x.barely"] and y["x.barely"] > y["x.ignored"]
    assert y["x.ignored"] == pytest.approx(0.0, abs=0.02 if method == "sobol" else 1e-9)
    assert sensitivity.top_parameters(method, indices)["y"][0] == "x.matters"


def test_an_interrupted_analysis_resumes_without_recomputing_stored_points(tmp_path):
    X = sensitivity.design("morris", TOY, 4)  # 16 points
    seeds = (0, 1)
    first = Counting(stop_after=11)  # five points stored (two seeds each), the sixth half done
    with pytest.raises(Interrupted, match="5 of 16 points are stored"):
        sensitivity.run_points(X, seeds, first, tmp_path, "toy")
    second = Counting()
    outputs = sensitivity.run_points(X, seeds, second, tmp_path, "toy")
    assert second.calls == (16 - 5) * len(seeds)  # only the points not yet stored
    again = Counting()
    assert sensitivity.run_points(X, seeds, again, tmp_path, "toy").equals(outputs) and again.calls == 0
    # a different context (config, code or seeds) does not reuse them
    other = Counting()
    sensitivity.run_points(X, seeds, other, tmp_path, "another config")
    assert other.calls == 16 * len(seeds)


def test_parameters_are_checked_before_anything_runs():
    with pytest.raises(UsageError, match="table.key=low:high"):
        sensitivity.parse_param("choice.switching_cost=12:4")
    assert sensitivity.parse_param("choice.switching_cost=4:12") == sensitivity.Parameter(
        "choice.switching_cost", 4.0, 12.0, "given on the command line")
    defaults = sensitivity.load_parameters()
    assert len(defaults) >= 10 and all(p.why for p in defaults)
    sensitivity.check_paths(load_experiment(sensitivity.PARAMETERS_PATH.parent / "configs" / "baseline.toml"), defaults)
    with pytest.raises(UsageError, match="market.no_such_key"):
        sensitivity.check_paths(load_experiment(sensitivity.PARAMETERS_PATH.parent / "configs" / "baseline.toml"),
                                [sensitivity.Parameter("market.no_such_key", 0.0, 1.0)])


@pytest.mark.slow
def test_the_command_writes_its_report_and_resumes(tmp_path, capsys):
    from experiments.cli import main

    out = tmp_path / "sens"
    args = ["sensitivity", str(sensitivity.PARAMETERS_PATH.parent / "configs" / "baseline.toml"), "--param",
            "choice.switching_cost=4:12", "--param", "choice.price_sensitivity=2.5:6", "--trajectories", "2",
            "--seeds", "1", "--months", "12", "--workers", "1", "--out", str(out)]
    assert main(args) == 0
    for name in ("summary.md", "indices.csv", "points.csv", "morris_mu_star_sigma.png", "sensitivity_heatmap.png"):
        assert (out / name).stat().st_size > 0, name
    assert "most sensitive to" in (out / "summary.md").read_text()
    assert len(json.loads((out / "design.json").read_text())["parameters"]) == 2
    capsys.readouterr()
    assert main(args) == 0
    assert "(6 points already stored)" in capsys.readouterr().err  # nothing recomputed
    changed = list(args)
    changed[changed.index("--months") + 1] = "13"
    assert main(changed) == 2  # a stored analysis of other inputs is not overwritten
    assert "different inputs" in capsys.readouterr().err
