"""`xgate status [REF] [--wait]`: the gateway as its API sees it, on the SDK.

    xgate status                 the gateway's chains (name, chain id, kind, finality)
    xgate status REF [--wait]    a transfer (message id or tracking id) and its history; with
                                 --wait, each step as it happens until it is delivered
                                 (--timeout S, --interval S)

Options of every command on the API (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing, 4 --wait timed out, 5 --wait found the transfer parked).
"""

from __future__ import annotations

import argparse

from gateway.api.models import Chain
from gateway.cli.remote import EXIT_OK, Output, add_client_arguments, run_remote
from gateway.cli.transfer_cmd import (
    DEFAULT_INTERVAL_S,
    DEFAULT_WAIT_S,
    seconds,
    show_transfer,
    wait_for_transfer,
)
from gateway.sdk import XgateClient

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = commands.add_parser(
        "status",
        help="the gateway's chains, or a transfer's status (--wait: until delivered)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_arguments(p)
    p.add_argument("ref", nargs="?", metavar="REF", help="a transfer: message id or tracking id")
    p.add_argument("--wait", action="store_true", help="follow the transfer until delivered")
    p.add_argument(
        "--timeout",
        type=seconds,
        default=DEFAULT_WAIT_S,
        metavar="S",
        help=f"--wait gives up after S seconds (default {DEFAULT_WAIT_S:g})",
    )
    p.add_argument(
        "--interval",
        type=seconds,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"--wait asks every S seconds (default {DEFAULT_INTERVAL_S:g})",
    )
    p.set_defaults(run=lambda args: run_remote(args, "xgate status", _status))


def _chain_text(chain: Chain) -> str:
    f = chain.finality
    finality = f.kind if f.confirmations is None else f"{f.confirmations} confirmations"
    return f"{chain.name:<16} chain {chain.chain_id:<10} {chain.kind:<5} finality {finality}"


async def _status(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    if args.ref is None:
        if args.wait:
            out.error("--wait needs a transfer (REF)")
            return 2
        for chain in (await client.chains()).items:
            out.result(chain, _chain_text(chain))
        return EXIT_OK
    if args.wait:
        return await wait_for_transfer(
            client, out, args.ref, timeout_s=args.timeout, interval_s=args.interval
        )
    show_transfer(out, await client.transfer(args.ref))
    return EXIT_OK
