"""The subcommands of `compute-market`, one module each.

A command module has `register(sub)`, which adds its parser to the subparsers `sub` (with
experiments.cli.command_parser) and sets its handler, `run(args, catalog) -> exit status`. The handler checks the
arguments, calls the module that owns the work and prints; experiments.cli builds the parser from COMMANDS, in the
order `compute-market --help` lists them, and turns failures into one line.
"""

from experiments.commands import (
    backtest,
    calibrate_history,
    calibration,
    catalog,
    compare,
    dashboard,
    hardware_report,
    report,
    roofline,
    run,
    sensitivity,
    show,
    sweep,
    validate,
    validate_model,
)

COMMANDS = (catalog, roofline, calibration, run, compare, validate_model, sensitivity, sweep, report, show,
            calibrate_history, backtest, validate, dashboard, hardware_report)
