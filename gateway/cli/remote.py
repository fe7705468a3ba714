"""What the `xgate` commands that talk to a gateway API share (`xgate status`, `xgate transfer`
...): they are built on the SDK (``gateway.sdk.XgateClient``) and take

    --api URL                the API (default $XGATE_API_URL, else http://127.0.0.1:8080)
    --token TOKEN            the API key (default $XGATE_API_TOKEN: prefer the environment, a
                             command line is visible to other users); never printed
    --signing-key-file PATH  the key's Ed25519 signing key (32 bytes of hex; default
                             $XGATE_SIGNING_KEY_FILE), for an issuer's or operator's changes
    --json                   one JSON object per line on stdout (errors: one on stderr)

Exit codes (every such command): 0 done; 1 the API refused the request (a 4xx problem: its
detail is printed); 2 bad usage (arguments, no token, an unreadable signing key); 3 the gateway
is unreachable or failing (no answer, a 5xx, retries used up); 4 a wait timed out; 5 a waited-for
transfer was parked (it needs an operator).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from nacl.signing import SigningKey
from pydantic import BaseModel, ValidationError

from gateway.sdk import ApiProblem, ApiResponseInvalid, ApiUnavailable, XgateClient

__all__ = [
    "EXIT_FAILING",
    "EXIT_OK",
    "EXIT_PARKED",
    "EXIT_REFUSED",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "Output",
    "add_client_arguments",
    "read_body",
    "run_remote",
]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_FAILING, EXIT_TIMEOUT, EXIT_PARKED = 0, 1, 2, 3, 4, 5
DEFAULT_API = "http://127.0.0.1:8080"
TOKEN_ENV = "XGATE_API_TOKEN"
API_ENV = "XGATE_API_URL"
SIGNING_KEY_ENV = "XGATE_SIGNING_KEY_FILE"

Action = Callable[[XgateClient, "Output", argparse.Namespace], Awaitable[int]]


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of every command on the API (see the module's docstring)."""
    parser.add_argument(
        "--api",
        default=None,
        metavar="URL",
        help=f"the gateway API (default ${API_ENV}, else {DEFAULT_API})",
    )
    parser.add_argument(
        "--token",
        default=None,
        metavar="TOKEN",
        help=f"the API key (default ${TOKEN_ENV}; prefer the environment)",
    )
    parser.add_argument(
        "--signing-key-file",
        type=Path,
        default=None,
        metavar="PATH",
        help=f"the key's Ed25519 signing key, 32 bytes of hex (default ${SIGNING_KEY_ENV})",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


class Output:
    """Prints results on stdout (text, or one JSON object per line) and errors on stderr."""

    def __init__(self, command: str, *, as_json: bool) -> None:
        self.command = command
        self.as_json = as_json

    def result(self, data: BaseModel | dict[str, Any], text: str) -> None:
        if self.as_json:
            value = data.model_dump(mode="json") if isinstance(data, BaseModel) else data
            print(json.dumps(value), flush=True)
        else:
            print(text, flush=True)

    def note(self, text: str) -> None:
        """Progress for a person (stderr; nothing with --json)."""
        if not self.as_json:
            print(text, file=sys.stderr, flush=True)

    def error(self, message: str, data: dict[str, Any] | None = None) -> None:
        if self.as_json:
            print(json.dumps({"error": data or {"message": message}}), file=sys.stderr)
        else:
            print(f"{self.command}: {message}", file=sys.stderr)


M = TypeVar("M", bound=BaseModel)


def read_body(out: Output, source: str, model: type[M]) -> M | None:
    """A request body from a JSON file (``-``: stdin), validated by the API's own ``model``
    before it is sent; None (with every bad field printed) when it is not one."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text()
    except OSError as exc:
        out.error(f"cannot read {source}: {exc.strerror}")
        return None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "body"
            out.error(f"{source}: {where}: {error['msg']}")
        return None


def _signing_key(path: Path) -> SigningKey:
    text = path.read_text().strip().removeprefix("0x")
    seed = bytes.fromhex(text)
    if len(seed) != 32:
        raise ValueError("an Ed25519 signing key is 32 bytes of hex")
    return SigningKey(seed)


def run_remote(args: argparse.Namespace, command: str, action: Action) -> int:
    """Run ``action`` with a client built from the options; problems become exit codes."""
    out = Output(command, as_json=bool(args.json))
    api = args.api or os.environ.get(API_ENV) or DEFAULT_API
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        out.error(f"no API key: set ${TOKEN_ENV} (or give --token)")
        return EXIT_USAGE
    key_path = args.signing_key_file or (
        Path(os.environ[SIGNING_KEY_ENV]) if os.environ.get(SIGNING_KEY_ENV) else None
    )
    signing_key = None
    if key_path is not None:
        try:
            signing_key = _signing_key(key_path)
        except (OSError, ValueError) as exc:
            # The message never quotes the file's content.
            out.error(f"cannot use the signing key {key_path}: {type(exc).__name__}")
            return EXIT_USAGE
    try:
        client = XgateClient(api, token, signing_key=signing_key)
    except ValueError as exc:
        out.error(str(exc))
        return EXIT_USAGE

    async def main() -> int:
        async with client:
            return await action(client, out, args)

    try:
        return asyncio.run(main())
    except ApiProblem as problem:
        out.error(str(problem), problem.to_dict())
        return EXIT_FAILING if problem.status >= 500 or problem.retryable else EXIT_REFUSED
    except ValidationError as exc:  # arguments the API's request model refuses
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "request"
            out.error(f"{where}: {error['msg']}")
        return EXIT_USAGE
    except (ApiUnavailable, ApiResponseInvalid) as exc:
        out.error(f"{exc} (is `xgate api` serving at {api}?)", exc.to_dict())
        return EXIT_FAILING
    except KeyboardInterrupt:
        return 130
