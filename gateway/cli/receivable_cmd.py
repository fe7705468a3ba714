"""`xgate receivable ...`: receivables through the gateway API, and disclosures of a private
copy's terms built, sealed, opened and checked on this side (the salt and the keys never go to
the gateway; docs/api.md §10).

    xgate receivable show CHAIN TOKEN        the receivable on chain CHAIN (id): on the hub the
                                             home token (terms, state, payments, where it is
                                             locked), on a public chain its copy (private or
                                             not, terms or commitment, payments)
    xgate receivable disclose TOKEN --salt HEX --to HEX [--chain ID] [--out FILE]
                                             the disclosure of home receivable TOKEN with the
                                             lock's salt (32 bytes of hex), checked against the
                                             commitment of its copy on public chain ID (default:
                                             the chain the vault holds it for) before it is
                                             sealed to the recipient's X25519 public key (32
                                             bytes of hex): the box's hex, or written to FILE
    xgate receivable open BOX --key-file PATH [--chain ID]
                                             BOX (a file, or the box's hex) opened with the
                                             X25519 private key in PATH (32 bytes of hex) and
                                             checked against the copy's commitment on chain ID
                                             (default: the chain the vault holds it for): the
                                             terms, and whether they hold

Options of every command on the API (--api, --token from $XGATE_API_TOKEN, --json) and exit
codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway unreachable or
failing). `disclose` exits 1 when the disclosure would not hold (nothing is sealed); `open`
exits 1 when the box does not open with the key or its terms do not hold for the copy on chain.
Keys and salts are never printed.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from gateway.api.receivable_models import ReceivableTerms, ReceivableView
from gateway.cli.remote import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Output,
    add_client_arguments,
    run_remote,
)
from gateway.domain.disclosure import DisclosureError, seal_disclosure
from gateway.sdk import DisclosureRefused, XgateClient

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "receivable",
        help="receivables and disclosures of private terms through the gateway API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="receivable_command", required=True, metavar="CMD")

    p = sub.add_parser("show", help="a receivable on the hub or a public chain")
    add_client_arguments(p)
    p.add_argument("chain", type=int, metavar="CHAIN", help="the chain id")
    p.add_argument("token_id", type=int, metavar="TOKEN", help="the token id")
    p.set_defaults(run=lambda args: run_remote(args, "xgate receivable show", _show))

    p = sub.add_parser("disclose", help="seal a checked disclosure of private terms")
    add_client_arguments(p)
    p.add_argument("token_id", type=int, metavar="TOKEN", help="the home receivable's token id")
    p.add_argument("--salt", required=True, metavar="HEX", help="the lock's salt (32 bytes)")
    p.add_argument("--to", required=True, metavar="HEX", help="the recipient's X25519 public key")
    p.add_argument("--chain", type=int, default=None, metavar="ID", help="the public chain")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="write the box here")
    p.set_defaults(run=lambda args: run_remote(args, "xgate receivable disclose", _disclose))

    p = sub.add_parser("open", help="open a sealed disclosure and check it on chain")
    add_client_arguments(p)
    p.add_argument("box", metavar="BOX", help="a file holding the box, or its hex")
    p.add_argument("--key-file", type=Path, required=True, metavar="PATH")
    p.add_argument("--chain", type=int, default=None, metavar="ID", help="the public chain")
    p.set_defaults(run=lambda args: run_remote(args, "xgate receivable open", _open))


def _hex32(text: str) -> bytes | None:
    try:
        value = bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        return None
    return value if len(value) == 32 else None


def _terms_text(t: ReceivableTerms, indent: str = "  ") -> list[str]:
    return [
        f"{indent}debtor {to_checksum_address(t.debtor)}",
        f"{indent}creditor {to_checksum_address(t.creditor)}",
        f"{indent}face value {t.face_value} (minor units of {t.currency}), due {t.due_date}",
        f"{indent}document 0x{t.document_hash.hex()}",
    ]


def _view_text(v: ReceivableView) -> str:
    owner = "none (split)" if v.owner is None else to_checksum_address(v.owner)
    lines = [
        f"receivable {v.token_id} on {v.chain} ({v.chain_id}) at block {v.block}: "
        f"{to_checksum_address(v.contract)}",
        f"  owner {owner}",
    ]
    if v.home is not None:
        h = v.home
        lines.append(
            f"  {h.state.value}: paid {h.paid}, outstanding {h.outstanding}, "
            f"{h.days_past_due} days past due"
        )
        if h.terms is not None:
            lines += _terms_text(h.terms)
        if h.parent_id is not None:
            lines.append(f"  split from {h.parent_id}")
        lines += [
            f"  financed by {to_checksum_address(f.financier)}: advance {f.advance} at "
            f"{f.discount_bps} bps ({f.at.isoformat()})"
            for f in h.financing
        ]
        if h.locked_to_chain_id is not None:
            lines.append(f"  locked in the vault for chain {h.locked_to_chain_id}")
    if v.wrapped is not None:
        w = v.wrapped
        lines.append(
            f"  copy of {to_checksum_address(w.home_receivable)} on chain {w.home_chain_id}; "
            f"paid {w.paid}{', settled' if w.settled else ''}"
        )
        if w.terms is not None:
            lines += _terms_text(w.terms)
        if w.commitment is not None:
            lines.append(f"  private: commitment 0x{w.commitment.hex()}")
    return "\n".join(lines)


async def _show(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    view = await client.receivable(args.chain, args.token_id)
    out.result(view, _view_text(view))
    return EXIT_OK


async def _disclose(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    salt, recipient = _hex32(args.salt), _hex32(args.to)
    if salt is None or not any(salt):
        out.error("--salt is the lock's salt: 32 bytes of hex, not all zero")
        return EXIT_USAGE
    if recipient is None:
        out.error("--to is the recipient's X25519 public key: 32 bytes of hex")
        return EXIT_USAGE
    try:
        disclosure, chain_id = await client.disclose(args.token_id, salt, chain_id=args.chain)
        box = seal_disclosure(disclosure, recipient)
    except (DisclosureRefused, DisclosureError) as exc:
        out.error(f"nothing sealed: {exc.message}", _error(exc))
        return EXIT_REFUSED
    result: dict[str, Any] = {"token_id": str(args.token_id), "chain_id": chain_id}
    if args.out is not None:
        try:
            args.out.write_text("0x" + box.hex() + "\n")
        except OSError as exc:
            out.error(f"cannot write {args.out}: {exc.strerror}")
            return EXIT_USAGE
        result["out"] = str(args.out)
        out.result(result, f"sealed disclosure written to {args.out}")
    else:
        result["sealed"] = "0x" + box.hex()
        out.result(result, result["sealed"])
    out.note(f"checked against the commitment of the copy on chain {chain_id}")
    return EXIT_OK


def _error(exc: DisclosureRefused | DisclosureError) -> dict[str, Any]:
    data = exc.to_dict()
    data.pop("salt", None)
    return data


_HEX = re.compile(r"^(0x)?([0-9a-fA-F]{2})+$")


def _box(source: str) -> bytes | None:
    """BOX: the box's hex, else a file holding it."""
    text = source if _HEX.match(source.strip()) else Path(source).read_text()
    try:
        return bytes.fromhex(text.strip().removeprefix("0x"))
    except ValueError:
        return None


