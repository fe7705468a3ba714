"""`xgate transfer ...`: bridge transfers through the gateway API, on the SDK.

    xgate transfer status REF [--wait [--timeout S] [--interval S]]
        one transfer (REF: its message id, or the tracking id the API handed out) with its
        history; --wait follows it until it is delivered, printing each step as it happens
        (on the API's event stream; --interval: polling, only on an API without one), with a
        live status line below them when stderr is a terminal (not with --json)
    xgate transfer list [--src-chain-id ID] [--dst-chain-id ID] [--status S[,S]] [--limit N | --all]
        transfers, newest first, following the API's pages
    xgate transfer watch [--after EVENT_ID] [--ref REF] [--count N]
        the transfers' status changes as they happen (the API's event stream, resumed after a
        dropped connection); --ref keeps one transfer's (message id or tracking id)
    xgate transfer quote|build --from-chain ID --to-chain ID --asset settlement_token|receivable
                         (--amount N | --token-id N) --sender ADDRESS --recipient ADDRESS
        fees and expected latency; or the unsigned transactions for the sender's wallet
    xgate transfer submit --chain ID --raw HEX|-       forward a signed transaction, tracked
    xgate transfer track --chain ID --tx HASH          track a transaction sent elsewhere
    xgate transfer manual-execution REF                the proof and calldata to deliver it

Options of every command on the API (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing, 4 --wait timed out, 5 --wait found the transfer parked).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from contextlib import aclosing

from eth_utils.address import to_checksum_address
from pydantic import ValidationError

from gateway.api.models import (
    EventItem,
    MessageEventData,
    StatusChangeItem,
    Transfer,
    UnsignedTx,
)
from gateway.api.transfer_models import TransferTerms
from gateway.cli.progress import WaitStatus, live_enabled, waiting
from gateway.cli.remote import (
    EXIT_OK,
    EXIT_PARKED,
    EXIT_TIMEOUT,
    EXIT_USAGE,
    Output,
    add_client_arguments,
    run_remote,
)
from gateway.domain.status import MessageStatus
from gateway.sdk import ApiProblem, WaitTimedOut, XgateClient

__all__ = ["register", "seconds", "show_transfer", "wait_for_transfer"]

DELIVERED = frozenset({MessageStatus.DELIVERED, MessageStatus.ALREADY_DELIVERED})
DEFAULT_WAIT_S = 600.0
DEFAULT_INTERVAL_S = 2.0


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "transfer",
        help="bridge transfers through the gateway API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="transfer_command", required=True, metavar="CMD")

    p = sub.add_parser("status", help="a transfer and its history; --wait until delivered")
    add_status_arguments(p)
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer status", _status))

    p = sub.add_parser("list", help="transfers, newest first")
    add_client_arguments(p)
    p.add_argument("--src-chain-id", type=_positive, metavar="ID")
    p.add_argument("--dst-chain-id", type=_positive, metavar="ID")
    p.add_argument("--status", type=_statuses, metavar="S[,S]", help="of these statuses")
    count = p.add_mutually_exclusive_group()
    count.add_argument("--limit", type=_positive, default=20, metavar="N", help="at most N")
    count.add_argument("--all", action="store_true", help="every transfer")
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer list", _list))

    p = sub.add_parser("watch", help="status changes as they happen")
    add_client_arguments(p)
    p.add_argument("--after", type=_event_id, metavar="EVENT_ID", help="from after this event")
    p.add_argument("--ref", metavar="REF", help="one transfer's: message id or tracking id")
    p.add_argument("--count", type=_positive, metavar="N", help="stop after N changes")
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer watch", _watch))

    for name, help_, action in (
        ("quote", "fees and expected latency of a transfer", _quote),
        ("build", "the unsigned transactions of a transfer, for the wallet", _build),
    ):
        p = sub.add_parser(name, help=help_)
        add_client_arguments(p)
        p.add_argument("--from-chain", type=_positive, required=True, metavar="ID")
        p.add_argument("--to-chain", type=_positive, required=True, metavar="ID")
        p.add_argument("--asset", choices=["settlement_token", "receivable"], required=True)
        amount = p.add_mutually_exclusive_group(required=True)
        amount.add_argument("--amount", type=_uint, metavar="N", help="base units")
        amount.add_argument("--token-id", type=_uint, metavar="N", help="a receivable's id")
        p.add_argument("--sender", required=True, metavar="ADDRESS", help="checksummed")
        p.add_argument("--recipient", required=True, metavar="ADDRESS", help="checksummed")
        p.set_defaults(
            run=lambda args, n=name, a=action: run_remote(args, f"xgate transfer {n}", a)
        )

    p = sub.add_parser("submit", help="forward a signed transaction to its chain, tracked")
    add_client_arguments(p)
    p.add_argument("--chain", type=_positive, required=True, metavar="ID")
    p.add_argument(
        "--raw", required=True, metavar="HEX", help="the signed transaction; - reads stdin"
    )
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer submit", _submit))

    p = sub.add_parser("track", help="track a source transaction sent elsewhere")
    add_client_arguments(p)
    p.add_argument("--chain", type=_positive, required=True, metavar="ID")
    p.add_argument("--tx", type=_hash, required=True, metavar="HASH")
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer track", _track))

    p = sub.add_parser("manual-execution", help="the proof and calldata to deliver a transfer")
    add_client_arguments(p)
    p.add_argument("ref", metavar="REF", help="message id (0x...) or tracking id")
    p.set_defaults(run=lambda args: run_remote(args, "xgate transfer manual-execution", _manual))


def add_status_arguments(p: argparse.ArgumentParser) -> None:
    add_client_arguments(p)
    p.add_argument("ref", metavar="REF", help="message id (0x...) or tracking id")
    p.add_argument("--wait", action="store_true", help="follow it until it is delivered")
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
            f"seconds at first, less often while nothing changes (default {DEFAULT_INTERVAL_S:g})"
        ),
    )


def _positive(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a positive whole number")
    return int(text)


def _uint(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) >= 2**256:
        raise argparse.ArgumentTypeError("expected a whole number (uint256)")
    return int(text)


def _hash(text: str) -> str:
    raw = text.removeprefix("0x")
    if len(raw) != 64 or any(c not in "0123456789abcdefABCDEF" for c in raw):
        raise argparse.ArgumentTypeError("expected a transaction hash: 0x and 64 hex digits")
    return "0x" + raw.lower()


def _event_id(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise argparse.ArgumentTypeError("expected an event id (a whole number >= 0)")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400 * 7:
        raise argparse.ArgumentTypeError("expected seconds, > 0")
    return value


def _statuses(text: str) -> list[MessageStatus]:
    try:
        return [MessageStatus(s.strip()) for s in text.split(",")]
    except ValueError:
        known = ", ".join(s.value for s in MessageStatus)
        raise argparse.ArgumentTypeError(f"statuses among: {known}") from None


# --- status ------------------------------------------------------------------------------------


def _step_text(change: StatusChangeItem) -> str:
    at = change.at.strftime("%Y-%m-%d %H:%M:%S")
    came = "" if change.from_status is None else f"{change.from_status.value} -> "
    tx = "" if change.tx_hash is None else f"  tx 0x{change.tx_hash.hex()}"
    detail = "" if not change.detail else f"  ({change.detail})"
    return f"  {at}  {came}{change.to_status.value}{tx}{detail}"


def _transfer_text(t: Transfer, *, history: bool = True) -> str:
    lines = [
        f"transfer 0x{t.id.hex()}"
        + ("" if t.tracking_id is None else f"  tracking id {t.tracking_id}"),
        f"  status {t.status.value}"
        + ("" if t.reason is None else f" ({t.reason})")
        + f"  chain {t.src_chain_id} -> {t.dst_chain_id}  attempts {t.attempts}",
        f"  source tx 0x{t.src_tx_hash.hex()} (block {t.src_block_number})",
    ]
    if t.delivery_tx_hash is not None:
        lines.append(
            f"  delivery tx 0x{t.delivery_tx_hash.hex()} (block {t.delivery_block_number})"
        )
    if history:
        lines.append("  history:")
        lines += [_step_text(c) for c in t.history]
    return "\n".join(lines)


def show_transfer(out: Output, transfer: Transfer) -> None:
    out.result(transfer, _transfer_text(transfer))


async def wait_for_transfer(
    client: XgateClient, out: Output, ref: str, *, timeout_s: float, interval_s: float
) -> int:
    """Follow transfer ``ref`` until it is delivered (0), parked (5) or ``timeout_s`` passed
    (4), printing each step of its history once as it appears (text), and the transfer at the
    end (text and JSON). A tracking id the relay service has not recorded yet is waited for.
    The SDK's ``wait_for_transfer`` follows it on the API's event stream; ``interval_s`` is
    the first polling interval only when the API has no event stream."""
    with waiting(
        f"transfer {ref}", timeout_s=timeout_s, enabled=live_enabled(as_json=out.as_json)
    ) as status:
        code, transfer, error = await _wait(
            client, out, ref, timeout_s=timeout_s, interval_s=interval_s, status=status
        )
    # Printed once the live line is gone: the result goes to stdout, which it does not draw on.
    if transfer is not None:
        show_transfer(out, transfer)
    if error is not None:
        out.error(error)
    return code


async def _wait(
    client: XgateClient,
    out: Output,
    ref: str,
    *,
    timeout_s: float,
    interval_s: float,
    status: WaitStatus,
) -> tuple[int, Transfer | None, str | None]:
    """(exit code, the transfer to show, the error to print) of ``wait_for_transfer``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    shown = 0
    last: Transfer | None = None

    def progress(transfer: Transfer) -> None:
        nonlocal shown, last
        last = transfer
        status.update(transfer.status.value)
        if shown == 0:
            out.note(
                f"transfer 0x{transfer.id.hex()}: {transfer.src_chain_id} -> "
                f"{transfer.dst_chain_id}"
            )
        for change in transfer.history[shown:]:
            out.note(_step_text(change))
        shown = len(transfer.history)

    status.update("looking it up")
    try:
        progress(await client.transfer(ref))
    except ApiProblem as problem:
        if problem.slug != "transfer-not-found":
            raise
        status.update("not recorded yet")
        out.note(f"waiting for the relay service to record {ref}: {problem.detail}")
    while True:
        remaining = deadline - loop.time()
        done: Transfer | None = None
        if remaining > 0:
            with contextlib.suppress(WaitTimedOut):
                done = await client.wait_for_transfer(
                    ref, timeout_s=remaining, on_change=progress, poll_interval_s=interval_s
                )
        if done is None:  # timed out: the last answer seen (progress had each one)
            return EXIT_TIMEOUT, last, f"gave up waiting after {timeout_s:g} s"
        if done.status in DELIVERED:
            return EXIT_OK, done, None
        if done.status is MessageStatus.PARKED:
            return EXIT_PARKED, done, f"the transfer is parked: {done.reason or 'no reason given'}"
        status.update(done.status.value)
        # It was parked and an operator's retry moved it on at once: wait on.


