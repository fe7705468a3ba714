"""`xgate status [REF] [--wait]`: the gateway as its API sees it, on the SDK.

    xgate status                 the gateway's chains (name, chain id, kind, finality) and
                                 each one's live status: head and final heights, how far each
                                 counterpart's light client follows it, paused routes (a chain
                                 whose node does not answer is shown unavailable)
    xgate status REF [--wait]    a transfer (message id or tracking id) and its history; with
                                 --wait, each step as it happens until it is delivered
                                 (--timeout S; followed on the API's event stream, polled
                                 every --interval S only on an API without one), with a
                                 live status line on a terminal (not with --json)

Options of every command on the API (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing, 4 --wait timed out, 5 --wait found the transfer parked).
"""

from __future__ import annotations

import argparse
from typing import Any

from adapters.retry import RetryPolicy
from gateway.api.models import Chain
from gateway.api.transfer_models import ChainStatus
from gateway.cli.remote import EXIT_OK, Output, add_client_arguments, run_remote
from gateway.cli.transfer_cmd import (
    DEFAULT_INTERVAL_S,
    DEFAULT_WAIT_S,
    seconds,
    show_transfer,
    wait_for_transfer,
)
from gateway.sdk import ApiProblem, Retries, XgateClient

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
        help=(
            "--wait follows the API's event stream; on an API without one it asks every S "
            f"seconds at first (default {DEFAULT_INTERVAL_S:g})"
        ),
    )
    p.set_defaults(run=lambda args: run_remote(args, "xgate status", _status))


def _chain_record(chain: Chain, live: ChainStatus | ApiProblem) -> dict[str, Any]:
    record: dict[str, Any] = chain.model_dump(mode="json")
    if isinstance(live, ChainStatus):
        return {**record, "status": live.model_dump(mode="json"), "status_problem": None}
    return {**record, "status": None, "status_problem": live.to_dict()}


def _chain_text(chain: Chain, live: ChainStatus | ApiProblem) -> str:
    f = chain.finality
    finality = f.kind if f.confirmations is None else f"{f.confirmations} confirmations"
    lines = [f"{chain.name:<16} chain {chain.chain_id:<10} {chain.kind:<5} finality {finality}"]
    if isinstance(live, ApiProblem):
        lines.append(f"  status unavailable: {live.slug}: {live.detail}")
        return "\n".join(lines)
    paused = "endpoint paused" if live.endpoint_paused else "endpoint running"
    routes = ", ".join(str(c) for c in live.paused_routes) or "none"
    lines.append(
        f"  head {live.head_height}  final {live.finalized_height}  {paused}  "
        f"paused routes: {routes}"
    )
    for c in live.counterparts:
        known = "?" if c.known_height is None else c.known_height
        lag = "?" if c.lag_blocks is None else c.lag_blocks
        flags = " FROZEN" if c.frozen else ""
        flags += " route paused" if c.route_paused else ""
        detail = f" ({c.detail})" if c.detail else ""
        lines.append(
            f"  on {c.name} ({c.chain_id}): {c.oracle} at {known}, lag {lag} blocks{flags}{detail}"
        )
    return "\n".join(lines)


async def _status(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    if args.ref is None:
        if args.wait:
            out.error("--wait needs a transfer (REF)")
            return 2
        chains = (await client.chains()).items
        # A chain that does not answer is reported, not waited for.
        client.retries = Retries(backoff=RetryPolicy(max_attempts=1))
        for chain in chains:
            live: ChainStatus | ApiProblem
            try:
                live = await client.chain_status(chain.chain_id)
            except ApiProblem as problem:
                live = problem
            out.result(_chain_record(chain, live), _chain_text(chain, live))
        return EXIT_OK
    if args.wait:
        return await wait_for_transfer(
            client, out, args.ref, timeout_s=args.timeout, interval_s=args.interval
        )
    show_transfer(out, await client.transfer(args.ref))
    return EXIT_OK
