"""The `compute-market` command line.

Every expected failure ends as one line `compute-market: error: ...` on stderr naming the file, folder
or option, with exit 2 (bad input); Ctrl-C ends as one `compute-market: interrupted: ...` line saying
what was kept and how to resume, exit 130. An unexpected failure is one line too (exit 1); `--debug`
shows the traceback instead. Output piped into a reader that stops early (`| head`) ends quietly (141).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from experiments.config import UPPER, ConfigError, load_experiment, resolved_values, with_value
from experiments.errors import Interrupted, UsageError
from hardware_catalog import (
    PRECISIONS,
    CatalogError,
    UnknownIdError,
    UnsupportedPrecisionError,
    load_catalog,
)
from market import calibration, roofline
from market.evaluation import evaluate_grid

BASELINE_CONFIG = Path(__file__).parent / "configs" / "baseline.toml"

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
MAX_WORKERS = 256
MIN_SEEDS_FOR_STARS = 5  # below this many paired seeds a bootstrap interval says little: no stars


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors in the house style (and the same class for every subcommand)."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"compute-market: error: {message} (see '{self.prog} --help')\n")


class HelpFormatter(argparse.HelpFormatter):
    """Appends '(default: X)' to an option's help where X says something (not None, False or already stated)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def _ids(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _id_list(text: str, option: str) -> list[str]:
    """The comma-separated ids of `option`; at least one (so `--chip ,` is refused, not silently empty)."""
    ids = _ids(text)
    if not ids:
        raise UsageError(f"{option}: no id given (got '{text}'); name at least one, e.g. {option} "
                         f"{'h100-sxm' if option == '--chip' else 'llama-3-70b'} (see 'compute-market catalog')")
    return ids


def _batch(text: str) -> int | str:
    return text if text == "max" else _int_between(1, 2**20, "a positive integer or 'max'")(text)


