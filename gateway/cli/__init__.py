"""`xgate`: the command line and the one composition root of xgate.

Subcommands are thin: they parse and validate arguments, wire objects together and print.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from gateway.cli import (
    api_cmd,
    config_cmd,
    credit_cmd,
    db_cmd,
    demo,
    devnet_cmd,
    keys_cmd,
    messages_cmd,
    proof_cmd,
    services_cmd,
    status_cmd,
    swap_cmd,
    transfer_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xgate",
        description="xgate: cross-chain gateway between a QBFT consortium chain and EVM chains.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    api_cmd.register(commands)
    config_cmd.register(commands)
    credit_cmd.register(commands)
    db_cmd.register(commands)
    demo.register(commands)
    devnet_cmd.register(commands)
    keys_cmd.register(commands)
    messages_cmd.register(commands)
    proof_cmd.register(commands)
    services_cmd.register(commands)
    status_cmd.register(commands)
    swap_cmd.register(commands)
    transfer_cmd.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # web3 logs every provider disconnect at INFO; only its warnings help an operator.
    logging.getLogger("web3").setLevel(logging.WARNING)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
