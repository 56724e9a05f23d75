"""The `compute-market` command line.

Every expected failure ends as one line `compute-market: error: ...` on stderr naming the file, folder
or option, with exit 2 (bad input); Ctrl-C ends as one `compute-market: interrupted: ...` line saying
what was kept and how to resume, exit 130. An unexpected failure is one line too (exit 1); `--debug`
shows the traceback instead, and for bad input before its line (still exit 2: the traceback is extra output, not
another outcome). Output piped into a reader that stops early (`| head`) ends quietly (141).

Each subcommand is a module of experiments/commands (listed in experiments.commands.COMMANDS) that registers its
own parser and handler; the work itself lives in the module that owns it (runner, sweep, sensitivity, validation,
roofline_points, dashboard.launcher, ...). This module builds the parser, dispatches, and turns failures into one
line and an exit status; it also holds the argparse types and helpers the commands share.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from experiments.config import MAX_SEED, UPPER, ConfigError
from experiments.errors import Interrupted, UsageError
from experiments.json_safe import clean as _clean  # noqa: F401  (kept importable from here)
from experiments.sweep import parse_set as _parse_set  # noqa: F401  (kept importable from here)
from hardware_catalog import CatalogError, UnknownIdError, UnsupportedPrecisionError, load_catalog

EXIT_USAGE = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE
MAX_WORKERS = 256


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
_seed = _int_between(0, MAX_SEED, "a whole number >= 0")
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


def command_parser(sub, name: str, **kwargs) -> argparse.ArgumentParser:
    """A subcommand's parser, with the house help format (every command module makes its parser with this)."""
    return sub.add_parser(name, formatter_class=HelpFormatter, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    from experiments.commands import COMMANDS

    fmt = HelpFormatter
    parser = Parser(prog="compute-market", formatter_class=fmt,
                    description="Agent-based simulation of the AI compute economy. "
                                "Start with: compute-market run experiments/configs/baseline.toml")
    parser.add_argument("--catalog-dir", type=Path, default=None,
                        help="read the hardware catalog's TOML files from this folder instead of the packaged ones "
                             "(used by every command, runs included)")
    parser.add_argument("--debug", action="store_true", help="show Python tracebacks as well as one-line errors (bad "
                        "input still exits 2)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
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
    # the command as a shell would take it back (quoted), for a run's manifest and the re-run hints built from it
    args.command_line = shlex.join(["compute-market", *(sys.argv[1:] if argv is None else argv)])
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
        line, code = _failure(exc)
        if args.debug:
            if code == EXIT_INTERNAL:
                raise
            import traceback

            traceback.print_exc()  # bad input: the traceback is extra output, the line and the exit status stay
        return _fail(line, code)


def _failure(exc: Exception) -> tuple[str, int]:
    """The one line and the exit status of a failure: 2 for bad input (an expected error, a path the system
    refused, input nested too deeply), 1 for anything else (an internal error)."""
    if isinstance(exc, EXPECTED):
        return str(exc), EXIT_USAGE
    if isinstance(exc, OSError):
        return _os_error_line(exc), EXIT_USAGE
    if isinstance(exc, RecursionError):
        return "input nested too deeply (recursion limit); simplify it", EXIT_USAGE
    first = str(exc).splitlines()[0] if str(exc) else ""
    return (f"internal error ({type(exc).__name__}: {first}); please report it, and re-run with --debug for the "
            f"traceback"), EXIT_INTERNAL


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
    _check_catalog_dir(args.catalog_dir)
    catalog = load_catalog(args.catalog_dir)
    return args.handler(args, catalog)


def _check_catalog_dir(folder: Path | None) -> None:
    """--catalog-dir names an existing folder (else the first catalog file would be reported missing inside it)."""
    if folder is None or folder.is_dir():
        return
    problem = "is not a folder" if folder.exists() else "the catalog folder does not exist"
    raise UsageError(f"--catalog-dir {folder}: {problem}; give a folder holding the catalog's TOML files (a copy of "
                     "hardware_catalog/data)")


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


# ------------------------------------------------------------------------------------------ shared by commands


def _print_metrics(summary: dict) -> None:
    from experiments.market_report import METRIC_NOTES

    print(f"{'metric':<36} {'mean':>10} {'5%':>10} {'95%':>10}")
    for name, stats in summary["metrics"].items():
        print(f"{name:<36} {stats['mean']:10.4g} {stats['p05']:10.4g} {stats['p95']:10.4g}  "
              f"{METRIC_NOTES.get(name, '')}")


def _seeds(args, experiment) -> tuple[int, ...]:
    if getattr(args, "seed", None) is not None:
        return (args.seed,)
    if args.seeds:
        return seed_range(experiment.seeds[0], args.seeds)
    return experiment.seeds


def seed_range(first: int, count: int) -> tuple[int, ...]:
    """Seeds first .. first + count - 1 for `--seeds count`, refused in one line if the last is beyond MAX_SEED (the
    largest seed --seed can re-run)."""
    if first + count - 1 > MAX_SEED:
        raise UsageError(f"--seeds {count}: counted from the config's first_seed {first}, the last seed would be "
                         f"{first + count - 1}, beyond {MAX_SEED}, the largest seed --seed can re-run; use at most "
                         f"{MAX_SEED - first + 1} seed(s) or lower the config's simulation.first_seed")
    return tuple(range(first, first + count))


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
                          command=args.command_line,
                          on_progress=print_progress, on_note=_note, force=getattr(args, "force", False),
                          default_out=default_out, on_start=start,
                          parameter_draws=getattr(args, "parameter_draws", False))


def _draws(args, config, catalog) -> tuple:
    """The parameter draws a run asked for them (--parameter-draws) takes; () without the flag."""
    if not getattr(args, "parameter_draws", False):
        return ()
    from experiments.parameter_uncertainty import stored_draws_for

    return stored_draws_for(config, catalog)


def add_parameter_draws_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parameter-draws", action="store_true",
                   help="run seed s with parameter draw s mod D of the history fit's stored draws "
                        "(history_calibration_draws.toml, written by calibrate-history --write): bands then hold "
                        "parameter uncertainty as well as seed noise; configs compared with the same seeds stay paired")


def _check_targets(pairs, args) -> None:
    """Check every run target of a multi-run command before running any (refusals cost no computation)."""
    from experiments import rundir
    from experiments.runner import effective_config, run_inputs

    for experiment, out, seeds in pairs:
        config = effective_config(experiment, args.months)
        draws = _draws(args, config, experiment.catalog())
        inputs = run_inputs(experiment, config, seeds, experiment.catalog(), draws)
        rundir.check_run_target(out, inputs, force=getattr(args, "force", False))


# --set / --param paths that a flag also sets: giving both would label points with values they did not run with
FLAG_OF_SET = {"simulation.months": "--months", "simulation.seeds": "--seeds", "simulation.first_seed": "--seeds"}


if __name__ == "__main__":
    from experiments import cli  # run as the module the commands import (not a second copy named __main__)

    sys.exit(cli.main())
