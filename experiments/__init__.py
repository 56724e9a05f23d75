"""The command line, reports, plots and (later) experiment configs, runner and dashboard."""
