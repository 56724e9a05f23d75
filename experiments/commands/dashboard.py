"""`compute-market dashboard`: the teaching dashboard in a browser (experiments.dashboard.launcher)."""

from __future__ import annotations

from experiments.cli import _int_between, command_parser


def register(sub) -> None:
    p = command_parser(sub, "dashboard",
                       help="the teaching dashboard in your browser (presets, levers, lessons); Ctrl-C stops it")
    p.add_argument("--preset", default="baseline",
                   help="scenario preset to open (a config name in experiments/configs)")
    p.add_argument("--port", type=_int_between(1, 65535, "a port number"), default=8765, help="port to serve on")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on; 0.0.0.0 shares it on your network (a classroom), with a warning")
    p.set_defaults(handler=run)


def run(args, catalog) -> int:
    """Serve the dashboard until Ctrl-C. Writes nothing."""
    from experiments.dashboard.launcher import launch

    return launch(args.preset, args.host, args.port, args.catalog_dir)
