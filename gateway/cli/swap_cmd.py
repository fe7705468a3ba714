"""`xgate swap ...`: hashed-timelock swaps through the gateway API, on the SDK.

    xgate swap propose --body FILE|-      propose a swap (a SwapPropose JSON body: the initiator
                                          sends only the sha256 hash of its secret)
    xgate swap status ID [--wait [--timeout S] [--interval S]]
                                          a swap and its legs; --wait follows it until it is
                                          completed, refunded or expired, printing each state
                                          (on the API's event stream; --interval: polling,
                                          only on an API without one); on a terminal, a
                                          live status line below them (not with --json)
    xgate swap locks ID                   the unsigned lock transactions of both legs
    xgate swap authorize ID --body FILE|- authorise the keeper (a SwapAuthorize JSON body)

Options of every command on the API (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing, 4 --wait timed out; a swap ending refunded or expired exits 0: it ended).
"""

from __future__ import annotations

import argparse

from eth_utils.address import to_checksum_address

from gateway.api.swap_models import (
    SwapAuthorize,
    SwapLegView,
    SwapLocks,
    SwapPropose,
    SwapView,
)
from gateway.cli.progress import live_enabled, waiting
from gateway.cli.remote import (
    EXIT_OK,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Output,
    add_client_arguments,
    read_body,
    run_remote,
)
from gateway.cli.transfer_cmd import DEFAULT_INTERVAL_S, DEFAULT_WAIT_S, seconds
from gateway.domain.status import SwapState
from gateway.domain.swaps import TERMINAL_STATES
from gateway.sdk import WaitTimedOut, XgateClient

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "swap",
        help="hashed-timelock swaps through the gateway API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="swap_command", required=True, metavar="CMD")

    p = sub.add_parser("propose", help="propose a swap")
    add_client_arguments(p)
    p.add_argument("--body", required=True, metavar="FILE", help="SwapPropose JSON; - for stdin")
    p.set_defaults(run=lambda args: run_remote(args, "xgate swap propose", _propose))

    p = sub.add_parser("status", help="a swap and its legs; --wait until it ends")
    add_client_arguments(p)
    p.add_argument("swap_id", metavar="ID", help="the swap id (0x and 64 hex digits)")
    p.add_argument("--wait", action="store_true", help="follow it until it ends")
    p.add_argument("--timeout", type=seconds, default=DEFAULT_WAIT_S, metavar="S")
    p.add_argument("--interval", type=seconds, default=DEFAULT_INTERVAL_S, metavar="S")
    p.set_defaults(run=lambda args: run_remote(args, "xgate swap status", _status))

    p = sub.add_parser("locks", help="the unsigned lock transactions of both legs")
    add_client_arguments(p)
    p.add_argument("swap_id", metavar="ID")
    p.set_defaults(run=lambda args: run_remote(args, "xgate swap locks", _locks))

    p = sub.add_parser("authorize", help="authorise the keeper to claim or refund")
    add_client_arguments(p)
    p.add_argument("swap_id", metavar="ID")
    p.add_argument("--body", required=True, metavar="FILE", help="SwapAuthorize JSON; - stdin")
    p.set_defaults(run=lambda args: run_remote(args, "xgate swap authorize", _authorize))


def _swap_text(s: SwapView) -> str:
    def leg(name: str, v: SwapLegView) -> str:
        txs = "  ".join(
            f"{k} 0x{t.hex()}"
            for k, t in (("lock", v.lock_tx), ("claim", v.claim_tx), ("refund", v.refund_tx))
            if t is not None
        )
        return (
            f"  {name}: chain {v.chain_id} {v.asset_kind.value} {v.value}, timelock "
            f"{v.timelock_at:%Y-%m-%d %H:%M:%S}Z  {txs}".rstrip()
        )

    reason = "" if s.reason is None else f" ({s.reason})"
    return "\n".join(
        [
            f"swap 0x{s.swap_id.hex()}  state {s.state.value}{reason}",
            leg("initiator", s.initiator_leg),
            leg("participant", s.participant_leg),
            f"  keeper authorised: claim {s.claim_authorized}, refund {s.refund_authorized}",
        ]
    )


async def _propose(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    body = read_body(out, args.body, SwapPropose)
    if body is None:
        return EXIT_USAGE
    swap = await client.propose_swap(body)
    out.result(swap, _swap_text(swap))
    return EXIT_OK


async def _status(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    if not args.wait:
        shown = await client.swap(args.swap_id)
        out.result(shown, _swap_text(shown))
        return EXIT_OK
    state: SwapState | None = None
    swap: SwapView | None = None
    last: object = None
    live = waiting(
        f"swap {args.swap_id}", timeout_s=args.timeout, enabled=live_enabled(as_json=out.as_json)
    )

    with live as status:

        def progress(view: SwapView) -> None:
            nonlocal state
            status.update(view.state.value)
            if state is None:
                out.note(f"swap 0x{view.swap_id.hex()}: {view.state.value}")
            elif view.state is not state:
                out.note(f"  {state.value} -> {view.state.value}")
            state = view.state

        try:
            swap = await client.wait_for_swap(
                args.swap_id,
                until=TERMINAL_STATES,
                timeout_s=args.timeout,
                on_change=progress,
                poll_interval_s=args.interval,
            )
        except WaitTimedOut as timed_out:
            last = timed_out.last
    # Printed once the live line is gone: the result goes to stdout, which it does not draw on.
    if swap is None:
        if isinstance(last, SwapView):
            out.result(last, _swap_text(last))
        out.error(f"gave up waiting after {args.timeout:g} s")
        return EXIT_TIMEOUT
    out.result(swap, _swap_text(swap))
    return EXIT_OK


def _locks_text(locks: SwapLocks) -> str:
    lines = [f"swap 0x{locks.swap_id.hex()}"]
    for who, txs in (("initiator", locks.initiator), ("participant", locks.participant)):
        for i, tx in enumerate(txs, 1):
            lines.append(f"  {who} {i}. {tx.description} (chain {tx.chain_id})")
            to = to_checksum_address(tx.to)
            lines.append(f"     to {to} value {tx.value} data 0x{tx.data.hex()}")
    return "\n".join(lines)


async def _locks(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    locks = await client.swap_locks(args.swap_id)
    out.result(locks, _locks_text(locks))
    return EXIT_OK


async def _authorize(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    body = read_body(out, args.body, SwapAuthorize)
    if body is None:
        return EXIT_USAGE
    swap = await client.authorize_swap(args.swap_id, body)
    out.result(swap, _swap_text(swap))
    return EXIT_OK
