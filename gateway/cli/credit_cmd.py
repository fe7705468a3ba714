"""`xgate credit ...`: credit attestations through the gateway API, on the SDK, and a score
recomputed from the chain.

    xgate credit score SUBJECT [--block N] [--config xgate.toml] [--json]
                                             the subject's score, grade and features at block
                                             N (default: the latest final one), recomputed
                                             from the consortium chain's Receivable events
                                             (no API; see gateway/cli/credit_score_cmd.py)
    xgate credit attest SUBJECT --issuer ADDRESS --reader HEX [--reader HEX ...] [--block N]
                        [--valid-days D] [--no-publish] [--config xgate.toml]
                                             the subject's score at block N (default: the
                                             latest final one), as `score` computes it,
                                             issued like `issue`: score and grade (a thin
                                             file: 0 and insufficient-history), the canonical
                                             score report sealed to the readers; the unsigned
                                             attest and publish transactions for the
                                             issuer's wallet (docs/credit-scoring.md §10)
    xgate credit show SUBJECT                the subject's attestation on the registry and on
                                             every mirror chain, with the stored report's hash
    xgate credit report SUBJECT --reader-key-file PATH
                                             the full report, opened with the reader's X25519
                                             private key (32 bytes of hex) and checked against
                                             the reportHash read on chain
        [--recompute [--config xgate.toml]]  and, a score report, recomputed from the
                                             consortium chain at its block: it must be the
                                             same bytes, and the registry's score and grade
                                             what it attests
    xgate credit issue --body FILE|-         issue an attestation (AttestationRequest JSON;
                                             an issuer key, signed): the unsigned attest and
                                             publish transactions for the issuer's wallet
    xgate credit publish SUBJECT --sender ADDRESS [--chain ID ...]
    xgate credit revoke SUBJECT --sender ADDRESS
                                             the unsigned publish / revoke transactions

Options of every command on the API (all but `score`) (--api, --token from $XGATE_API_TOKEN, --signing-key-file,
--json) and exit codes: see `gateway/cli/remote.py` (0 done, 1 refused, 2 usage, 3 gateway
unreachable or failing); `credit report` exits 1 too when the report does not open with the
key or does not match the on-chain hash, and with `--recompute` when it is not a score report
of a known model or is not what the chain gives at its block (a forged or stale report); the
chain reads of `attest` and `--recompute` exit as `score` does (1 block not final, 2 config,
3 node unreachable).
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils.address import is_hex_address, to_canonical_address, to_checksum_address

from adapters.types import Address
from gateway.api.credit_models import (
    AttestationRequest,
    ChainCredit,
    CreditTransactions,
    CreditView,
    PublicationRequest,
    RevocationRequest,
)
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.cli.credit_score_cmd import (
    add_score_command,
    score_or_exit,
    score_text,
    scoring_config,
)
from gateway.cli.remote import (
    EXIT_FAILING,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Output,
    add_client_arguments,
    read_body,
    run_remote,
)
from gateway.domain.credit_attestation import (
    NotAScoreReport,
    attested_fields,
    check_recomputed,
    score_report_ref,
)
from gateway.domain.credit_reports import CreditReportError
from gateway.sdk import XgateClient

__all__ = ["DEFAULT_VALID_DAYS", "register"]

DEFAULT_VALID_DAYS = 90
DAY = 86_400


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "credit",
        help="credit attestations through the gateway API",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="credit_command", required=True, metavar="CMD")

    add_score_command(sub)

    p = sub.add_parser("attest", help="score a subject from the chain and issue it (signed)")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT", help="the scored account (checksummed)")
    p.add_argument(
        "--issuer",
        required=True,
        metavar="ADDRESS",
        help="the issuer's account (ISSUER_ROLE; the API key's chain account)",
    )
    p.add_argument(
        "--reader",
        required=True,
        action="append",
        dest="readers",
        metavar="HEX",
        help="a reader's X25519 public key (32 bytes of hex); repeat for each reader",
    )
    p.add_argument("--block", type=int, default=None, metavar="N")
    p.add_argument(
        "--valid-days",
        type=int,
        default=DEFAULT_VALID_DAYS,
        metavar="D",
        help=f"valid D days from the consortium's latest final block (default {DEFAULT_VALID_DAYS})",
    )
    p.add_argument("--no-publish", action="store_true", help="no publish transactions")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the consortium node")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit attest", _attest))

    p = sub.add_parser("show", help="a subject's attestation on every chain")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT", help="the rated account (checksummed)")
    p.set_defaults(run=lambda args: run_remote(args, "xgate credit show", _show))

    p = sub.add_parser("report", help="the subject's report, opened and checked")
    add_client_arguments(p)
    p.add_argument("subject", metavar="SUBJECT")
    p.add_argument("--reader-key-file", type=Path, required=True, metavar="PATH")
    p.add_argument(
        "--recompute",
        action="store_true",
        help="recompute a score report from the consortium chain at its block",
    )
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the consortium node")
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
    if args.recompute:
        refused = await _recompute(client, out, args, report)
        if refused is not None:
            return refused
    result: dict[str, Any] = {"subject": args.subject, "report": report}
    if args.recompute:
        result["recomputed"] = True
    out.result(result, json.dumps(report, indent=2))
    out.note("opened and checked against the on-chain reportHash")
    if args.recompute:
        out.note(
            f"recomputed from the consortium chain at block {report['block']} with "
            f"{report['model']}: the same report, and the registry's score and grade are its"
        )
    return EXIT_OK


async def _recompute(
    client: XgateClient, out: Output, args: argparse.Namespace, report: dict[str, Any]
) -> int | None:
    """``report`` recomputed from the chain at its block and compared (docs/credit-scoring.md
    §10); None when it matches, else the exit code (said through ``out``)."""
    try:
        subject = Address(to_canonical_address(args.subject))
    except ValueError:
        out.error(f"not an address: {args.subject!r}")
        return EXIT_USAGE
    try:
        ref = score_report_ref(report, subject)
    except NotAScoreReport as exc:
        out.error(f"cannot recompute: {exc.message}", exc.to_dict())
        return EXIT_REFUSED
    except CreditReportError as exc:
        message = f"the report does not match the chain (forged or stale): {exc.message}"
        out.error(message, {**exc.to_dict(), "message": message})
        return EXIT_REFUSED
    cfg = scoring_config(args.config, out.error)
    if cfg is None:
        return EXIT_USAGE
    scored = await score_or_exit(cfg, args.config, ref.subject, ref.block, out.error)
    if isinstance(scored, int):
        return scored
    recomputed = scored.score
    state = (await client.credit(args.subject)).registry.state
    if state is None or state.report_hash is None:
        out.error("the registry's attestation cannot be read now")
        return EXIT_FAILING
    try:
        check_recomputed(
            report,
            recomputed,
            attested_score=state.score,
            attested_grade=state.grade,
            attested_hash=bytes(state.report_hash),
        )
    except CreditReportError as exc:
        message = f"the report does not match the chain (forged or stale): {exc.message}"
        out.error(message, {**exc.to_dict(), "message": message})
        return EXIT_REFUSED
    return None


async def _attest(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    """The subject's score from the chain, issued through the API like ``issue``."""
    if not is_hex_address(args.subject):
        out.error(f"not an address: {args.subject!r} (0x and 40 hex digits)")
        return EXIT_USAGE
    if args.block is not None and args.block < 0:
        out.error("--block is a block number (0 or more)")
        return EXIT_USAGE
    if args.valid_days <= 0:
        out.error("--valid-days is a number of days (1 or more)")
        return EXIT_USAGE
    cfg = scoring_config(args.config, out.error)
    if cfg is None:
        return EXIT_USAGE
    subject = Address(bytes.fromhex(args.subject[2:]))
    scored = await score_or_exit(cfg, args.config, subject, args.block, out.error)
    if isinstance(scored, int):
        return scored
    score, chain_id = scored.score, scored.chain_id
    value, grade = attested_fields(score)
    valid_until = datetime.fromtimestamp(scored.final_time + args.valid_days * DAY, UTC)
    body = AttestationRequest.model_validate_json(
        json.dumps(
            {
                "subject": to_checksum_address(args.subject),
                "issuer": args.issuer,
                "score": value,
                "grade": grade,
                "valid_until": valid_until.isoformat(),
                "report": score.report(),
                "readers": args.readers,
                "publish_to": [] if args.no_publish else None,
            }
        )
    )
    out.note(score_text(score, chain=f"{cfg.hub} (chain {chain_id})"))
    return await _issue_request(client, out, body)


async def _issue(client: XgateClient, out: Output, args: argparse.Namespace) -> int:
    body = read_body(out, args.body, AttestationRequest)
    if body is None:
        return EXIT_USAGE
    return await _issue_request(client, out, body)


async def _issue_request(client: XgateClient, out: Output, body: AttestationRequest) -> int:
    """Issue ``body`` (``issue`` and ``attest``): the attestation id, the report's hash and
    the transactions for the issuer's wallet, in order."""
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
