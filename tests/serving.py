"""Helpers for tests (and the dashboard benchmark) that start real processes: a free local port, waiting
until a server answers, and starting a child that gets Ctrl-C as a user at a terminal does."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
import urllib.request


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, proc: subprocess.Popen, seconds: float = 120) -> str:
    """The page at `url` once the server `proc` answers; RuntimeError if it exits or `seconds` pass first."""
    deadline = time.time() + seconds
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5).read().decode()
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the server for {url} did not start") from None
            time.sleep(0.5)


def popen_as_at_a_terminal(*args, **kwargs) -> subprocess.Popen:
    """Start a child that gets Ctrl-C as a user at a terminal does. A shell that runs the test suite as a
    background job starts it with SIGINT ignored, and an ignored signal stays ignored across exec (Python then
    never raises KeyboardInterrupt); a handled one is reset to the default, so handle it while starting."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(*args, **kwargs)
    finally:
        signal.signal(signal.SIGINT, previous)
