"""`xgate message ...`: what the relay services recorded about bridge messages, and the
operator's retry of a parked one (docs/relayer.md §4).

    xgate message list [--status parked]   messages in a status (default: parked)
    xgate message show ID                  one message with its full status history
    xgate message retry ID                 a parked message goes back to header_ready

All read the store of ``--config`` (xgate.toml) and print JSON lines with ``--json`` (an error
is then one ``{"error": {"message": ...}}`` line on stderr).
Exit codes: 0 done, 1 no such message or not parked, 2 unusable configuration or store.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from adapters.errors import ConfigError, XgateError
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.config import load_config
from gateway.domain.messages import MessageId
from gateway.domain.status import InvalidTransition, MessageRecord, MessageStatus, StatusChange
from gateway.store import NotFound, Store

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    message = commands.add_parser(
        "message",
        help="inspect bridge messages; retry a parked one",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = message.add_subparsers(dest="message_command", required=True, metavar="CMD")

    def command(
        name: str, help_: str, action: Callable[[Store, argparse.Namespace], Awaitable[int]]
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="xgate.toml")
        p.add_argument("--json", action="store_true", help="one JSON object per line")
        p.set_defaults(run=lambda args: _run(args, action))
        return p

    p = command("list", "messages in a status", _list)
    p.add_argument(
        "--status", choices=[s.value for s in MessageStatus], default=MessageStatus.PARKED.value
    )
    p.add_argument("--limit", type=int, default=100)
    command("show", "one message with its history", _show).add_argument("id", type=_message_id)
    command("retry", "retry a parked message", _retry).add_argument("id", type=_message_id)


def _message_id(text: str) -> MessageId:
    raw = text[2:] if text.startswith("0x") else text
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("a message id is 32 bytes of hex") from None
    if len(value) != 32:
        raise argparse.ArgumentTypeError("a message id is 32 bytes of hex")
    return MessageId(value)


def _run(
    args: argparse.Namespace, action: Callable[[Store, argparse.Namespace], Awaitable[int]]
) -> int:
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        _error(args, exc.message)
        return EXIT_UNUSABLE

    async def main() -> int:
        store = await Store.open(cfg.store.url, migrate=False)
        try:
            return await action(store, args)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except XgateError as exc:
        _error(args, f"xgate message {args.message_command}: {exc}")
        return EXIT_UNUSABLE


def _error(args: argparse.Namespace, message: str) -> None:
    if args.json:
        print(json.dumps({"error": {"message": message}}), file=sys.stderr)
    else:
        print(message, file=sys.stderr)


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def _record(r: MessageRecord) -> dict[str, Any]:
    return {
        "id": _hex(r.id),
        "route": f"{r.src_chain_id}->{r.dst_chain_id}",
        "status": r.status.value,
        "reason": r.reason,
        "attempts": r.attempts,
        "src_block": r.src_block_number,
        "src_tx": _hex(r.src_tx_hash),
        "delivery_tx": _hex(r.delivery_tx_hash),
        "tracking_id": r.tracking_id,
        "updated_at": r.updated_at.isoformat(),
    }


def _change(c: StatusChange) -> dict[str, Any]:
    return {
        "at": c.at.isoformat(),
        "from": None if c.old_status is None else c.old_status.value,
        "to": c.new_status.value,
        "by": c.owner,
        "detail": c.detail,
        "tx": _hex(c.tx_hash),
    }


def _print(args: argparse.Namespace, entry: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(entry))
    else:
        print("  ".join(f"{k}={v}" for k, v in entry.items() if v is not None))


async def _list(store: Store, args: argparse.Namespace) -> int:
    for r in await store.messages_in([MessageStatus(args.status)], limit=args.limit):
        _print(args, _record(r))
    return EXIT_OK


async def _show(store: Store, args: argparse.Namespace) -> int:
    found = await store.message(args.id)
    if found is None:
        _error(args, f"no message {_hex(args.id)} in the store")
        return EXIT_REFUSED
    _print(args, _record(found))
    for change in await store.history(args.id):
        _print(args, _change(change))
    return EXIT_OK


async def _retry(store: Store, args: argparse.Namespace) -> int:
    try:
        r = await store.operator_retry(args.id, operator="cli")
    except NotFound:
        _error(args, f"no message {_hex(args.id)} in the store")
        return EXIT_REFUSED
    except InvalidTransition as exc:
        _error(args, f"not retried: only a parked message can be retried ({exc})")
        return EXIT_REFUSED
    _print(args, _record(r))
    return EXIT_OK
