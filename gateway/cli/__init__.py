"""`xgate`: the command line and the one composition root of xgate.

Subcommands are thin: they parse and validate arguments, wire objects together and print.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import importlib
import io
import logging
import signal
import sys
from collections.abc import Sequence

# The module that registers each command. Only the module of the command being run is
# imported: importing them all costs about 3 s of CPU at every start (py-evm, alembic, web3,
# the API), most of which one command never uses, and services and tests start xgate often.
_COMMANDS: dict[str, str] = {
    "api": "api_cmd",
    "attester": "services_cmd",
    "besu-config": "besu_config_cmd",
    "config": "config_cmd",
    "credit": "credit_cmd",
    "db": "db_cmd",
    "deploy": "deploy_cmd",
    "demo": "demo",
    "devnet": "devnet_cmd",
    "keeper": "services_cmd",
    "keys": "keys_cmd",
    "message": "messages_cmd",
    "proof": "proof_cmd",
    "receivable": "receivable_cmd",
    "relayer": "services_cmd",
    "run": "services_cmd",
    "status": "status_cmd",
    "swap": "swap_cmd",
    "transfer": "transfer_cmd",
}


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named on the line (the first word that is not an option), if known."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in _COMMANDS else None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: with its command's arguments only when a known command is
    named, with every command's otherwise (help, a typo: argparse lists them all)."""
    parser = argparse.ArgumentParser(
        prog="xgate",
        description="xgate: cross-chain gateway between a QBFT consortium chain and EVM chains.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = _command_of(sys.argv[1:] if argv is None else argv)
    modules = [_COMMANDS[wanted]] if wanted is not None else sorted(set(_COMMANDS.values()))
    for module in modules:
        importlib.import_module(f"gateway.cli.{module}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # web3 logs every provider disconnect at INFO; only its warnings help an operator.
    logging.getLogger("web3").setLevel(logging.WARNING)
    # `kill -USR1 PID` prints every thread's stack to stderr: how an operator (or a test) sees
    # where a process that does not stop is waiting.
    with contextlib.suppress(ValueError, io.UnsupportedOperation):  # stderr is no file
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