def _int_between(minimum: int, maximum: int, words: str):
    """An argparse type: a whole number in [minimum, maximum] (the same bounds as the config keys)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be {words}, got '{text}'")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got '{text}'")
        return value

    return parse


_positive_int = _int_between(1, 2**31 - 1, "a positive integer")
_non_negative_int = _int_between(0, 2**31 - 1, "a whole number >= 0")
_months = _int_between(1, UPPER["months"], "a positive number of months")
_seed_count = _int_between(1, UPPER["seeds"], "a positive number of seeds")
_seed = _int_between(0, UPPER["first_seed"], "a whole number >= 0")
_workers = _int_between(1, MAX_WORKERS, "a positive number of worker processes")


def _ensemble_options(p: argparse.ArgumentParser, out: Path, what: str) -> None:
    """Options shared by the commands that run several ensembles."""
    p.add_argument("--out", type=Path, default=out, help=f"folder for {what} (made if absent; a folder compute-market "
                   "did not make is never written into)")
    p.add_argument("--seeds", type=_seed_count, help="number of seeds, counted from the config's first_seed "
                   "(default: the config's simulation.seeds)")
    p.add_argument("--months", type=_months, help="months to simulate, from the config's start "
                   "(default: the config's simulation.months; at most 1200)")
    p.add_argument("--workers", type=_workers, default=2, help="worker processes (seeds run in parallel)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask distributed cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")


def build_parser() -> argparse.ArgumentParser:
    fmt = HelpFormatter
    parser = Parser(prog="compute-market", formatter_class=fmt,
                    description="Agent-based simulation of the AI compute economy. "
                                "Start with: compute-market run experiments/configs/baseline.toml")
    parser.add_argument("--catalog-dir", type=Path, default=None,
                        help="read the hardware catalog's TOML files from this folder instead of the packaged ones "
                             "(used by every command, runs included)")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("catalog", formatter_class=fmt, help="table of accelerators in the hardware catalog")
    p.add_argument("--json", action="store_true", help="print the records (with sources) as JSON")

    p = sub.add_parser("roofline", formatter_class=fmt, help="throughput, latency, bound and cost of a workload on a chip")
    p.add_argument("--chip", required=True, help="chip id (comma-separate several for --plot); see 'catalog'")
    p.add_argument("--model", required=True, help="workload id (comma-separate several for --plot)")
    p.add_argument("--phase", choices=roofline.PHASES, help="required unless --plot is given")
    p.add_argument("--batch", type=_batch, default=1, help="sequences per step, or 'max' (largest that fits)")
    p.add_argument("--precision", choices=PRECISIONS, default="bf16", help="number format of weights and math")
    p.add_argument("--tensor-parallel", type=_positive_int, default=None,
                   help="chips in the group (default: smallest that fits)")
    p.add_argument("--pipeline", type=_positive_int, default=None,
                   help="pipeline stages among the group's chips (default: every chip for SRAM chips, else 1)")
    p.add_argument("--input-tokens", type=_non_negative_int, default=128,
                   help="prompt tokens (decode: context already cached)")
    p.add_argument("--output-tokens", type=_positive_int, default=128, help="generated tokens per request (serve)")
    p.add_argument("--json", action="store_true", help="print one JSON object per chip")
    p.add_argument("--plot", type=Path, default=None, help="write a roofline chart (PNG) of the chips and models")

    p = sub.add_parser("calibration", formatter_class=fmt, help="roofline predictions vs published measurements")
    p.add_argument("--fit", action="store_true", help="re-fit the efficiency factors before reporting")
    p.add_argument("--write", action="store_true", help="with --fit: save them as the catalog defaults")
    p.add_argument("--json", action="store_true", help="print the table as JSON")

    p = sub.add_parser("run", formatter_class=fmt, help="run a config's seed ensemble into a run directory (the main job)")
    p.add_argument("config", type=Path, help="experiment config (TOML), e.g. experiments/configs/baseline.toml")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seeds", type=_seed_count, help="number of seeds, counted from the config's first_seed "
                       "(default: the config's simulation.seeds)")
    seeds.add_argument("--seed", type=_seed, help="run this one seed only")
    p.add_argument("--months", type=_months, help="months to simulate from the config's start "
                   "(default: the config's simulation.months; at most 1200)")
    p.add_argument("--out", type=Path, help="run directory (default: results/<config name>, or results/<name>-2, -3, "
                   "... when that holds a different run)")
    p.add_argument("--force", action="store_true", help="replace a run directory of compute-market's that holds a "
                   "run of different inputs (never a folder it did not make)")
    p.add_argument("--workers", type=_workers, default=2, help="worker processes (seeds run in parallel)")
    p.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local processes, or a Dask distributed cluster")
    p.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")

    p = sub.add_parser("compare", formatter_class=fmt,
                       help="run scenarios with the same seeds; differences from the first, with 90%% intervals")
    p.add_argument("configs", type=Path, nargs="+", help="configs; the first is the base the others are compared with")
    _ensemble_options(p, Path("results/compare"), "one run directory per config plus comparison.csv/png")
    p.add_argument("--force", action="store_true", help="replace scenario run directories that hold runs of "
                   "different inputs")

    p = sub.add_parser("validate-model", formatter_class=fmt,
                       help="validation report: every stylized fact and history observation, pass or miss, and what "
                            "switching each mechanism off does to them")
    p.add_argument("config", type=Path, nargs="?", default=BASELINE_CONFIG,
                   help="the config to validate (default: the packaged baseline)")
    _ensemble_options(p, Path("results/validation"), "the report (validation.md/json, figures) and one run directory "
                      "per variant")
    p.add_argument("--force", action="store_true", help="replace variant run directories that hold runs of "
                   "different inputs")

    p = sub.add_parser("sensitivity", formatter_class=fmt,
                       help="global sensitivity analysis: Morris screening or Sobol indices (SALib) of the headline "
                            "metrics over a parameter set")
    p.add_argument("config", type=Path, help="the config whose parameters are varied")
    p.add_argument("--method", choices=("morris", "sobol"), default="morris",
                   help="morris: elementary-effects screening (mu*, sigma); sobol: variance shares (S1, ST)")
    p.add_argument("--param", dest="params", action="append", metavar="PATH=LOW:HIGH",
                   help="a config key and its range, e.g. market.switching_cost=4:12 (repeat; default: the set in "
                        "experiments/sensitivity_parameters.toml)")
    p.add_argument("--trajectories", type=_int_between(2, 10_000, "a number of trajectories >= 2"), default=10,
                   help="Morris trajectories (points = trajectories x (parameters + 1))")
    p.add_argument("--samples", type=_int_between(2, 1_000_000, "a power of two >= 2"), default=64,
                   help="Sobol base samples, a power of two (points = samples x (parameters + 2))")
    _ensemble_options(p, Path("results/sensitivity"), "the analysis (indices.csv, points.csv, figures, summary.md) "
                      "and its stored points (resumable)")
    p.add_argument("--force", action="store_true", help="discard a stored analysis of different inputs in --out")

    p = sub.add_parser("sweep", formatter_class=fmt, help="a grid over config values, one row per point")
    p.add_argument("config", type=Path, help="the config the grid varies")
    p.add_argument("--set", dest="sets", action="append", required=True, metavar="PATH=V1,V2,...",
                   help="a config key and its values, e.g. market.switching_cost=0,1.75,3.5 (repeat for a grid)")
    _ensemble_options(p, Path("results/sweep"), "one run directory per point (named by its inputs' hash) plus sweep.csv")

    p = sub.add_parser("report", formatter_class=fmt, help="redraw figures and summaries of a run directory from its tables")
    p.add_argument("run_dir", type=Path, help="a complete run directory")

    p = sub.add_parser("show", formatter_class=fmt, help="print a run's summary; export its tables as CSV")
    p.add_argument("run_dir", type=Path, help="a complete run directory")
    p.add_argument("--csv", type=Path, default=None, help="write every table of the run as CSV into this new folder")

    p = sub.add_parser("calibrate-history", formatter_class=fmt,
                       help="fit the behavioural parameters to the observed 2023 - mid-2025 path (simulated moments)")
    p.add_argument("--seeds", type=_seed_count, default=3, help="seeds per evaluation (common random numbers)")
    p.add_argument("--max-evals", type=_int_between(1, 100_000, "a positive number"), default=250,
                   help="most objective evaluations of the Nelder-Mead search")
    p.add_argument("--write", action="store_true", help="save the fitted values as the model's defaults "
                   "(hardware_catalog/data/history_calibration.toml)")

    p = sub.add_parser("validate", formatter_class=fmt, help="check a config and print its resolved values")
    p.add_argument("config", type=Path, help="experiment config (TOML)")

    p = sub.add_parser("dashboard", formatter_class=fmt,
                       help="the teaching dashboard in your browser (presets, levers, lessons); Ctrl-C stops it")
    p.add_argument("--preset", default="baseline", help="scenario preset to open (a config name in experiments/configs)")
    p.add_argument("--port", type=_int_between(1, 65535, "a port number"), default=8765, help="port to serve on")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 shares it on your network (a classroom), with a warning")

    p = sub.add_parser("hardware-report", formatter_class=fmt,
                       help="catalog, roofline grid, costs per token and calibration with figures")
    p.add_argument("--out", type=Path, default=Path("results/hardware"),
                   help="output folder: new, empty, or an earlier hardware report (replaced atomically)")
    return parser


EXPECTED = (UsageError, CatalogError, UnknownIdError, UnsupportedPrecisionError, ConfigError)


STOP_SIGNALS = ("SIGTERM", "SIGHUP")  # a `kill`, a closed terminal: handled as Ctrl-C is, with their own exit status
_received: list[int] = []


def _stop_on_signal(signum, _frame) -> None:
    _received.append(signum)
    raise KeyboardInterrupt  # unwinds like Ctrl-C: worker pools stopped, stored results kept, one line at the end


def _install_stop_handlers() -> dict:
    """SIGTERM and SIGHUP end a command as Ctrl-C does; returns the handlers they replace (main thread only)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}  # Ctrl-C: KeyboardInterrupt
    for name in STOP_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            previous[number] = signal.signal(number, _stop_on_signal)
    return previous


def _interrupted(message: str) -> int:
    if _received:
        import signal

        number = _received[-1]
        return _fail(message, 128 + number, f"stopped by {signal.Signals(number).name}")
    return _fail(message, EXIT_INTERRUPTED, "interrupted")


def main(argv: list[str] | None = None) -> int:
    import signal

    parser = build_parser()
    args = parser.parse_args(argv)
    _received.clear()
    previous = _install_stop_handlers()
    try:
        return _main(args)
    finally:
        from experiments import rundir

        rundir.release_command_locks()
        for number, handler in previous.items():
            signal.signal(number, handler)


