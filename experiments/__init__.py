"""The command line, experiment configs, the runner, reports, plots and the teaching dashboard.

When this package is imported to run the `compute-market` command (the console script, or `python -m
experiments.cli`), a signal that arrives while the command is still importing its libraries (about a second: numpy,
scipy, pandas) ends it with one line instead of a traceback; `experiments.cli.main` then installs its own handlers.
Imported any other way (tests, worker processes), it changes nothing.
"""

import os as _os
import signal as _signal
import sys as _sys


def _stopped_while_starting(signum, _frame) -> None:
    name = _signal.Signals(signum).name
    _os.write(2, f"compute-market: stopped by {name} while starting, before anything was written; run the same "
                 f"command again\n".encode())
    _os._exit(128 + signum)


if _sys.argv and (_sys.argv[0] == "-m" or _os.path.basename(_sys.argv[0]) == "compute-market"):
    for _name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(_signal, _name):
            _signal.signal(getattr(_signal, _name), _stopped_while_starting)
