"""Progress for a person watching long work, on stderr, with ``rich``: what every command that
shows a bar or a live status line shares (`xgate deploy`'s bars, the ``--wait`` of `xgate
status`, `xgate transfer status` and `xgate swap status`).

Nothing here writes to stdout: results stay there (text, or JSON lines with ``--json``). A live
line is drawn only when stderr is a terminal and the command is not printing JSON; otherwise
every helper is a no-op and no control character is written. ``rich`` is imported only when a
line is drawn: the commands start faster without it.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["WaitStatus", "live_enabled", "stderr_console", "waiting"]


def live_enabled(*, as_json: bool) -> bool:
    """Whether a live bar or status line may be drawn: stderr is a terminal, no JSON."""
    if as_json:
        return False
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def stderr_console() -> Console:
    """The console every bar and status line draws on: stderr."""
    from rich.console import Console

    return Console(stderr=True)


class WaitStatus:
    """The state shown on a live status line; setting it on a disabled one does nothing."""

    def __init__(self, what: str, *, timeout_s: float) -> None:
        self.what = what
        self.state = "starting"
        self.timeout_s = timeout_s
        self.started = time.monotonic()

    def update(self, state: str, what: str | None = None) -> None:
        self.state = state
        if what is not None:
            self.what = what

    def text(self) -> str:
        elapsed = time.monotonic() - self.started
        return f"{self.what}: {self.state}  {elapsed:.0f} s (timeout {self.timeout_s:g} s)"

    def __rich__(self) -> Any:  # rendered again at every refresh: the seconds move
        from rich.text import Text

        return Text(self.text())


@contextmanager
def waiting(what: str, *, timeout_s: float, enabled: bool) -> Iterator[WaitStatus]:
    """A live line on stderr while waiting: a spinner, ``what: STATE``, the seconds elapsed and
    the timeout. Lines printed to stderr meanwhile (each step) appear above it; it is gone
    when the block ends. Not ``enabled``: only the returned object, nothing drawn."""
    status = WaitStatus(what, timeout_s=timeout_s)
    if not enabled:
        yield status
        return
    from rich.live import Live
    from rich.spinner import Spinner

    line = Spinner("dots", text=status)
    real = sys.stderr
    with Live(line, console=stderr_console(), refresh_per_second=8, transient=True):
        # Live put a proxy in sys.stderr that prints above the line; log handlers still hold
        # the real stream, and a log line written there would be drawn over.
        moved = [
            h
            for h in logging.getLogger().handlers
            if isinstance(h, logging.StreamHandler) and h.stream is real
        ]
        for handler in moved:
            handler.setStream(sys.stderr)
        try:
            yield status
        finally:
            for handler in moved:
                handler.setStream(real)