def _main(args) -> int:
    try:
        code = _dispatch(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # The reader went away (`| head`): nothing failed, so end quietly as Unix tools do, with the exit
        # status of a process stopped by SIGPIPE, and silence the flush Python would attempt at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Interrupted as exc:
        return _interrupted(str(exc))
    except KeyboardInterrupt:
        return _interrupted("stopped before finishing; results already stored are kept and nothing half-written was "
                            "left: run the same command again")
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, EXPECTED):
            return _fail(str(exc), EXIT_USAGE)
        if isinstance(exc, OSError):
            return _fail(_os_error_line(exc), EXIT_USAGE)
        if isinstance(exc, RecursionError):
            return _fail("input nested too deeply (recursion limit); simplify it", EXIT_USAGE)
        first = str(exc).splitlines()[0] if str(exc) else ""
        return _fail(f"internal error ({type(exc).__name__}: {first}); please report it, "
                     f"and re-run with --debug for the traceback", EXIT_INTERNAL)


def _os_error_line(exc: OSError) -> str:
    """'PATH: No space left on device; free some space ... run the same command again', naming the path."""
    import errno

    where = f"{exc.filename}: " if exc.filename else "(no path given by the system): "
    text = f"{where}{exc.strerror or exc}"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (f"{text}; free some space (or choose another --out) and run the same command again: results already "
                f"stored are kept and nothing half-written is used")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{text}; choose a path you can write to"
    return text


def _fail(message: str, code: int, word: str = "error") -> int:
    from experiments.progress import end_progress_line

    end_progress_line()
    print(f"compute-market: {word}: {message}", file=sys.stderr)
    return code


def _dispatch(args) -> int:
    _check_paths_are_utf8(args)
    _check_scheduler(args)
    catalog = load_catalog(args.catalog_dir)
    handler = {"catalog": cmd_catalog, "roofline": cmd_roofline, "calibration": cmd_calibration,
               "hardware-report": cmd_hardware_report, "run": cmd_run, "compare": cmd_compare,
               "sweep": cmd_sweep, "report": cmd_report, "show": cmd_show, "validate": cmd_validate,
               "calibrate-history": cmd_calibrate_history, "dashboard": cmd_dashboard,
               "validate-model": cmd_validate_model, "sensitivity": cmd_sensitivity}[args.command]
    return handler(args, catalog)


def _option_name(dest: str) -> str:
    """How the user wrote the argument stored under `dest` (positionals by their own name)."""
    return dest if dest in ("config", "configs", "run_dir") else "--" + dest.replace("_", "-")


def _check_paths_are_utf8(args) -> None:
    """Refuse a path argument that is not valid UTF-8 (a stray byte from a shell): results, markers and messages
    record paths as UTF-8 text, so such a name would fail part-way instead."""
    for dest, value in vars(args).items():
        for path in value if isinstance(value, list) else [value]:
            if not isinstance(path, Path):
                continue
            try:
                str(path).encode("utf-8")
            except UnicodeEncodeError:
                raise UsageError(f"{_option_name(dest)}: the path is not valid UTF-8; choose a name in UTF-8") from None


def _check_scheduler(args) -> None:
    if getattr(args, "scheduler", None) is not None and args.backend != "dask":
        raise UsageError(f"--scheduler {args.scheduler}: --scheduler needs --backend dask (the {args.backend} "
                         "backend has no scheduler); add --backend dask or drop --scheduler")


# ------------------------------------------------------------------------------------------


def _clean(value):
    """JSON-safe: numpy scalars to Python, NaN/inf to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def cmd_catalog(args, catalog) -> int:
    if args.json:
        records = [{k: _clean(v) for k, v in chip.__dict__.items()} for chip in catalog.accelerators.values()]
        print(json.dumps(records, indent=2))
        return 0
    frame = catalog.accelerators_frame()
    header = f"{'id':<11} {'vendor':<7} {'release':<8} {'bf16':>7} {'fp8':>7} {'HBM GB':>7} {'TB/s':>6} {'link GB/s':>9} {'TDP W':>6} {'cost $':>7} {'price $':>8}"
    print(header)
    print("-" * len(header))
    for row in frame.itertuples():
        fp8 = f"{row.tflops_fp8:7.0f}" if math.isfinite(row.tflops_fp8) else f"{'-':>7}"
        print(
            f"{row.id:<11} {row.vendor:<7} {row.release:<8} {row.tflops_bf16:7.0f} {fp8} {row.hbm_gb:7.4g} "
            f"{row.hbm_tbps:6.3g} {row.interconnect_gbps:9.0f} {row.tdp_w:6.0f} "
            f"{row.manufacturing_cost_usd:6.0f}{'*' if row.manufacturing_cost_estimate else ' '} "
            f"{row.launch_price_usd:7.0f}{'*' if row.launch_price_estimate else ' '}"
        )
    print("\nTFLOP/s dense. * = estimate. Sources: hardware_catalog/data/accelerators.toml (or --json).")
    return 0


def roofline_points(args, catalog) -> list[dict]:
    """One result record per requested chip for the single workload of `args`."""
    chips = [catalog.accelerator(cid) for cid in _id_list(args.chip, "--chip")]
    models = [catalog.workload(mid) for mid in _id_list(args.model, "--model")]
    if len(models) != 1:
        raise UsageError("--model takes one id unless --plot is given")
    roofline.check_precision(chips, args.precision)
    _check_group_size(chips, args.tensor_parallel)
    if args.batch == "max" and args.phase == "train":
        raise UsageError("--batch max applies to inference phases (prefill, decode, serve), not train")
    batches = None if args.batch == "max" else [args.batch]
    grid = evaluate_grid(
        catalog,
        chips,
        models,
        args.phase,
        batches=batches,
        precision=args.precision,
        group=args.tensor_parallel,
        pipeline=args.pipeline,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
    )
    r = grid.result
    records = []
    for i, chip in enumerate(chips):
        at = (i, 0, 0)
        records.append(
            {
                "chip": chip.id,
                "model": models[0].id,
                "phase": args.phase,
                "precision": args.precision,
                "input_tokens": args.input_tokens,
                "output_tokens": args.output_tokens,
                "feasible": bool(r.feasible[at]),
                "infeasible_reason": roofline.INFEASIBLE_REASONS[int(r.infeasible_reason[at])] or None,
                "batch": _clean(float(r.batch[at])),
                "chips": _clean(float(r.chips[at])),
                "tokens_per_second": _clean(float(r.tokens_per_second[at])),
                "tokens_per_second_per_chip": _clean(float(r.tokens_per_second_per_chip[at])),
                "latency_ms": _clean(float(r.latency_s[at]) * 1e3),
                "bound": r.bound_name(at) if r.feasible[at] else None,
                "compute_ms": _clean(float(r.compute_s[at]) * 1e3),
                "memory_ms": _clean(float(r.memory_s[at]) * 1e3),
                "interconnect_ms": _clean(float(r.interconnect_s[at]) * 1e3),
                "overhead_ms": _clean(float(r.overhead_s[at]) * 1e3),
                "price_per_chip_hour": _clean(float(grid.price_per_chip_hour[i, 0, 0])),
                "usd_per_million_tokens": _clean(float(grid.usd_per_million_tokens[at])),
                "power_w_per_chip": _clean(float(r.power_w[at])),
                "joules_per_token": _clean(float(r.joules_per_token[at])),
                "tokens_per_joule": _clean(float(r.tokens_per_joule[at])),
                "joules_per_flop": _clean(float(r.joules_per_flop[at])),
            }
        )
        for key in ("batch", "chips"):
            if records[-1][key] is not None:
                records[-1][key] = int(records[-1][key])
    return records


def _check_group_size(chips, group: int | None) -> None:
    """A --tensor-parallel group no larger than each chip's scale-up domain (catalog `max_group`)."""
    if group is None:
        return
    for chip in chips:
        if group > chip.max_group:
            raise UsageError(f"--tensor-parallel {group}: {chip.id} groups at most {chip.max_group} chips (its "
                             f"scale-up domain); choose {chip.max_group} or fewer")


