"""Gateway API benchmarks, one real ``xgate api`` process over real HTTP:
``python -m bench.api [--quick] [--json] [--concurrency N] [--seconds S]``.

For each store, SQLite (a file) and PostgreSQL (a scratch database, dropped at the end):

1. the store is migrated and ``messages`` messages are recorded through the ``Store`` facade,
   as the relay service's watcher records them (``record_scan``, a consortium -> public
   message each, in scans of 512, 8 a block), with API keys of the ``read`` and ``dapp`` scopes (rate
   limits far above the load: the benchmark measures serving, not the limiter);
2. ``xgate api --no-webhooks`` serves it on a loopback port (default configuration: INFO
   logging, so each request's access line is written, as in production);
3. **status reads**: ``concurrency`` aiohttp clients (one connection each, kept alive) read
   ``GET /v1/transfers/{message id}`` of random recorded messages for ``seconds``, after a
   warm-up; reads/s over the whole run, p50 and p99 of each request's latency (from sending it
   to reading its whole body), and the API process's CPU time per read;
4. **transfer registrations**: ``POST /v1/transfers/track`` (``dapp``) of transactions sent
   on a real public chain (anvil, the chain's ``rpc_urls`` in the API's configuration: the
   operation asks the node whether it knows the transaction, then records the tracking id),
   each with an ``Idempotency-Key`` as the SDK sends; registrations/s and p99 with the same
   concurrency. Without that operation or without anvil (the figure says which) it is
   ``POST /v1/webhooks`` instead, another ``dapp`` POST that writes the store (at most 20
   per key: one key per 20);
5. **the ceiling**: the same client reads a constant answer of the same size from a bare
   aiohttp process (``bench._bare_http``: no store, validation or access log); the API's
   reads/s as a share of it shows what the API's own work costs on this machine;
6. **the same read served by the store directly**: ``Store.message`` and ``Store.history``
   (what the operation reads) from ``concurrency`` tasks in this process, on the same
   database; its reads/s over the API's is the API's overhead as a ratio.

Target (issue 8): >= 3,000 reads/s with p99 <= 25 ms on SQLite. The client and the server
share this machine's cores, so the figures are a floor for a server with cores of its own.

``--quick`` runs every part with small counts (a smoke test of the script).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import tomli_w

from adapters.types import Address, ChainId, Hash32, Height, TxHash
from bench._relay import ScratchDb, cpu_s, percentile
from bench._table import emit, print_table, progress
from devnet.anvil import anvil_available, start_anvil
from gateway.domain.apikeys import Scope
from gateway.domain.messages import Message, MessageId, Nonce
from gateway.domain.status import Checkpoint, NewMessage
from gateway.store import Store
from harness.services import XGATE, free_port, wait_until

HUB = 20250
PUBLIC = 31337
STREAM = "MessageSent"
MESSAGES_PER_BLOCK = 8
SCAN_BATCH = 64 * MESSAGES_PER_BLOCK  # whole blocks: a scan ends where its last block does
WEBHOOKS_PER_KEY = 20  # docs/api.md §3
TARGET_READS_PER_S = 3_000.0
TARGET_P99_MS = 25.0
TRACK = ("post", "/v1/transfers/track")
STORES = ("sqlite", "postgresql")
RATE_PER_S, BURST = 1e6, 1_000_000  # far above the load: the limiter never refuses


@dataclass(frozen=True)
class Sizes:
    messages: int
    seconds: float
    warmup_s: float
    registrations: int
    concurrency: int

    @classmethod
    def of(cls, quick: bool, concurrency: int | None, seconds: float | None) -> Sizes:
        base = cls(200, 1.0, 0.3, 40, 8) if quick else cls(10_000, 10.0, 2.0, 1_000, 16)
        return cls(
            base.messages,
            seconds if seconds is not None else base.seconds,
            base.warmup_s,
            base.registrations,
            concurrency if concurrency is not None else base.concurrency,
        )


# -- the store ----------------------------------------------------------------------------------


def _h32(*parts: object) -> bytes:
    return hashlib.sha256(repr(parts).encode()).digest()


def _message(nonce: int) -> NewMessage:
    block = 10 + nonce // MESSAGES_PER_BLOCK
    return NewMessage(
        message=Message(
            src_chain_id=ChainId(HUB),
            src_endpoint=Address(b"\x11" * 20),
            nonce=Nonce(nonce),
            dst_chain_id=ChainId(PUBLIC),
            dst_endpoint=Address(b"\x22" * 20),
            sender=Address(b"\x33" * 20),
            receiver=Address(b"\x44" * 20),
            payload=b"bench payload %d" % nonce,
        ),
        src_block_number=Height(block),
        src_block_hash=Hash32(_h32("block", block)),
        src_tx_hash=TxHash(_h32("tx", nonce)),
        src_tx_index=0,
        block_log_index=nonce % MESSAGES_PER_BLOCK,
        receipt_log_index=0,
        tracking_id=None,
    )


@dataclass(frozen=True)
class Prepared:
    ids: list[str]  # 0x message ids
    read_token: str
    dapp_tokens: list[str]


async def prepare(url: str, sizes: Sizes) -> Prepared:
    """Migrate the store at ``url``, record the messages and make the keys."""
    store = await Store.open(url, migrate=True)
    try:
        prev: Checkpoint | None = None
        ids: list[str] = []
        for start in range(0, sizes.messages, SCAN_BATCH):
            batch = [_message(n) for n in range(start, min(start + SCAN_BATCH, sizes.messages))]
            top = max(m.src_block_number for m in batch)
            new = Checkpoint(ChainId(HUB), STREAM, top, Hash32(_h32("block", top)))
            await store.record_scan(ChainId(HUB), STREAM, prev, new, batch)
            prev = new
            ids += ["0x" + m.id.hex() for m in batch]
        read = await store.create_api_key(
            "bench-read", [Scope.READ], rate_per_s=RATE_PER_S, burst=BURST
        )
        dapp = [
            (
                await store.create_api_key(
                    f"bench-dapp-{i}", [Scope.DAPP], rate_per_s=RATE_PER_S, burst=BURST
                )
            ).token
            for i in range(-(-sizes.registrations // WEBHOOKS_PER_KEY))
        ]
        return Prepared(ids, read.token, dapp)
    finally:
        await store.close()


def write_config(folder: Path, url: str, public_rpc: str | None) -> Path:
    """An ``xgate.toml`` on ``url``: the consortium hub (never reached: the operations
    measured do not read it) and one public chain at ``public_rpc`` (anvil, for the tracked
    transactions)."""
    contracts = {"endpoint": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
    data = {
        "store": {"url": url},
        "chains": {
            "consortium": {
                "kind": "qbft",
                "rpc_urls": ["http://127.0.0.1:1"],
                "chain_id": HUB,
                "finality": "instant",
                "trusted_validators": ["0x" + "11" * 20],
                "contracts": {
                    **contracts,
                    "header_store": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
                },
            },
            "public": {
                "kind": "evm",
                "rpc_urls": [public_rpc or "http://127.0.0.1:1"],
                "chain_id": PUBLIC,
                "finality": {"confirmations": 2},
                "contracts": {
                    **contracts,
                    "light_client": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
                },
            },
        },
        "routes": [{"from": "consortium", "to": "public"}, {"from": "public", "to": "consortium"}],
    }
    path = folder / "xgate.toml"
    path.write_text(tomli_w.dumps(data))
    return path


# -- the API process ----------------------------------------------------------------------------


@dataclass
class ApiProcess:
    """One ``xgate api`` process on ``config`` (or, with ``bare_body``, the bare aiohttp
    process answering that body); its stderr in ``log``."""

    config: Path
    log: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    bare_body: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> ApiProcess:
        if self.bare_body is not None:
            command = [
                sys.executable,
                "-m",
                "bench._bare_http",
                str(self.port),
                str(self.bare_body),
            ]
        else:
            command = [*XGATE, "api", "--config", str(self.config), "--no-webhooks"]
            command += ["--listen", f"127.0.0.1:{self.port}"]
        with self.log.open("ab") as stderr:
            self.proc = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        wait_until(self._healthy, 60, f"{command[2]} to serve")
        return self

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            what = "the bare aiohttp server" if self.bare_body is not None else "xgate api"
            raise RuntimeError(f"{what} exited:\n{self.log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/healthz", timeout=2) as r:
                return int(r.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    def document(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base_url}/openapi.json", timeout=10) as r:
            doc: dict[str, Any] = json.loads(r.read())
        return doc

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@contextlib.contextmanager
def api_process(config: Path, bare_body: Path | None = None) -> Iterator[ApiProcess]:
    proc = ApiProcess(config, config.with_name("api.log"), bare_body=bare_body).start()
    try:
        yield proc
    finally:
        proc.stop()


async def sample_answer(base_url: str, p: Prepared) -> bytes:
    headers = {"Authorization": f"Bearer {p.read_token}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base_url}/v1/transfers/{p.ids[0]}", headers=headers) as r,
    ):
        return await r.read()


async def bare_reads(folder: Path, answer: bytes, p: Prepared, sizes: Sizes) -> Load:
    """The ceiling: the read against a bare aiohttp process answering ``answer``."""
    body = folder / "answer.json"
    body.write_bytes(answer)
    with api_process(folder / "xgate.toml", bare_body=body) as bare:
        await api_reads(bare.base_url, p, sizes, sizes.warmup_s)
        return await api_reads(bare.base_url, p, sizes, sizes.seconds)


# -- load ---------------------------------------------------------------------------------------


@dataclass
class Load:
    """Requests done by a closed-loop load: their count, failures and latencies (s)."""

    done: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def per_s(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def ms(self, pct: float) -> float:
        return 1000 * percentile(self.latencies, pct) if self.latencies else 0.0


async def closed_loop(
    workers: int,
    step: Callable[[int, int], Awaitable[bool]],
    *,
    seconds: float | None = None,
    total: int | None = None,
) -> Load:
    """``workers`` tasks calling ``step(worker, n)`` (True: it succeeded) back to back, for
    ``seconds`` or until ``total`` calls are made."""
    load = Load()
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + seconds if seconds is not None else float("inf")
    issued = 0

    async def worker(w: int) -> None:
        nonlocal issued
        while loop.time() < deadline and (total is None or issued < total):
            n = issued
            issued += 1
            t0 = time.perf_counter()
            ok = await step(w, n)
            load.latencies.append(time.perf_counter() - t0)
            if ok:
                load.done += 1
            else:
                load.failed += 1

    await asyncio.gather(*(worker(w) for w in range(workers)))
    load.elapsed_s = loop.time() - start
    return load


@contextlib.asynccontextmanager
async def http(concurrency: int) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def api_reads(base_url: str, p: Prepared, sizes: Sizes, seconds: float) -> Load:
    headers = {"Authorization": f"Bearer {p.read_token}"}
    rng = random.Random(1)
    statuses: dict[int, int] = {}

    async with http(sizes.concurrency) as session:

        async def read(_: int, __: int) -> bool:
            url = f"{base_url}/v1/transfers/{rng.choice(p.ids)}"
            async with session.get(url, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
                return r.status == 200

        load = await closed_loop(sizes.concurrency, read, seconds=seconds)
    load.statuses = statuses
    return load


def registration_kind(document: dict[str, Any], txs: list[str]) -> str:
    method, path = TRACK
    has_track = method in document.get("paths", {}).get(path, {})
    return "track" if has_track and txs else "webhook"


async def _rpc(session: aiohttp.ClientSession, url: str, body: Any) -> Any:
    async with session.post(url, json=body) as r:
        return await r.json()


async def send_transactions(url: str, count: int) -> list[str]:
    """``count`` plain transfers between two of anvil's dev accounts (auto-mined); their
    hashes."""
    hashes: list[str] = []
    async with aiohttp.ClientSession() as session:
        answer = await _rpc(session, url, {"jsonrpc": "2.0", "id": 0, "method": "eth_accounts"})
        sender, receiver = answer["result"][:2]
        count_of = {"jsonrpc": "2.0", "id": 0, "method": "eth_getTransactionCount"}
        answer = await _rpc(session, url, {**count_of, "params": [sender, "pending"]})
        first = int(answer["result"], 16)
        for start in range(0, count, 100):
            batch = [
                {
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "eth_sendTransaction",
                    "params": [
                        {"from": sender, "to": receiver, "value": hex(1), "nonce": hex(first + n)}
                    ],
                }
                for n in range(start, min(start + 100, count))
            ]
            answers = await _rpc(session, url, batch)
            for a in sorted(answers, key=lambda a: int(a["id"])):
                if "result" not in a:
                    raise RuntimeError(f"anvil refused a transaction: {a}")
                hashes.append(str(a["result"]))
    return hashes


async def registrations(
    base_url: str, p: Prepared, sizes: Sizes, kind: str, txs: list[str]
) -> Load:
    """``sizes.registrations`` POSTs, each with its own Idempotency-Key."""
    statuses: dict[int, int] = {}
    run = random.Random(2).getrandbits(32)

    async with http(sizes.concurrency) as session:

        async def register(_: int, n: int) -> bool:
            token = p.dapp_tokens[n // WEBHOOKS_PER_KEY % len(p.dapp_tokens)]
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"bench-{run}-{n}"}
            body: dict[str, Any]
            if kind == "track":
                url = f"{base_url}/v1/transfers/track"
                body = {"chain_id": PUBLIC, "tx_hash": txs[n % len(txs)]}
            else:
                url = f"{base_url}/v1/webhooks"
                body = {"url": f"https://hooks.example.com/xgate/{n}", "kinds": ["message"]}
            async with session.post(url, json=body, headers=headers) as r:
                await r.read()
                statuses[r.status] = statuses.get(r.status, 0) + 1
                return 200 <= r.status < 300

        load = await closed_loop(sizes.concurrency, register, total=sizes.registrations)
    load.statuses = statuses
    return load


async def store_reads(url: str, p: Prepared, sizes: Sizes, seconds: float) -> Load:
    """The read of ``GET /v1/transfers/{id}`` served by the store in this process."""
    store = await Store.open(url, migrate=False)
    rng = random.Random(3)
    ids = [MessageId(bytes.fromhex(i[2:])) for i in p.ids]
    try:

        async def read(_: int, __: int) -> bool:
            message_id = rng.choice(ids)
            record = await store.message(message_id)
            await store.history(message_id)
            return record is not None

        await closed_loop(sizes.concurrency, read, seconds=sizes.warmup_s)
        return await closed_loop(sizes.concurrency, read, seconds=seconds)
    finally:
        await store.close()


# -- one store ----------------------------------------------------------------------------------


async def bench_store(
    kind: str, sizes: Sizes, workdir: Path, public_rpc: str | None, txs: list[str]
) -> dict[str, Any]:
    scratch = ScratchDb() if kind == "postgresql" else None
    try:
        url = scratch.url if scratch is not None else f"sqlite:///{workdir / 'xgate.db'}"
        progress(f"[{kind}] recording {sizes.messages:,} messages, making the keys")
        p = await prepare(url, sizes)
        folder = workdir / kind
        folder.mkdir()
        with api_process(write_config(folder, url, public_rpc)) as api:
            kind_of_registration = registration_kind(api.document(), txs)
            progress(f"[{kind}] warm-up {sizes.warmup_s} s")
            await api_reads(api.base_url, p, sizes, sizes.warmup_s)
            progress(f"[{kind}] status reads: {sizes.concurrency} clients for {sizes.seconds} s")
            cpu0 = cpu_s(api.pid)
            reads = await api_reads(api.base_url, p, sizes, sizes.seconds)
            cpu_reads = cpu_s(api.pid) - cpu0
            answer = await sample_answer(api.base_url, p)
            progress(f"[{kind}] {sizes.registrations:,} registrations ({kind_of_registration})")
            regs = await registrations(api.base_url, p, sizes, kind_of_registration, txs)
        progress(f"[{kind}] the ceiling: a bare aiohttp process, {sizes.seconds} s")
        bare = await bare_reads(folder, answer, p, sizes)
        progress(f"[{kind}] the same read from the store directly for {sizes.seconds} s")
        direct = await store_reads(url, p, sizes, sizes.seconds)
    finally:
        if scratch is not None:
            scratch.drop()
    return {
        "messages": sizes.messages,
        "concurrency": sizes.concurrency,
        "reads": reads.done,
        "read_errors": reads.failed,
        "read_statuses": {str(k): v for k, v in sorted(reads.statuses.items())},
        "reads_per_s": reads.per_s,
        "read_p50_ms": reads.ms(50),
        "read_p99_ms": reads.ms(99),
        "api_cpu_ms_per_read": 1000 * cpu_reads / max(reads.done + reads.failed, 1),
        "bare_reads_per_s": bare.per_s,
        "bare_read_p99_ms": bare.ms(99),
        "share_of_bare": reads.per_s / bare.per_s if bare.per_s else None,
        "registration": kind_of_registration,
        "registrations": regs.done,
        "registration_errors": regs.failed,
        "registration_statuses": {str(k): v for k, v in sorted(regs.statuses.items())},
        "registrations_per_s": regs.per_s,
        "registration_p50_ms": regs.ms(50),
        "registration_p99_ms": regs.ms(99),
        "store_reads_per_s": direct.per_s,
        "store_read_p50_ms": direct.ms(50),
        "api_overhead_ratio": direct.per_s / reads.per_s if reads.per_s else None,
        "target_met": reads.per_s >= TARGET_READS_PER_S and reads.ms(99) <= TARGET_P99_MS,
    }


async def run(stores: list[str], sizes: Sizes, workdir: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with contextlib.AsyncExitStack() as stack:
        public_rpc: str | None = None
        txs: list[str] = []
        if anvil_available():
            node = await stack.enter_async_context(start_anvil(chain_id=PUBLIC))
            public_rpc = node.url
            progress(f"anvil: sending {sizes.registrations:,} transactions to track")
            txs = await send_transactions(node.url, sizes.registrations)
        else:
            progress("anvil is not installed: registrations are webhook creations")
        for kind in stores:
            figures[kind] = await bench_store(kind, sizes, workdir, public_rpc, txs)
    return figures


def rows(figures: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for kind, f in figures.items():
        target = "met" if f["target_met"] else "not met"
        out.append(
            (
                kind,
                f["reads_per_s"],
                f["read_p50_ms"],
                f["read_p99_ms"],
                f["read_errors"],
                f["api_cpu_ms_per_read"],
                f"{f['bare_reads_per_s']:,.0f} ({f['share_of_bare']:.0%})",
                f"{f['registrations_per_s']:.0f} ({f['registration']})",
                f["registration_p99_ms"],
                f["store_reads_per_s"],
                f"{f['api_overhead_ratio']:.1f}x" if f["api_overhead_ratio"] else "n/a",
                target if kind == "sqlite" else f"({target})",
            )
        )
    return out


def show(figures: dict[str, Any], sizes: Sizes) -> None:
    print_table(
        f"xgate api, one process: GET /v1/transfers/{{id}} over {sizes.messages:,} messages, "
        f"{sizes.concurrency} concurrent clients for {sizes.seconds} s; registrations: "
        f"{sizes.registrations:,} POSTs; bare aiohttp: a constant answer of the same size from "
        "one aiohttp process, read by the same client (the machine's ceiling); store: the same "
        "read from the Store in-process. "
        f"Target (SQLite): >= {TARGET_READS_PER_S:,.0f} reads/s, p99 <= {TARGET_P99_MS:.0f} ms",
        rows(figures),
        (
            "store",
            "reads/s",
            "p50 ms",
            "p99 ms",
            "errors",
            "API CPU ms/read",
            "bare aiohttp reads/s (API share)",
            "registrations/s",
            "reg p99 ms",
            "store reads/s",
            "API overhead",
            "target",
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    parser.add_argument("--concurrency", type=int, default=None, help="concurrent clients")
    parser.add_argument("--seconds", type=float, default=None, help="length of each read run")
    parser.add_argument(
        "--stores", default=",".join(STORES), help="comma-separated: " + ", ".join(STORES)
    )
    args = parser.parse_args(argv)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    if set(stores) - set(STORES):
        parser.error(f"unknown stores: {', '.join(sorted(set(stores) - set(STORES)))}")
    sizes = Sizes.of(args.quick, args.concurrency, args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        figures = asyncio.run(run(stores, sizes, Path(tmp)))
    if args.json:
        emit(figures, True)
    else:
        show(figures, sizes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
