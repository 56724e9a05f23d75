"""`compute-market dashboard`: start the Solara server on app.py, and stop it (and only it) when asked."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from experiments.errors import UsageError


def launch(preset: str, host: str, port: int, catalog_dir: Path | None) -> int:
    """Serve experiments/dashboard/app.py with Solara until Ctrl-C (the `compute-market dashboard` options of the
    same names). Writes nothing."""
    import importlib.util
    import signal
    import subprocess

    from experiments.dashboard import session

    if catalog_dir is not None:
        raise UsageError("--catalog-dir: the dashboard runs the presets on the packaged catalog; "
                         "use 'compute-market run CONFIG --catalog-dir DIR' for another catalog")
    if preset not in session.PRESETS:
        raise UsageError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(session.PRESETS)}")
    if importlib.util.find_spec("solara") is None:
        raise UsageError("the dashboard needs Solara, which is not installed in this environment: "
                         "run 'bash .ci/install' (or pip install -e '.[dashboard]')")
    _check_listen_address(host, port)
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"compute-market: warning: listening on {host}: anyone who can reach this machine on port "
              f"{port} can open the dashboard (each browser gets its own run)", file=sys.stderr)
    app = Path(__file__).resolve().parent / "app.py"
    # PYTHONWARNINGS: Solara's http cookie notice
    # SOLARA_THEME_SHOW_BANNER: Solara's corner banner would cover the page's text
    env = {**os.environ, "COMPUTE_MARKET_PRESET": preset, "PYTHONWARNINGS": "ignore::UserWarning",
           "SOLARA_THEME_SHOW_BANNER": "false"}
    print(f"compute-market dashboard: open http://{host}:{port}/ in a browser (Ctrl-C stops it)", file=sys.stderr)
    # the server runs in its own session, so Ctrl-C reaches only this process, which stops the server itself
    # (otherwise the server answers Ctrl-C with its own "Aborted." line before ours); SIGTERM and SIGHUP (the
    # terminal closed) stop it too, and the kernel stops it if this process dies without a word (SIGKILL)
    server = subprocess.Popen([sys.executable, "-m", "solara", "run", str(app), "--host", host,
                               "--port", str(port), "--production", "--no-open"], env=env, start_new_session=True,
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
        _say(f"compute-market: dashboard stopped ({stopped_by}); it wrote nothing; run the same command to start "
             "it again")
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
                                 "there; use 127.0.0.1 (this machine only) or 0.0.0.0 (share it on the "
                                 "network)") from None
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
