"""Errors the command line turns into one line on stderr (see experiments.cli.main)."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (a flag, a path, a file): one line, exit 2."""


class Interrupted(Exception):
    """Ctrl-C during a command; the message says what was kept and how to go on (exit 130)."""