LATENCY_MEANING = {
    "train": "per optimiser step of the batch on the chips",
    "prefill": "time to first token",
    "decode": "per output token",
    "serve": "whole request",
}
THROUGHPUT_MEANING = {"train": "trained", "prefill": "prompt", "decode": "output", "serve": "output"}


def _print_point(rec: dict) -> None:
    phase = rec["phase"]
    context = {
        "decode": f"context {rec['input_tokens']} tokens",
        "prefill": f"prompt {rec['input_tokens']} tokens",
        "serve": f"{rec['input_tokens']} in / {rec['output_tokens']} out tokens",
        "train": "",
    }[phase]
    print(f"{rec['chip']}  {rec['model']}  {phase}  {rec['precision']}  {context}")
    if not rec["feasible"]:
        print(f"  infeasible: {rec['infeasible_reason']}")
        return
    kind = THROUGHPUT_MEANING[phase]
    print(f"  batch:        {rec['batch']} sequences")
    print(f"  chips:        {rec['chips']}")
    print(f"  throughput:   {rec['tokens_per_second']:,.1f} {kind} tokens/s (group), "
          f"{rec['tokens_per_second_per_chip']:,.1f} per chip")
    print(f"  latency:      {rec['latency_ms']:,.2f} ms ({LATENCY_MEANING[phase]})")
    print(f"  bound:        {rec['bound']} (compute {rec['compute_ms']:,.2f} ms, memory {rec['memory_ms']:,.2f} ms, "
          f"interconnect {rec['interconnect_ms']:,.2f} ms, overheads {rec['overhead_ms']:,.2f} ms)")
    print(f"  rental price: ${rec['price_per_chip_hour']:.2f} per chip-hour (catalog price, default TCO)")
    print(f"  cost:         ${rec['usd_per_million_tokens']:,.3f} per million {kind} tokens")
    print(f"  energy:       {rec['joules_per_token']:,.3g} J per {kind} token ({rec['tokens_per_joule']:,.3g} tokens/J) at "
          f"{rec['power_w_per_chip']:,.0f} W per chip; {rec['joules_per_flop'] * 1e12:,.3g} J per TFLOP of model work")


def cmd_roofline(args, catalog) -> int:
    if args.phase is None and args.plot is None:
        raise UsageError("--phase is required unless --plot is given")
    if args.plot is not None:
        from experiments.plots import roofline_chart

        chips = [catalog.accelerator(cid) for cid in _id_list(args.chip, "--chip")]
        models = [catalog.workload(mid) for mid in _id_list(args.model, "--model")]
        roofline.check_precision(chips, args.precision)
        _check_group_size(chips, args.tensor_parallel)
        if args.plot.suffix.lower() != ".png":
            raise UsageError(f"--plot: file must end in .png, got '{args.plot}'")
        phases = (args.phase,) if args.phase else None
        batches = (1, 16, 256) if args.batch in (1, "max") else (args.batch,)
        path = roofline_chart(catalog, chips, models, args.plot, precision=args.precision, phases=phases,
                              batches=batches, input_tokens=args.input_tokens, output_tokens=args.output_tokens)
        print(f"wrote {path}", file=sys.stderr)
        if args.phase is None:
            return 0
    records = roofline_points(args, catalog)
    if args.json:
        print(json.dumps(records[0] if len(records) == 1 else records, indent=2))
    else:
        for rec in records:
            _print_point(rec)
    return 0


