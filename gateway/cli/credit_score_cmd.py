"""`xgate credit score SUBJECT [--block N] [--config xgate.toml] [--json]`: a subject's credit
score recomputed from the consortium chain (docs/credit-scoring.md "Recomputing a score").

Reads the ``Receivable`` contract of the config's consortium chain
(``[chains.NAME.contracts] receivable``) from its ``start_height`` up to block N (default: the
chain's latest final block), folds its lifecycle events into records
(``gateway.domain.receivable_ledger``) and scores the subject with the model
(``gateway.domain.credit_score``) as of that block's timestamp. Needs a node, not the gateway:
anyone with chain access gets the same score, features and report hash.

Prints the score, the grade, every feature (raw, normalized, points), the model version, the
block and its time, and the report's sha256; ``--json`` prints one line,
``{"report":<the canonical report, byte for byte>,"sha256":"0x..."}``.

Exit codes as the other commands': 0 done; 1 refused (the block is not final yet, the chain's
events do not fit the contract); 2 usage (the config, no receivable address, a bad subject);
3 the node is unreachable or failing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils.address import is_hex_address, to_checksum_address

from adapters.contracts import ReceivableView
from adapters.errors import ConfigError, RetryableError, XgateError
from adapters.registry import build_adapter
from adapters.types import Address, Height
from gateway.cli.config_cmd import DEFAULT_CONFIG
from gateway.cli.remote import EXIT_FAILING, EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from gateway.config import XgateConfig, load_config
from gateway.domain.credit_score import CreditScore, score_subject
from gateway.domain.receivable_ledger import EVENT_NAMES, LedgerEvent, fold_receivable_events

__all__ = [
    "ErrorSink",
    "ScoreRefused",
    "Scored",
    "add_score_command",
    "compute_score",
    "score_or_exit",
    "score_text",
    "scoring_config",
]

COMMAND = "xgate credit score"


class ScoreRefused(Exception):
    """A request the chain cannot answer as asked (exit 1)."""


ErrorSink = Callable[[str, "dict[str, Any] | None"], None]
"""Where a scoring failure is said: (message, facts for ``--json``)."""


def add_score_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "score",
        help="recompute a subject's score from the consortium chain (no API needed)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("subject", metavar="SUBJECT", help="the scored account (0x and 40 hex digits)")
    p.add_argument(
        "--block",
        type=int,
        default=None,
        metavar="N",
        help="score as of block N (default: the consortium's latest final block)",
    )
    p.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG, help=f"xgate.toml (default {DEFAULT_CONFIG})"
    )
    p.add_argument("--json", action="store_true", help="the canonical report and its sha256")
    p.set_defaults(run=run_score)


def _error(args: argparse.Namespace, message: str, data: dict[str, Any] | None = None) -> None:
    if args.json:
        print(json.dumps({"error": {**(data or {}), "message": message}}), file=sys.stderr)
    else:
        print(f"{COMMAND}: {message}", file=sys.stderr)


def run_score(args: argparse.Namespace) -> int:
    if not is_hex_address(args.subject):
        _error(args, f"not an address: {args.subject!r} (0x and 40 hex digits)")
        return EXIT_USAGE
    if args.block is not None and args.block < 0:
        _error(args, "--block is a block number (0 or more)")
        return EXIT_USAGE

    def error(message: str, data: dict[str, Any] | None = None) -> None:
        _error(args, message, data)

    cfg = scoring_config(args.config, error)
    if cfg is None:
        return EXIT_USAGE
    subject = Address(bytes.fromhex(args.subject[2:]))
    try:
        scored = asyncio.run(score_or_exit(cfg, args.config, subject, args.block, error))
    except KeyboardInterrupt:
        return 130
    if isinstance(scored, int):
        return scored
    score, chain_id = scored.score, scored.chain_id
    canonical = score.canonical()
    if args.json:
        digest = hashlib.sha256(canonical).hexdigest()
        line = b'{"report":' + canonical + b',"sha256":"0x' + digest.encode() + b'"}'
        print(line.decode(), flush=True)
    else:
        print(score_text(score, chain=f"{cfg.hub} (chain {chain_id})"), flush=True)
    return EXIT_OK


def scoring_config(path: Path, error: ErrorSink) -> XgateConfig | None:
    """The config at ``path`` when it names the consortium's Receivable; None (said through
    ``error``) otherwise: exit 2."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        error(exc.message, None)
        return None
    hub = cfg.hub
    if cfg.chains[hub].contracts.receivable is None:
        error(
            f"{path}: chains.{hub}.contracts.receivable: no address; set the "
            "Receivable contract's address on the consortium chain",
            None,
        )
        return None
    return cfg