async def _status(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    if args.wait:
        return await wait_for_transfer(
            client, out, args.ref, timeout_s=args.timeout, interval_s=args.interval
        )
    show_transfer(out, await client.transfer(args.ref))
    return EXIT_OK


# --- list --------------------------------------------------------------------------------------


async def _list(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    limit: int | None = None if args.all else args.limit
    count = 0
    pages = client.iter_transfers(
        src_chain_id=args.src_chain_id,
        dst_chain_id=args.dst_chain_id,
        status=args.status,
        page_size=None if limit is None else min(limit, 200),
    )
    async with aclosing(pages) as items:
        async for t in items:
            created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
            tracking = "" if t.tracking_id is None else f"  {t.tracking_id}"
            text = (
                f"0x{t.id.hex()}  {t.status.value:<17}  {t.src_chain_id} -> {t.dst_chain_id}  "
                f"{created}{tracking}"
            )
            out.result(t, text)
            count += 1
            if limit is not None and count >= limit:
                break
    out.note(f"{count} transfer(s)")
    return EXIT_OK


# --- watch -------------------------------------------------------------------------------------


def _matches(item: EventItem, ref: str | None) -> bool:
    if ref is None:
        return True
    data = item.data
    assert isinstance(data, MessageEventData)
    return ref.lower() == "0x" + item.ref.hex() or ref == data.tracking_id


def _event_text(item: EventItem) -> str:
    data = item.data
    assert isinstance(data, MessageEventData)
    came = "" if data.old_status is None else f"{data.old_status.value} -> "
    tx = "" if data.tx_hash is None else f"  tx 0x{data.tx_hash.hex()}"
    at = item.created_at.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"#{item.id}  {at}  0x{item.ref.hex()}  {came}{data.status.value}  "
        f"chain {data.src_chain_id} -> {data.dst_chain_id}{tx}"
    )


async def _watch(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    count = 0
    out.note("watching transfers' status changes (Ctrl-C to stop)")
    stream = client.events(after=args.after, kinds=["message"])
    async with aclosing(stream) as items:
        async for item in items:
            if not _matches(item, args.ref):
                continue
            out.result(item, _event_text(item))
            count += 1
            if args.count is not None and count >= args.count:
                break
    return EXIT_OK


# --- the write side ----------------------------------------------------------------------------


def _terms(args: argparse.Namespace) -> TransferTerms:
    return TransferTerms.model_validate_json(
        json.dumps(
            {
                "src_chain_id": args.from_chain,
                "dst_chain_id": args.to_chain,
                "asset": args.asset,
                "amount": None if args.amount is None else str(args.amount),
                "token_id": None if args.token_id is None else str(args.token_id),
                "sender": args.sender,
                "recipient": args.recipient,
            }
        )
    )


def _valid_terms(out: Output, args: argparse.Namespace) -> TransferTerms | None:
    try:
        return _terms(args)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "terms"
            out.error(f"{where}: {error['msg']}")
        return None


def _tx_text(tx: UnsignedTx) -> str:
    gas = "gas unknown yet" if tx.gas is None else f"gas {tx.gas}"
    return (
        f"{tx.description}\n  chain {tx.chain_id}  from {to_checksum_address(tx.sender)}  "
        f"to {to_checksum_address(tx.to)}  value {tx.value}  {gas}\n  data 0x{tx.data.hex()}"
    )


async def _quote(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    terms = _valid_terms(out, args)
    if terms is None:
        return EXIT_USAGE
    quote = await client.quote_transfer(terms)
    lat, fees = quote.latency, quote.fees
    gas = "unknown until an approval is mined" if fees.source_gas is None else fees.source_gas
    out.result(
        quote,
        f"{quote.asset} {quote.src_chain_id} -> {quote.dst_chain_id}: protocol fee "
        f"{fees.protocol_fee}, source gas {gas} ({fees.source_txs} tx), delivery gas "
        f"{fees.delivery_gas} (the relay service's)\n"
        f"latency p50 {lat.p50_s:.0f} s, p95 {lat.p95_s:.0f} s ({lat.basis}, {lat.samples} "
        f"samples; source finality {lat.source_finality_s:.0f} s)",
    )
    return EXIT_OK


async def _build(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    terms = _valid_terms(out, args)
    if terms is None:
        return EXIT_USAGE
    built = await client.build_transfer(terms)
    out.result(built, "\n".join(f"{i}. {_tx_text(tx)}" for i, tx in enumerate(built.txs, 1)))
    out.note("sign and send them in order, each once the previous is mined")
    return EXIT_OK


async def _submit(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    text = sys.stdin.read().strip() if args.raw == "-" else args.raw.strip()
    try:
        raw = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        out.error("--raw is not hex")
        return EXIT_USAGE
    sent = await client.submit_transaction(args.chain, raw)
    out.result(
        sent,
        f"sent 0x{sent.tx_hash.hex()} on chain {sent.chain_id} (nonce {sent.nonce})\n"
        f"tracking id {sent.tracking_id}: xgate status {sent.tracking_id} --wait",
    )
    return EXIT_OK


async def _track(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    tracked = await client.track_transaction(args.chain, args.tx)
    out.result(
        tracked,
        f"tracking id {tracked.tracking_id}: xgate status {tracked.tracking_id} --wait",
    )
    return EXIT_OK


async def _manual(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    m = await client.manual_execution(args.ref)
    header = "accepted" if m.header.accepted else f"not accepted yet: {m.header.required}"
    gas = "unknown" if m.gas is None else m.gas
    out.result(
        m,
        f"transfer 0x{m.message_id.hex()} ({m.status.value}), chain {m.src_chain_id} -> "
        f"{m.dst_chain_id}\n  header on the destination: {header}\n"
        f"  send to {to_checksum_address(m.to)} (gas {gas}) the data\n  0x{m.data.hex()}",
    )
    return EXIT_OK
