"""``xgate`` imports only the module of the command it runs; every command stays reachable
and listed in the help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.cli import _COMMANDS, build_parser


def _registered(parser_names: list[str]) -> set[str]:
    parser = build_parser(parser_names)
    actions = [a for a in parser._actions if a.dest == "command"]
    return set(actions[0].choices)  # type: ignore[arg-type]


def test_help_lists_every_command_of_every_module() -> None:
    assert _registered([]) == set(_COMMANDS)


@pytest.mark.parametrize("command", sorted(_COMMANDS))
def test_a_named_command_registers_its_module_only(command: str) -> None:
    names = _registered(["-v", command, "--help"])
    assert command in names
    assert names == {c for c, m in _COMMANDS.items() if m == _COMMANDS[command]}


def test_running_a_command_does_not_import_the_others() -> None:
    probe = (
        "import sys\n"
        "from gateway.cli import main\n"
        "try:\n"
        "    main(['db', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "others = ('gateway.cli.devnet_cmd', 'gateway.cli.api_cmd', 'gateway.cli.demo')\n"
        "print('loaded=' + ','.join(m for m in others if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert "loaded=\n" in done.stderr, done.stderr


def test_an_unknown_command_is_refused_with_the_list() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "bridgee"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "invalid choice: 'bridgee'" in done.stderr and "transfer" in done.stderr
