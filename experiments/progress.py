"""Progress on stderr: one line rewritten in place while seeds finish."""

from __future__ import annotations

import sys

_line_open = False  # a progress line has been started and not ended with a newline


def print_progress(done: int, total: int, elapsed: float, what: str = "seeds") -> None:
    """'seeds 3/8 done, 12s elapsed, ~20s left' (or '~3.5 min left'), rewritten in place until the last one."""
    global _line_open
    left = elapsed / done * (total - done)
    left_text = f"~{left:.0f}s left" if left < 120 else f"~{left / 60:.1f} min left"
    print(f"\r  {what} {done}/{total} done, {elapsed:.0f}s elapsed, {left_text}", end="" if done < total else "\n",
          file=sys.stderr, flush=True)
    _line_open = done < total


def end_progress_line() -> None:
    """End an open progress line, so that a message printed next starts on its own line."""
    global _line_open
    if _line_open:
        print(file=sys.stderr, flush=True)
        _line_open = False
