"""`xgate keys ...`: the gateway API's keys (docs/api.md §2), on the configured store directly:
the operator's bootstrap, since the first operator key cannot come from the API; or, with
``--api URL``, through that API with an operator key (the SDK's operator key methods).

    xgate keys create --name N --scope S [--scope S ...] [--ed25519-public-key HEX]
                      [--chain-account 0xADDR] [--rate R] [--burst B]
                                                   a new key; its token is printed once
    xgate keys list [--active]                     every key (never a secret)
    xgate keys revoke KEY_ID                       the key stops working at once

Keys of a signing scope (``issuer``, ``operator``) need the Ed25519 public key (32 bytes of
hex) their state-changing requests are signed with; ``issuer`` keys the EVM account they act as
(``--chain-account``: their credit transactions are built for it only). ``--rate`` /
``--burst``: the key's token bucket (requests per second, burst), enforced by each API instance. All read ``--config``
(xgate.toml); ``--json`` prints one JSON object per line. The token (``xg_<id>_<secret>``) is
shown by ``create`` only: the store keeps the secret's hash.
Exit codes: 0 done, 1 refused (no such key, a value the store refuses), 2 unusable
configuration or store.

Remote mode: ``--api URL`` (instead of ``--config``; both is a usage error) sends the same
commands to the API, with the options of every command on the API (``--token``, default
$XGATE_API_TOKEN; ``--signing-key-file``, default $XGATE_SIGNING_KEY_FILE: an operator key and
its Ed25519 signing key, ``create`` and ``revoke`` being signed requests) and their exit codes
(`gateway/cli/remote.py`: 0 done, 1 refused, 2 usage, 3 gateway unreachable or failing). The
output is the same; the API key is never printed (``create`` prints the new key's token once).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from eth_utils.address import is_checksum_address, to_canonical_address, to_checksum_address

from adapters.errors import ConfigError, XgateError
from gateway.api.operator_models import OperatorKey, OperatorKeyCreate
from gateway.cli import remote
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.config import load_config
from gateway.domain.apikeys import SIGNING_SCOPES, ApiKey, Scope
from gateway.sdk import XgateClient
from gateway.store import NotFound, Store, StoreError

EXIT_OK, EXIT_REFUSED, EXIT_UNUSABLE = 0, 1, 2
DEFAULT_RATE_PER_S = 10.0
DEFAULT_BURST = 20

Action = Callable[[Store, argparse.Namespace], Awaitable[int]]
RemoteAction = Callable[[XgateClient, remote.Output, argparse.Namespace], Awaitable[int]]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser(
        "keys",
        help="create, list and revoke the gateway API's keys",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="CMD")

    def command(
        name: str, help_: str, action: Action, remote_action: RemoteAction
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--config",
            type=Path,
            default=None,
            help=f"xgate.toml (default {DEFAULT_CONFIG}); not with --api",
        )
        remote.add_client_arguments(p)
        p.set_defaults(run=lambda args: _dispatch(p, args, action, remote_action))
        return p

    p = command("create", "a new API key (its token is printed once)", _create, _create_remote)
    p.add_argument("--name", required=True, help="what the key is for (1-100 characters)")
    p.add_argument(
        "--scope",
        dest="scopes",
        action="append",
        required=True,
        choices=[s.value for s in Scope],
        help="a scope of the key (repeat for several)",
    )
    p.add_argument(
        "--ed25519-public-key",
        type=_public_key,
        metavar="HEX",
        help="the Ed25519 public key (32 bytes of hex) signing its requests; required for "
        "the issuer and operator scopes",
    )
    p.add_argument(
        "--chain-account",
        type=_chain_account,
        metavar="0xADDR",
        help="the EVM account the key acts as (EIP-55); required for the issuer scope",
    )
    p.add_argument(
        "--rate",
        type=_rate,
        default=DEFAULT_RATE_PER_S,
        metavar="R",
        help=f"requests per second (default {DEFAULT_RATE_PER_S:g})",
    )
    p.add_argument(
        "--burst",
        type=_burst,
        default=DEFAULT_BURST,
        metavar="B",
        help=f"requests in a burst (default {DEFAULT_BURST})",
    )
    p = command("list", "every API key, without secrets", _list, _list_remote)
    p.add_argument("--active", action="store_true", help="leave out revoked keys")
    p = command("revoke", "revoke an API key", _revoke, _revoke_remote)
    p.add_argument("key_id", help="the key's id")


def _public_key(text: str) -> bytes:
    raw = text[2:] if text.startswith("0x") else text
    try:
        value = bytes.fromhex(raw)
    except ValueError:
        raise argparse.ArgumentTypeError("an Ed25519 public key is 32 bytes of hex") from None
    if len(value) != 32:
        raise argparse.ArgumentTypeError("an Ed25519 public key is 32 bytes of hex")
    return value


def _chain_account(text: str) -> bytes:
    if not (text.startswith("0x") and len(text) == 42 and is_checksum_address(text)):
        raise argparse.ArgumentTypeError(
            "expected an EIP-55 checksummed address: 0x and 40 hex digits"
        )
    return to_canonical_address(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1_000_000:
        raise argparse.ArgumentTypeError("a rate is requests per second in (0, 1000000]")
    return value


def _burst(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 1_000_000:
        raise argparse.ArgumentTypeError("a burst is a whole number of requests, 1..1000000")
    return int(text)


def _dispatch(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    action: Action,
    remote_action: RemoteAction,
) -> int:
    """On the store (``--config``), or on the API with ``--api`` (only when given: not from
    $XGATE_API_URL, so a plain ``xgate keys`` stays the bootstrap on the store)."""
    if args.api is not None:
        if args.config is not None:
            parser.error("--api and --config exclude each other: the API or the store")
        return remote.run_remote(args, f"xgate keys {args.keys_command}", remote_action)
    if args.token is not None or args.signing_key_file is not None:
        parser.error("--token and --signing-key-file are for the API: give --api URL")
    return _run(args, action)


def _run(args: argparse.Namespace, action: Action) -> int:
    try:
        cfg = load_config(args.config or DEFAULT_CONFIG)
    except ConfigError as exc:
        print(exc.message, file=sys.stderr)
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
        print(f"xgate keys {args.keys_command}: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE


def _record(key: ApiKey | OperatorKey) -> dict[str, Any]:
    """A key as printed: the same from the store (bootstrap) and through the API (``--api``)."""
    view = key if isinstance(key, OperatorKey) else OperatorKey.from_record(key)
    public = view.ed25519_public_key
    return {
        "key_id": view.key_id,
        "name": view.name,
        "scopes": sorted(s.value for s in view.scopes),
        "ed25519_public_key": None if public is None else public.removeprefix("0x"),
        "chain_account": None
        if view.chain_account is None
        else to_checksum_address(view.chain_account),
        "rate_per_s": view.rate_per_s,
        "burst": view.burst,
        "created_at": view.created_at.isoformat(),
        "revoked_at": None if view.revoked_at is None else view.revoked_at.isoformat(),
    }


def _print(args: argparse.Namespace, entry: dict[str, Any]) -> None:
    if args.json:
        print(json.dumps(entry))
        return
    shown = {k: ",".join(v) if isinstance(v, list) else v for k, v in entry.items()}
    print("  ".join(f"{k}={v}" for k, v in shown.items() if v is not None))


def _unsigned_signing_scopes(args: argparse.Namespace) -> bool:
    """Whether a signing scope was asked for without its public key (printed)."""
    scopes = frozenset(Scope(s) for s in args.scopes)
    if scopes & SIGNING_SCOPES and args.ed25519_public_key is None:
        signing = ", ".join(sorted(s.value for s in scopes & SIGNING_SCOPES))
        print(
            f"xgate keys create: a key with the {signing} scope signs its requests: give its "
            "--ed25519-public-key",
            file=sys.stderr,
        )
        return True
    return False


def _unbound_issuer(args: argparse.Namespace) -> bool:
    """Whether the issuer scope was asked for without its chain account (printed)."""
    if Scope.ISSUER.value in args.scopes and args.chain_account is None:
        print(
            "xgate keys create: an issuer key acts as one account on the consortium chain: give "
            "its --chain-account",
            file=sys.stderr,
        )
        return True
    return False


def _created(args: argparse.Namespace, entry: dict[str, Any], token: str) -> int:
    _print(args, {**entry, "token": token})
    if not args.json:
        print("the token is shown this once: keep it now", file=sys.stderr)
    return EXIT_OK


async def _create(store: Store, args: argparse.Namespace) -> int:
    scopes = frozenset(Scope(s) for s in args.scopes)
    if _unsigned_signing_scopes(args) or _unbound_issuer(args):
        return EXIT_REFUSED
    try:
        created = await store.create_api_key(
            args.name,
            scopes,
            ed25519_public_key=args.ed25519_public_key,
            chain_account=args.chain_account,
            rate_per_s=args.rate,
            burst=args.burst,
        )
    except StoreError as exc:
        print(f"xgate keys create: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    return _created(args, _record(created.api_key), created.token)


async def _list(store: Store, args: argparse.Namespace) -> int:
    for key in await store.api_keys(include_revoked=not args.active):
        _print(args, _record(key))
    return EXIT_OK


async def _revoke(store: Store, args: argparse.Namespace) -> int:
    try:
        key = await store.revoke_api_key(args.key_id)
    except NotFound:
        print(f"xgate keys revoke: no API key {args.key_id}", file=sys.stderr)
        return EXIT_REFUSED
    except StoreError as exc:
        print(f"xgate keys revoke: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    _print(args, _record(key))
    return EXIT_OK


# --- on the API (--api) ------------------------------------------------------------------------


async def _create_remote(client: XgateClient, out: remote.Output, args: argparse.Namespace) -> int:
    if _unsigned_signing_scopes(args) or _unbound_issuer(args):
        return EXIT_REFUSED
    public = args.ed25519_public_key
    created = await client.create_operator_key(
        OperatorKeyCreate(
            name=args.name,
            scopes=sorted({Scope(s) for s in args.scopes}, key=list(Scope).index),
            ed25519_public_key=None if public is None else "0x" + public.hex(),
            chain_account=args.chain_account,
            rate_per_s=args.rate,
            burst=args.burst,
        )
    )
    return _created(args, _record(created), created.token)


async def _list_remote(client: XgateClient, out: remote.Output, args: argparse.Namespace) -> int:
    for key in (await client.operator_keys(include_revoked=not args.active)).items:
        _print(args, _record(key))
    return EXIT_OK


async def _revoke_remote(client: XgateClient, out: remote.Output, args: argparse.Namespace) -> int:
    _print(args, _record(await client.revoke_operator_key(args.key_id)))
    return EXIT_OK