async def score_or_exit(
    cfg: XgateConfig, path: Path, subject: Address, block: int | None, error: ErrorSink
) -> Scored | int:
    """``compute_score``, or the exit code of its failure (said through ``error``): 1 the
    block is not final or the events do not fit the contract, 2 the node serves another
    chain, 3 the node is unreachable or failing. Shared by ``score``, ``attest`` and
    ``report --recompute``."""
    hub = cfg.hub
    try:
        return await compute_score(cfg, subject, block)
    except ScoreRefused as exc:
        error(str(exc), None)
        return EXIT_REFUSED
    except ConfigError as exc:  # e.g. the node serves another chain than the config says
        error(f"{path}: chains.{hub}: {exc}", exc.to_dict())
        return EXIT_USAGE
    except RetryableError as exc:
        error(f"the {hub} node is unreachable or failing: {exc}", exc.to_dict())
        return EXIT_FAILING
    except XgateError as exc:
        error(f"cannot score from the {hub} chain: {exc}", exc.to_dict())
        return EXIT_REFUSED


@dataclass(frozen=True, slots=True)
class Scored:
    """A score computed from the chain, the consortium's chain id, and the time of its latest
    final block (an attestation's validity counts from it: a report of an earlier block
    attested today is valid as long as one of today's)."""

    score: CreditScore
    chain_id: int
    final_time: int


async def compute_score(cfg: XgateConfig, subject: Address, block: int | None) -> Scored:
    """The subject's score at ``block`` (None: the consortium's latest final block), from the
    Receivable events up to it."""
    hub = cfg.hub
    chain = cfg.chains[hub]
    address = chain.contracts.receivable
    assert address is not None
    async with build_adapter(chain.adapter_config(hub)) as adapter:
        final = await adapter.height(chain.finality_policy)
        if block is None:
            block = final
        elif block > final:
            raise ScoreRefused(
                f"block {block} is not a final block of {hub} yet (its latest final block is "
                f"{final})"
            )
        height = Height(block)
        view = ReceivableView(
            adapter, Address(address), EVENT_NAMES, start_height=chain.start_height
        )
        logs = await view.lifecycle(height)
        as_of = (await adapter.header(height)).timestamp
        final_time = as_of if height == final else (await adapter.header(final)).timestamp
    events = [
        LedgerEvent(log.name, log.args, log.block_number, log.log_index, log.timestamp)
        for log in logs
    ]
    records = fold_receivable_events(events)
    score = score_subject(subject, records, block=height, as_of=as_of)
    return Scored(score, chain.chain_id, int(final_time))


def score_text(score: CreditScore, *, chain: str) -> str:
    """The score for a person: figures, every feature, the model, the block and the hash."""
    when = datetime.fromtimestamp(score.as_of, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [
        f"credit score of {to_checksum_address(score.subject)}",
        f"  model   {score.model}",
        f"  block   {score.block} on {chain}, time {when} ({score.as_of})",
    ]
    if score.score is None:
        lines.append(f"  grade   {score.grade} (no score: {'; '.join(score.thin_file)})")
    else:
        lines.append(f"  score   {score.score} of 1000, grade {score.grade}")
    lines.append(f"  {'feature':<34}{'raw':>10}{'normalized':>12}{'points':>8}")
    for f in score.features:
        raw = "-" if f.raw is None else str(f.raw)
        lines.append(f"  {f.name:<34}{raw:>10}{f.normalized:>12}{f.points:>8}")
    paid = ", ".join(f"{c} {a}" for c, a in score.volume_paid) or "none"
    lines.append(f"  paid as debtor: {paid}")
    lines.append(
        f"  left out as self-dealing: {score.excluded_circular} circular, "
        f"{score.excluded_closed} closed"
    )
    lines.append(f"  report sha256 0x{score.report_hash().hex()}")
    return "\n".join(lines)
