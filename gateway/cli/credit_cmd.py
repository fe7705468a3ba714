"""`xgate credit ...`: credit attestations through the gateway API, on the SDK, and a score
recomputed from the chain.

    xgate credit score SUBJECT [--block N] [--config xgate.toml] [--json]
                                             the subject's score, grade and features at block
                                             N (default: the latest final one), recomputed
                                             from the consortium chain's Receivable events
                                             (no API; see gateway/cli/credit_score_cmd.py)
    xgate credit show SUBJECT                the subject's attestation on the registry and on
                                             every mirror chain, with the stored report's hash
    xgate credit report SUBJECT --reader-key-file PATH
                                             the full report, opened with the reader's X25519
                                             private key (32 bytes of hex) and checked against
                                             the reportHash read on chain
    xgate credit issue --body FILE|-         issue an attestation (AttestationRequest JSON;
                                             an issuer key, signed): the unsigned attest and
                                             publish transactions for the issuer's wallet
    xgate credit publish SUBJECT --sender ADDRESS [--chain ID ...]
    xgate credit revoke SUBJECT --sender ADDRESS
                                             the unsigned publish / revoke transactions

Options of every command on the API (all but `score`) (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing); `credit report` exits 1 too when the report does not open with the
key or does not match the on-chain hash.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from eth_utils.address import to_checksum_address

from gateway.api.credit_models import (
    AttestationRequest,
    ChainCredit,
    CreditTransactions,
    CreditView,
    PublicationRequest,
    RevocationRequest,
)
from gateway.cli.credit_score_cmd import add_score_command
from gateway.cli.remote import (
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Output,
    add_client_arguments,
    read_body,
    run_remote,
)
from gateway.domain.credit_reports import CreditReportError
from gateway.sdk import XgateClient

__all__ = ["register"]


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "credit",
        help="credit attestations through the gateway API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="credit_command", required=True, metavar="CMD")

    add_score_command(sub)

    p = sub.add_parser("show", help="a subject's attestation on every chain")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT", help="the rated account (checksummed)")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit show", _show))

    p = sub.add_parser("report", help="the subject's report, opened and checked")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--reader-key-file", type=Path, required=True, metavar="PATH")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit report", _report))

    p = sub.add_parser("issue", help="issue an attestation (issuer, signed)")
    add_client_arguments(p)
    p.add_argument("--body", required=True, metavar="FILE", help="AttestationRequest JSON")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit issue", _issue))

    p = sub.add_parser("publish", help="publish the subject's state to mirror chains")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--sender", required=True, metavar="ADDRESS")
    p.add_argument("--chain", type=int, action="append", dest="chains", metavar="ID")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit publish", _publish))

    p = sub.add_parser("revoke", help="revoke the subject's attestation")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--sender", required=True, metavar="ADDRESS")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit revoke", _revoke))


def _chain_text(c: ChainCredit) -> str:
    where = f"  {c.chain} ({c.chain_id})"
    if c.state is None:
        return f"{where}: unavailable ({c.detail or 'no answer'})"
    s = c.state
    sync = "" if c.in_sync is None else ("  in sync" if c.in_sync else "  NOT in sync")
    figures = "" if s.status.value == "none" else f" score {s.score} grade {s.grade}"
    return f"{where}: {s.status.value} v{s.version}{figures}{sync}"


def _credit_text(v: CreditView) -> str:
    lines = [f"credit of {to_checksum_address(v.subject)}", _chain_text(v.registry)]
    lines += [_chain_text(m) for m in v.mirrors]
    if v.report is not None:
        lines.append(
            f"  report 0x{v.report.report_hash.hex()} sealed to {v.report.readers} reader(s)"
        )
    return "\n".join(lines)


def _txs_text(t: CreditTransactions) -> str:
    return "\n".join(
        f"{i}. {tx.description} (chain {tx.chain_id}, to {to_checksum_address(tx.to)}, "
        f"data 0x{tx.data.hex()})"
        for i, tx in enumerate(t.transactions, 1)
    )


async def _show(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    view = await client.credit(args.subject)
    out.result(view, _credit_text(view))
    return EXIT_OK


async def _report(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    try:
        key = bytes.fromhex(args.reader_key_file.read_text().strip().removeprefix("0x"))
    except (OSError, ValueError) as exc:
        out.error(f"cannot use the reader key {args.reader_key_file}: {type(exc).__name__}")
        return EXIT_USAGE
    if len(key) != 32:
        out.error("a reader's private key is 32 bytes of hex (X25519)")
        return EXIT_USAGE
    try:
        report = await client.credit_report(args.subject, key)
    except CreditReportError as exc:
        out.error(f"the report cannot be trusted: {exc}")
        return EXIT_REFUSED
    out.result({"subject": args.subject, "report": report}, json.dumps(report, indent=2))
    out.note("opened and checked against the on-chain reportHash")
    return EXIT_OK


async def _issue(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    body = read_body(out, args.body, AttestationRequest)
    if body is None:
        return EXIT_USAGE
    issued = await client.issue_attestation(body)
    lines = [
        f"attestation 0x{issued.attestation_id.hex()}, report 0x{issued.report_hash.hex()}",
        *(
            f"{i}. {tx.description} (chain {tx.chain_id})"
            for i, tx in enumerate(issued.transactions, 1)
        ),
    ]
    out.result(issued, "\n".join(lines))
    return EXIT_OK


async def _publish(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    request = PublicationRequest.model_validate_json(
        json.dumps({"sender": args.sender, "chain_ids": args.chains})
    )
    txs = await client.publish_credit(args.subject, request)
    out.result(txs, _txs_text(txs))
    return EXIT_OK


async def _revoke(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    request = RevocationRequest.model_validate_json(json.dumps({"sender": args.sender}))
    txs = await client.revoke_credit(args.subject, request)
    out.result(txs, _txs_text(txs))
    return EXIT_OK
