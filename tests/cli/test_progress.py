"""gateway.cli.progress: the live status line of `--wait` is drawn on stderr only when it is a
terminal and the command prints no JSON; the steps printed meanwhile stay, each on its line."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from gateway.cli.progress import live_enabled, waiting


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_only_a_terminal_without_json_gets_a_live_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not live_enabled(as_json=False)
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert live_enabled(as_json=False)
    assert not live_enabled(as_json=True)


def test_a_disabled_status_draws_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with waiting("transfer trk-1", timeout_s=600, enabled=False) as status:
        status.update("final")
        print("  a step", file=sys.stderr)
    assert status.text().startswith("transfer trk-1: final  0 s (timeout 600 s)")
    assert capsys.readouterr() == ("", "  a step\n")


def test_the_live_line_shows_state_elapsed_and_timeout_and_keeps_the_steps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    handler = logging.StreamHandler(terminal)
    logging.getLogger().addHandler(handler)
    try:
        with waiting("swap 0xab", timeout_s=30, enabled=True) as status:
            status.update("proposed")
            print("  a step", file=sys.stderr)
            logging.getLogger("xgate.test").warning("a log line")
            assert handler.stream is sys.stderr  # the proxy that prints above the line
            status.update("refunding")
    finally:
        logging.getLogger().removeHandler(handler)
    assert handler.stream is terminal
    drawn = terminal.getvalue()
    assert "\x1b[" in drawn  # drawn over itself, then erased (transient)
    assert "swap 0xab: refunding  0 s (timeout 30 s)" in drawn
    assert "  a step\n" in drawn and "a log line\n" in drawn
