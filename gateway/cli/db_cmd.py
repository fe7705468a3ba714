"""`xgate db ...`: migrate and check the store's database (``gateway.store.migrate``).

    xgate db upgrade [REV] --url URL     migrate up (default: head)
    xgate db downgrade REV --url URL     migrate down ("base" drops every store table)
    xgate db current --url URL           print the database's revision ("none" when empty)
    xgate db check --url URL             print differences between models and database; exit 1
                                         if there are any

``--json`` prints one JSON object on stdout: ``{"revision_before": R, "revision_after": R}``
(upgrade, downgrade; null: no store tables), ``{"revision": R}`` (current),
``{"revision": R, "match": BOOL, "differences": [LINE, ...]}`` (check); an error is one
``{"error": {"message": ...}}`` on stderr.

Exit codes: 0 done, 1 the check found differences, 2 unusable URL or database error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable
from typing import Any

from adapters.errors import XgateError
from gateway.store import migrate

log = logging.getLogger(__name__)

EXIT_OK, EXIT_DIFFERENT, EXIT_ERROR = 0, 1, 2


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser(
        "db",
        help="migrate and check the store's database",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")

    def command(name: str, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.add_argument(
            "--url", required=True, help="store URL: sqlite:///path/xgate.db or postgresql://..."
        )
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    p = command("upgrade", "migrate the database up")
    p.add_argument("revision", nargs="?", default="head", help="target revision (default head)")
    p.set_defaults(run=_guarded(_upgrade))
    p = command("downgrade", "migrate the database down")
    p.add_argument("revision", help='target revision ("base": drop every store table)')
    p.set_defaults(run=_guarded(_downgrade))
    command("current", "print the database's revision").set_defaults(run=_guarded(_current))
    command("check", "compare the models with the database schema").set_defaults(
        run=_guarded(_check)
    )


def _guarded(action: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if args.json and not args.verbose:
            # Alembic narrates each step at INFO; a script reads the one JSON object.
            logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            return action(args)
        except XgateError as exc:
            if args.json:
                message = f"xgate db {args.db_command}: {exc}"
                print(json.dumps({"error": {"message": message}}), file=sys.stderr)
            else:
                log.error("xgate db %s: %s", args.db_command, exc)
            return EXIT_ERROR

    return run


def _print(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data) if args.json else text)


def _upgrade(args: argparse.Namespace) -> int:
    before = migrate.current(args.url) if args.json else None
    migrate.upgrade(args.url, args.revision)
    after = migrate.current(args.url)
    _print(
        args,
        {"revision_before": before, "revision_after": after},
        f"database at revision {after}",
    )
    return EXIT_OK


def _downgrade(args: argparse.Namespace) -> int:
    before = migrate.current(args.url) if args.json else None
    migrate.downgrade(args.url, args.revision)
    after = migrate.current(args.url)
    _print(
        args,
        {"revision_before": before, "revision_after": after},
        f"database at revision {after or 'none'}",
    )
    return EXIT_OK


def _current(args: argparse.Namespace) -> int:
    revision = migrate.current(args.url)
    _print(args, {"revision": revision}, revision or "none")
    return EXIT_OK


def _check(args: argparse.Namespace) -> int:
    differences = migrate.check_models_match(args.url)
    revision = migrate.current(args.url)
    if args.json:
        _print(
            args, {"revision": revision, "match": not differences, "differences": differences}, ""
        )
        return EXIT_DIFFERENT if differences else EXIT_OK
    for line in differences:
        print(line)
    if differences:
        log.error("models and database differ in %d place(s)", len(differences))
        return EXIT_DIFFERENT
    print(f"models match the database (revision {revision or 'none'})")
    return EXIT_OK