async def _open(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    try:
        key = _hex32(args.key_file.read_text())
    except OSError as exc:
        out.error(f"cannot read the key file {args.key_file}: {type(exc).__name__}")
        return EXIT_USAGE
    if key is None:
        out.error("the key file holds an X25519 private key: 32 bytes of hex")
        return EXIT_USAGE
    try:
        box = _box(args.box)
    except OSError as exc:
        out.error(f"cannot read {args.box}: {exc.strerror}")
        return EXIT_USAGE
    if box is None:
        out.error("BOX is a file holding the sealed box's hex, or that hex")
        return EXIT_USAGE
    try:
        opened = await client.open_sealed_disclosure(box, key, chain_id=args.chain)
    except (DisclosureRefused, DisclosureError) as exc:
        out.error(f"the disclosure cannot be trusted: {exc.message}", _error(exc))
        return EXIT_REFUSED
    d = opened.disclosure
    terms = ReceivableTerms.of(d.terms)
    result: dict[str, Any] = {
        "valid": opened.valid,
        "reason": None if opened.reason is None else opened.reason.value,
        "chain_id": opened.chain_id,
        "token_id": str(d.token_id),
        "home_chain_id": d.home_chain_id,
        "home_receivable": to_checksum_address(d.receivable),
        "terms": terms.model_dump(mode="json"),
        "commitment": None if opened.commitment is None else "0x" + opened.commitment.hex(),
    }
    verdict = "VALID" if opened.valid else f"INVALID ({result['reason']})"
    lines = [
        f"disclosure of receivable {d.token_id} of {to_checksum_address(d.receivable)} "
        f"(chain {d.home_chain_id}): {verdict} for the copy on chain {opened.chain_id}",
        *_terms_text(terms),
    ]
    out.result(result, "\n".join(lines))
    return EXIT_OK if opened.valid else EXIT_REFUSED