def cmd_calibration(args, catalog) -> int:
    efficiency = catalog.efficiency
    if args.write and not args.fit:
        raise UsageError("--write needs --fit")
    if args.fit:
        efficiency, rms = calibration.fit_efficiency(catalog)
        print(f"fitted efficiency (RMS log error {rms:.3f})", file=sys.stderr)
        if args.write:
            path = catalog.data_dir / "efficiency.toml"
            calibration.write_efficiency(efficiency, path)
            print(f"wrote {path}", file=sys.stderr)
    table = calibration.calibration_table(catalog, efficiency)
    if args.json:
        payload = {
            "efficiency": {name: getattr(efficiency, name) for name in (*calibration.FITTED, "usable_memory_fraction")},
            "median_abs_pct_error_fitted": calibration.median_abs_pct_error(table),
            "median_abs_pct_error_all": calibration.median_abs_pct_error(table, fitted_only=False),
            "cases": [{k: _clean(v) for k, v in row.items()} for row in table.to_dict(orient="records")],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(calibration.format_table(table, efficiency))
    return 0


def cmd_hardware_report(args, catalog) -> int:
    from experiments.hardware_report import write_hardware_report

    path = write_hardware_report(catalog, args.out)
    print(f"wrote {path}")
    return 0


def _print_metrics(summary: dict) -> None:
    from experiments.market_report import METRIC_NOTES

    print(f"{'metric':<36} {'mean':>10} {'5%':>10} {'95%':>10}")
    for name, stats in summary["metrics"].items():
        print(f"{name:<36} {stats['mean']:10.4g} {stats['p05']:10.4g} {stats['p95']:10.4g}  {METRIC_NOTES.get(name, '')}")


def _seeds(args, experiment) -> tuple[int, ...]:
    if getattr(args, "seed", None) is not None:
        return (args.seed,)
    if args.seeds:
        return tuple(range(experiment.seeds[0], experiment.seeds[0] + args.seeds))
    return experiment.seeds


def _note(text: str) -> None:
    print(f"compute-market: note: {text}", file=sys.stderr)


def _cap_workers(args, count: int, what: str) -> None:
    """Lower --workers to the `count` tasks there are to compute (more processes would only start and idle), with a
    note; call it once the command's checks have passed, so a refusal stays one line."""
    count = max(count, 1)
    if args.workers > count:
        _note(f"--workers {args.workers} lowered to {count}: there {'is' if count == 1 else 'are'} only {count} "
              f"{what} to compute")
        args.workers = count


def _ensemble(experiment, out, args, seeds, default_out=None) -> Path:
    from experiments.progress import print_progress
    from experiments.runner import run_experiment

    workers = min(args.workers, len(seeds))

    def start(run_dir: Path) -> None:  # called once the run folder is settled and computing begins
        if workers < args.workers:
            _note(f"--workers {args.workers} lowered to {workers}: this run has only {len(seeds)} seed(s) to compute")
        print(f"{experiment.name}: {len(seeds)} seeds x {args.months or experiment.market.months} months, "
              f"{workers} workers, {args.backend} backend -> {run_dir}", file=sys.stderr)

    return run_experiment(experiment, out, seeds=seeds, months=args.months, workers=workers,
                          backend=args.backend, scheduler=args.scheduler,
                          command=" ".join(["compute-market", *sys.argv[1:]]),
                          on_progress=print_progress, on_note=_note, force=getattr(args, "force", False),
                          default_out=default_out, on_start=start)


def cmd_run(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    default = Path("results") / experiment.name if args.out is None else None
    run_dir = _ensemble(experiment, args.out, args, _seeds(args, experiment), default_out=default)
    from experiments.runner import read_stored

    _print_metrics(read_stored(run_dir / "summary.json", lambda p: json.loads(p.read_text())))
    print(f"wrote {run_dir / 'summary.md'}")
    return 0


def _check_targets(pairs, args) -> None:
    """Check every run target of a multi-run command before running any (refusals cost no computation)."""
    from experiments import rundir
    from experiments.runner import effective_config, run_inputs

    for experiment, out, seeds in pairs:
        inputs = run_inputs(experiment, effective_config(experiment, args.months), seeds, experiment.catalog())
        rundir.check_run_target(out, inputs, force=getattr(args, "force", False))


COMPARE_FILES = ("comparison.csv", "comparison.png")


def _check_compare_names(names: list[str], paths: list[Path]) -> None:
    """Each config's name (its file name without .toml) becomes its run folder in --out: refuse names that would
    land on the comparison's own files, on another run's `.partial` twin, or on --out itself."""
    from experiments import rundir

    for name, path in zip(names, paths, strict=True):
        if name in COMPARE_FILES or name in (rundir.MARKER, rundir.LEGACY_LOCK) or name.endswith(rundir.LOCK_SUFFIX):
            why = f"the comparison writes its own {name} there"
        elif name.endswith(".partial"):
            why = "a folder ending in .partial is an interrupted run's twin"
        elif name in (".", "..") or name.startswith(".tmp-"):
            why = "that is not a folder name of its own"
        else:
            continue
        raise UsageError(f"{path}: compare runs each config into --out/<config name>, and the name '{name}' cannot be "
                         f"used ({why}); rename the config file")


def _check_not_inside_a_run(out: Path) -> None:
    """A comparison folder is not made inside a run folder (it would become files the run did not write)."""
    from experiments import rundir

    for parent in out.parents:
        marker = rundir.read_marker(parent)
        if marker is not None and marker["kind"] == "run":
            raise UsageError(f"--out {out}: is inside the compute-market run folder {parent}; choose a folder "
                             "outside it (e.g. results/compare)")


def cmd_compare(args, catalog) -> int:
    from experiments import rundir
    from experiments.compare import compare_runs, comparison_figure

    experiments = [load_experiment(path, catalog) for path in args.configs]  # validate all before running any
    names = [e.name for e in experiments]
    if len(set(names)) != len(names):
        raise UsageError(f"configs need distinct file names, got {', '.join(names)}")
    _check_compare_names(names, args.configs)
    seeds = _seeds(args, experiments[0])
    out = Path(os.path.abspath(args.out))
    _check_not_inside_a_run(out)
    rundir.check_collection(out, "compare")
    _check_targets([(e, out / e.name, seeds) for e in experiments], args)
    _cap_workers(args, len(seeds), "seed(s) per scenario")
    rundir.prepare_collection(out, "compare")
    dirs = [_ensemble(e, out / e.name, args, seeds) for e in experiments]
    table = compare_runs(dirs, min_seeds_for_significance=MIN_SEEDS_FOR_STARS)
    rundir.atomic_write_text(out / "comparison.csv", table.to_csv(index=False))
    comparison_figure(dirs, out / "comparison.png")
    rundir.seal(out, "compare", None, [*names, "comparison.csv", "comparison.png"])
    print(f"differences from {names[0]} (mean over {len(seeds)} paired seeds, bootstrap 90% interval):")
    for row in table.itertuples():
        flag = "*" if row.significant else " "
        print(f"{row.scenario:<22} {row.metric:<38} {row.difference:+11.4g}  [{row.p05:+.4g}, {row.p95:+.4g}] {flag}")
    if len(seeds) < MIN_SEEDS_FOR_STARS:
        print(f"compute-market: warning: only {len(seeds)} paired seed(s): intervals from fewer than "
              f"{MIN_SEEDS_FOR_STARS} seeds are unreliable, so no difference is starred; use --seeds 8 or more",
              file=sys.stderr)
    else:
        print("* interval excludes zero.")
    print(f"wrote {out / 'comparison.csv'} and comparison.png")
    return 0


def cmd_validate_model(args, catalog) -> int:
    import dataclasses
    import time

    from experiments import rundir, validation
    from experiments.runner import effective_config, run_inputs

    started = time.monotonic()
    facts = validation.load_facts()
    base = load_experiment(args.config, catalog)
    variants = {"baseline": base}
    for ablation in validation.ABLATIONS:
        experiment = base
        for path, value in ablation.settings:
            experiment = with_value(experiment, path, value)
        variants[ablation.id] = dataclasses.replace(experiment, name=f"{base.name}-{ablation.id}")
    seeds = _seeds(args, base)
    out = Path(os.path.abspath(args.out))
    rundir.check_collection(out, "validation")
    _check_targets([(e, out / name, seeds) for name, e in variants.items()], args)
    reused = [name for name, e in variants.items()
              if rundir.run_state(out / name, run_inputs(e, effective_config(e, args.months), seeds, e.catalog())) == "same"
              and (out / name / "manifest.json").exists()]
    _cap_workers(args, len(seeds), "seed(s) per variant")
    rundir.prepare_collection(out, "validation")
    runs = {}
    for i, (name, experiment) in enumerate(variants.items(), start=1):
        print(f"validate-model: ensemble {i} of {len(variants)}: {name}", file=sys.stderr)
        runs[name] = validation.RunTables(_ensemble(experiment, out / name, args, seeds))
    print("validate-model: computing the facts, the ablation table and the decomposition", file=sys.stderr)
    decomposition = validation.decomposition(runs)
    rows = validation.fact_rows(runs, facts, catalog, "baseline", decomposition)
    ablations = validation.ablation_rows(rows, runs, facts, catalog)
    runtime = time.monotonic() - started
    text = validation.markdown(rows, ablations, decomposition, list(seeds), runtime, reused, str(args.config))
    rundir.atomic_write_text(out / "validation.md", text)
    payload = {"config": str(args.config), "seeds": list(seeds), "runtime_s": runtime, "reused": reused,
               "facts": rows, "ablations": ablations, "decomposition": decomposition.to_dict(orient="records")}
    rundir.atomic_write_text(out / "validation.json", json.dumps(_clean_tree(payload), indent=1))
    validation.facts_figure(rows, out / "validation_facts.png")
    validation.decomposition_figure(decomposition, out / "validation_decomposition.png")
    rundir.seal(out, "validation", None, [*variants, "validation.md", "validation.json", "validation_facts.png",
                                          "validation_decomposition.png"])
    counts = validation.summary_counts(rows)
    print(counts.to_string(index=False))
    print(f"wrote {out / 'validation.md'} ({runtime / 60:.1f} min)")
    return 0


def _check_param_conflicts(paths: list[str], args) -> None:
    """A --param that a flag also sets (--months, --seeds) would label points with values they did not run with."""
    for path in paths:
        flag = FLAG_OF_SET.get(path)
        if flag and getattr(args, flag.removeprefix("--")) is not None:
            raise UsageError(f"--param {path} and {flag} both set the same thing (every point would run {flag} "
                             f"{getattr(args, flag.removeprefix('--'))}); use one of them")


def _stored_design(path: Path, out: Path, force: bool):
    """The design record stored in a sensitivity folder; a damaged one is refused, or with --force treated as a
    design of other inputs (its stored points are then discarded and recomputed)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        if not force:
            raise UsageError(f"--out {out}: its stored design.json is damaged (not readable JSON), so its stored points "
                             "cannot be matched to this analysis; use --force to discard them and recompute, or choose "
                             "another --out") from None
        return None


def cmd_sensitivity(args, catalog) -> int:
    import time

    import pandas as pd

    from experiments import rundir, sensitivity
    from experiments.progress import print_progress
    from experiments.runner import effective_config, run_inputs

    started = time.monotonic()
    experiment = load_experiment(args.config, catalog)
    parameters = tuple(sensitivity.parse_param(p) for p in args.params) if args.params else sensitivity.load_parameters()
    paths = [p.path for p in parameters]
    if len(set(paths)) != len(paths):
        raise UsageError("--param: each config key may be given once")
    sensitivity.check_paths(experiment, parameters)  # the seed keys are refused here, with their own advice
    _check_param_conflicts(paths, args)
    if args.method == "sobol" and args.samples & (args.samples - 1):
        raise UsageError(f"--samples: Sobol needs a power of two, got {args.samples}")
    if args.backend == "dask":
        from experiments.runner import _require_dask

        _require_dask()
    seeds = tuple(range(experiment.seeds[0], experiment.seeds[0] + (args.seeds or 2)))
    config = effective_config(experiment, args.months)
    size = args.trajectories if args.method == "morris" else args.samples
    context = run_inputs(experiment, config, seeds, experiment.catalog())["hash"]
    record = sensitivity.design_record(args.method, parameters, size, seeds, config.months, context)
    out = rundir.lock_collection(args.out, "sensitivity")  # held until the command ends: nothing is replaced under another
    stored = (out / "design.json")
    if stored.exists():
        previous = _stored_design(stored, out, args.force)
        if previous != json.loads(json.dumps(record)):
            if not args.force:
                raise UsageError(f"--out {out}: holds a sensitivity analysis of different inputs (method, parameters, "
                                 f"seeds, months, config or code); use --force to replace it, or choose another --out")
            rundir.check_replaceable(out, "sensitivity", why="--force: ")
            for old in (out / "points").glob("point-*.json"):
                old.unlink()
    rundir.prepare_collection(out, "sensitivity")
    rundir.atomic_write_text(stored, json.dumps(record, indent=1))
    rundir.seal(out, "sensitivity", None, ["design.json"])  # points/point-N.json are the kind's own layout
    X = sensitivity.design(args.method, parameters, size)
    evaluate = sensitivity.ModelEvaluation(experiment, tuple(paths), args.months)
    resumed = sum(sensitivity.stored_point(out, i, sensitivity.point_key(row, seeds, context)) is not None
                  for i, row in enumerate(X))
    _cap_workers(args, (len(X) - resumed) * len(seeds), "point-seed run(s)")
    print(f"sensitivity ({args.method}): {len(parameters)} parameters, {len(X)} points x {len(seeds)} seeds x "
          f"{config.months} months, {args.workers} workers, {args.backend} backend -> {out}"
          + (f" ({resumed} points already stored)" if resumed else ""), file=sys.stderr)
    outputs = sensitivity.run_points(X, seeds, evaluate, out, context, workers=args.workers, backend=args.backend,
                                     scheduler=args.scheduler,
                                     on_progress=lambda d, t, e: print_progress(d, t, e, what="points"))
    indices = sensitivity.analyse(args.method, parameters, X, outputs)
    points = pd.concat([sensitivity.values_run(parameters, X), outputs], axis=1)  # the values run (integers rounded)
    rundir.atomic_write_text(out / "points.csv", points.to_csv(index=False))
    rundir.atomic_write_text(out / "indices.csv", indices.to_csv(index=False))
    written = sensitivity.figures(args.method, indices, out)
    runtime = time.monotonic() - started
    summary = sensitivity.summary_markdown(args.method, parameters, indices, len(X), len(seeds), config.months,
                                           runtime, resumed, str(args.config))
    rundir.atomic_write_text(out / "summary.md", summary)
    rundir.seal(out, "sensitivity", None, ["points.csv", "indices.csv", "summary.md", *written])
    for metric, names in sensitivity.top_parameters(args.method, indices).items():
        print(f"{metric:<32} most sensitive to: {', '.join(names)}")
    print(f"wrote {out / 'summary.md'} ({runtime / 60:.1f} min)")
    return 0


def _clean_tree(value):
    """`_clean` applied through dicts and lists (for json.dumps)."""
    if isinstance(value, dict):
        return {k: _clean_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean_tree(v) for v in value]
    return _clean(value)


def _parse_set(text: str) -> tuple[str, list]:
    import tomllib

    path, sep, values = text.partition("=")
    if not sep or not path or not values:
        raise UsageError(f"--set takes PATH=V1,V2,..., got '{text}'")
    parsed = []
    for raw in _top_level_items(values):
        try:
            parsed.append(tomllib.loads(f"v = {raw.strip()}")["v"])  # TOML literals: numbers, booleans, "strings"
        except tomllib.TOMLDecodeError:
            parsed.append(raw.strip())
    return path.strip(), parsed


def _top_level_items(text: str) -> list[str]:
    """`text` split at the commas outside brackets, braces and quotes, so a TOML array (`["cn","ru"]`) or a quoted
    string holding a comma stays one value."""
    items, current, depth, quote, escaped = [], [], 0, "", False
    for char in text:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\" and quote == '"':  # a basic string's escape; a 'literal' string has none
                escaped = True
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return items


# --set paths that a flag also sets: giving both would label points with values they did not run with
FLAG_OF_SET = {"simulation.months": "--months", "simulation.seeds": "--seeds", "simulation.first_seed": "--seeds"}


def _check_set_conflicts(grid, args) -> None:
    paths = [path for path, _ in grid]
    for path in paths:
        if paths.count(path) > 1:
            raise UsageError(f"--set {path}: given more than once; list all its values in one --set")
        flag = FLAG_OF_SET.get(path)
        if flag and getattr(args, flag.removeprefix("--")) is not None:
            raise UsageError(f"--set {path} and {flag} both set the same thing; use one of them")


def cmd_sweep(args, catalog) -> int:
    import itertools

    import pandas as pd

    from experiments import rundir
    from experiments.runner import effective_config, read_stored, run_inputs

    experiment = load_experiment(args.config, catalog)
    grid = [_parse_set(text) for text in args.sets]
    _check_set_conflicts(grid, args)
    out = Path(os.path.abspath(args.out))
    rundir.check_collection(out, "sweep")
    points = []
    for values in itertools.product(*(vals for _, vals in grid)):
        point = experiment
        for (path, _), value in zip(grid, values, strict=True):
            point = with_value(point, path, value)  # validated like the file itself
        seeds = _seeds(args, point)
        inputs = run_inputs(point, effective_config(point, args.months), seeds, point.catalog())
        # a point's folder is named by the hash of all its inputs, so a folder can only ever hold its own values
        points.append((dict(zip([p for p, _ in grid], values, strict=True)), point, seeds, out / f"point-{inputs['hash'][:12]}"))
    _check_targets([(point, folder, seeds) for _, point, seeds, folder in points], args)
    _cap_workers(args, max(len(seeds) for _, _, seeds, _ in points), "seed(s) per point")
    rundir.prepare_collection(out, "sweep")
    rows = []
    for values, point, seeds, folder in points:
        run_dir = _ensemble(point, folder, args, seeds)
        summary = read_stored(run_dir / "summary.json", lambda p: json.loads(p.read_text()))
        rows.append({**values, "run_dir": run_dir.name,
                     **{name: stats["mean"] for name, stats in summary["metrics"].items()}})
    table = pd.DataFrame(rows)
    rundir.atomic_write_text(out / "sweep.csv", table.to_csv(index=False))
    rundir.seal(out, "sweep", None, [folder.name for *_, folder in points] + ["sweep.csv"])
    print(table.drop(columns="run_dir").to_string(index=False, max_cols=12))
    print(f"wrote {out / 'sweep.csv'} (earlier points stay in {out} and are reused when asked for again)")
    return 0


def cmd_report(args, catalog) -> int:
    from experiments.runner import report

    summary = report(args.run_dir)
    _print_metrics(summary)
    print(f"rewrote figures and summaries in {args.run_dir}")
    return 0


def cmd_show(args, catalog) -> int:
    from experiments.show import export_csv, show_run

    print(show_run(args.run_dir))
    if args.csv is not None:
        written = export_csv(args.run_dir, args.csv)
        print(f"wrote {len(written)} tables as CSV to {args.csv}: {', '.join(written)}")
    return 0


def cmd_calibrate_history(args, catalog) -> int:
    import time

    from experiments.calibrate_history import PARAMETERS, calibrate, write_calibration
    from experiments.history_fit import format_fit_table
    from hardware_catalog.loader import HISTORY_CALIBRATION

    seeds = tuple(range(args.seeds))
    moments = [o for o in catalog.history if o.fit]
    print(f"fitting {len(PARAMETERS)} parameters ({', '.join(p.name for p in PARAMETERS)}) to {len(moments)} "
          f"moments over {len(seeds)} seeds, at most {args.max_evals} evaluations", file=sys.stderr)
    clock = time.perf_counter()

    def progress(n: int, value: float, _values: dict) -> None:
        print(f"\r  evaluation {n}/{args.max_evals}: objective {value:.4g}, {time.perf_counter() - clock:.0f}s elapsed",
              end="", file=sys.stderr, flush=True)

    fit = calibrate(catalog, seeds=seeds, max_evaluations=args.max_evals, on_step=progress)
    print(file=sys.stderr)
    print(f"objective (sum of squared distances to the observations, in units of their tolerance): {fit.start_objective:.4g} at the "
          f"current defaults -> {fit.objective:.4g} after {fit.evaluations} evaluations")
    for p in PARAMETERS:
        edge = " (at a bound)" if min(abs(fit.values[p.name] - p.low), abs(fit.values[p.name] - p.high)) < 1e-6 * (p.high - p.low) + 1e-12 else ""
        print(f"  {p.name:<32} {fit.values[p.name]:.4g}  [{p.low:g}, {p.high:g}]{edge}  {p.why}")
    covered = fit.table[fit.table["simulated"].notna()]
    print(format_fit_table(covered))
    print(f"{int(covered.in_band.sum())} of {len(covered)} observations in band; "
          f"fitted moments in band: {int(covered[covered.fit].in_band.sum())} of {int(covered.fit.sum())}")
    if args.write:
        path = catalog.data_dir / HISTORY_CALIBRATION
        write_calibration(fit, path, seeds)
        print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_dashboard(args, catalog) -> int:
    """Serve experiments/dashboard/app.py with Solara until Ctrl-C. Writes nothing."""
    import importlib.util
    import signal
    import subprocess

    from experiments.dashboard import session

    if args.catalog_dir is not None:
        raise UsageError("--catalog-dir: the dashboard runs the presets on the packaged catalog; "
                         "use 'compute-market run CONFIG --catalog-dir DIR' for another catalog")
    if args.preset not in session.PRESETS:
        raise UsageError(f"--preset: unknown preset {args.preset!r}; choose one of {', '.join(session.PRESETS)}")
    if importlib.util.find_spec("solara") is None:
        raise UsageError("the dashboard needs Solara, which is not installed in this environment: "
                         "run 'bash .ci/install' (or pip install -e '.[dashboard]')")
    _check_listen_address(args.host, args.port)
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"compute-market: warning: listening on {args.host}: anyone who can reach this machine on port "
              f"{args.port} can open the dashboard (each browser gets its own run)", file=sys.stderr)
    app = Path(__file__).resolve().parent / "dashboard" / "app.py"
    env = {**os.environ, "COMPUTE_MARKET_PRESET": args.preset, "PYTHONWARNINGS": "ignore::UserWarning"}  # Solara's http cookie notice
    print(f"compute-market dashboard: open http://{args.host}:{args.port}/ in a browser (Ctrl-C stops it)", file=sys.stderr)
    # the server runs in its own session, so Ctrl-C reaches only this process, which stops the server itself
    # (otherwise the server answers Ctrl-C with its own "Aborted." line before ours); SIGTERM and SIGHUP (the
    # terminal closed) stop it too, and the kernel stops it if this process dies without a word (SIGKILL)
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", str(app), "--host", args.host,
                               "--port", str(args.port), "--production", "--no-open"], env=env, start_new_session=True,
                              preexec_fn=_die_with_parent(os.getpid()))
    previous = {sig: signal.signal(sig, _raise_stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    stopped_by = None
    try:
        code = server.wait()
    except KeyboardInterrupt:
        code, stopped_by = None, "Ctrl-C"
    except _Stop as stop:
        code, stopped_by = None, stop.name
    finally:  # stopped before our last line, so nothing of the server's comes after it
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _stop_server(server)
    if code is None:
        _say(f"compute-market: dashboard stopped ({stopped_by}); it wrote nothing; run the same command to start it again")
        return 0
    if code != 0:
        raise UsageError(f"the dashboard server exited with status {code}; see its messages above")
    return 0


def _check_listen_address(host: str, port: int) -> None:
    """Refuse, before starting the server, an address it could not listen on; a bad --host and a busy --port are
    told apart (a name that does not resolve or an address not on this machine, versus a port in use)."""
    import errno
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise UsageError(f"--host {host}: not a valid address or host name ({exc.strerror}); use 127.0.0.1 (this "
                         "machine only) or 0.0.0.0 (share it on the network)") from None
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(f"--host {host}: not an address of this machine, so the dashboard cannot listen "
                                 "there; use 127.0.0.1 (this machine only) or 0.0.0.0 (share it on the network)") from None
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"--port {port} on {host}: already in use by another program; pick another with "
                                 "--port") from None
            raise UsageError(f"--port {port} on {host}: cannot listen there ({exc.strerror or exc}); pick another "
                             "with --port (ports below 1024 need administrator rights)") from None


class _Stop(Exception):
    """SIGTERM or SIGHUP reached the dashboard command."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _raise_stop(signum, _frame) -> None:
    import signal

    raise _Stop(signal.Signals(signum).name)


def _die_with_parent(parent: int):
    """A preexec_fn for the server: on Linux ask the kernel to send it SIGTERM when this process dies, even by
    SIGKILL (prctl PR_SET_PDEATHSIG); elsewhere nothing (the signal handlers still stop it)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def in_child() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return in_child


def _stop_server(server) -> None:
    """Stop the server's whole process group (it runs in a session of its own), at once if it does not stop."""
    import signal
    import subprocess

    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _say(line: str) -> None:
    """A last line on stderr, which may be gone already (the terminal was closed: SIGHUP)."""
    try:
        print(line, file=sys.stderr, flush=True)
    except OSError:
        pass


def cmd_validate(args, catalog) -> int:
    experiment = load_experiment(args.config, catalog)
    print(json.dumps(resolved_values(experiment), indent=2, default=str))
    print(f"{args.config}: valid", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
