"""Gas of the bridge endpoint (contracts/src/bridge): ``python -m bench.gas_bridge [--json]``.

``measure(url)`` runs against an already running anvil and returns receipt ``gasUsed``:

- ``deliver_erc20``: ``BridgeEndpoint.deliver`` of one bridged ERC-20 transfer (the asset
  vault's ERC20_TRANSFER payload) to the real ``WrappedAssetGateway``, which mints
  ``WrappedERC20``, proven by a 3-node receipt path (branch, branch, leaf, like mainnet) from
  a block of 40 transactions mined with automine off. Steady state (docs/htlc.md §6): the
  recipient already holds the wrapped token, the gateway's inbound value limit for the token
  (TransferLimits) is enabled and was used before. The header was accepted by the real
  ``QbftLightClient`` (its stored root and its frozen flag: two cold SLOADs).
- ``deliver_erc20_test_receiver``: the same with a minimal receiver (an OpenZeppelin ERC-20
  that mints on the payload): the endpoint's own cost plus a bare mint.
- ``deliver_erc20_batch2``: ``deliverBatch`` of two gateway messages from the same block.
- ``bridge_send``: ``send`` of the same payload (nonce already used; the endpoint counts no
  messages: value limits are the apps').

Each figure is the median of 5.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eth_abi.abi import encode
from web3 import Web3
from web3.contract import Contract

from adapters.bft import address_of_key, qbft_block_hash, seal_qbft_header
from adapters.headers import encode_header
from adapters.receipts import OrderedTrie, encode_receipt, receipt_from_rpc
from adapters.rlpcodec import keccak
from bench._evm import median, standalone
from bench._table import progress
from bench.gas_lightclient import BENCH_TRUST, bench_header, bench_keys
from harness import Chain

ROUNDS = 5
BLOCK_TXS = 40  # indices 0x10-0x1f share a first key nibble: their proofs have 3 nodes
FIRST_MESSAGE_INDEX = 0x11
AMOUNT = 10**18
HOME_TOKEN = Web3.to_checksum_address("0x" + "11" * 20)  # the settlement token on its home chain
INBOUND = 0  # TransferLimits.Direction
VALIDATOR_KEYS = bench_keys(4, b"xgate bench validator")
ANCHOR = 1000


def erc20_payload(token: str, home_chain_id: int, recipient: str, amount: int) -> bytes:
    """The asset vault's ERC20_TRANSFER payload (kind 1)."""
    return encode(
        ["uint8", "address", "uint256", "address", "uint256"],
        [1, token, home_chain_id, recipient, amount],
    )


def _block_proofs(b: Chain, block_hash: str) -> tuple[bytes, bytes, OrderedTrie]:
    block = b.rpc("eth_getBlockByHash", block_hash, False)
    receipts = [
        receipt_from_rpc(b.rpc("eth_getTransactionReceipt", h)) for h in block["transactions"]
    ]
    trie = OrderedTrie([encode_receipt(r) for r in receipts])
    root = bytes.fromhex(block["receiptsRoot"][2:])
    if trie.root != root:
        raise RuntimeError("receipts rebuilt from RPC do not match the block's receiptsRoot")
    return bytes.fromhex(block["hash"][2:]), root, trie


def _setup(b: Chain) -> dict[str, Contract]:
    admin = b.accounts[0].address
    here = b.w3.eth.chain_id
    # The real light client: the "consortium" is this chain, its blocks re-sealed as QBFT
    # headers by bench validator keys (see _seal_block).
    validators = [address_of_key(k) for k in VALIDATOR_KEYS]
    anchor = keccak(b"bridge bench anchor")
    oracle = b.deploy(
        "QbftLightClient", here, validators, ANCHOR, anchor, 1_750_000_000, admin, BENCH_TRUST
    )
    remote = b.deploy("BridgeEndpoint", admin, admin)
    local = b.deploy("BridgeEndpoint", admin, admin)
    b.gas(remote.functions.setRoute(here, local.address, oracle.address))
    b.gas(local.functions.setRoute(here, remote.address, oracle.address))
    # The real foreign side of the asset bridge: the gateway mints WrappedERC20. The "home
    # vault" is account 0 (the message sender on this same chain).
    gateway = b.deploy("WrappedAssetGateway", local.address, admin)
    wrapped = b.deploy(
        "WrappedERC20", "Wrapped Settlement", "wSET", 18, gateway.address, here, HOME_TOKEN
    )
    b.gas(gateway.functions.registerWrapped(wrapped.address))
    b.gas(gateway.functions.setRemote(here, admin))
    # Production-like value limit: 1,000,000 tokens a day, transfers above 100,000 held.
    limit = (True, 10**6 * AMOUNT, 10**6 * AMOUNT // 86_400, 10**5 * AMOUNT)
    b.gas(gateway.functions.setLimit(wrapped.address, here, INBOUND, limit))
    minimal = b.deploy("BridgeTestMintReceiver", local.address)
    return {
        "oracle": oracle,
        "remote": remote,
        "local": local,
        "gateway": gateway,
        "wrapped": wrapped,
        "minimal": minimal,
    }


def _send_block(b: Chain, sends: list[Any]) -> tuple[bytes, bytes, OrderedTrie, list[int]]:
    """Mine one block of BLOCK_TXS transactions with ``sends`` at 0x11, 0x12, ..."""
    wanted = list(range(FIRST_MESSAGE_INDEX, FIRST_MESSAGE_INDEX + len(sends)))
    b.rpc("evm_setAutomine", False)
    try:
        hashes = []
        for i in range(BLOCK_TXS):
            if i in wanted:
                hashes.append(b.submit(sends[i - FIRST_MESSAGE_INDEX], gas=200_000))
            else:  # filler: a plain transfer (every receipt is hashed: the bloom alone is 256 B)
                hashes.append(b.submit(None, to=b.accounts[1 + i % 8].address, value=1))
        b.rpc("evm_mine")
    finally:
        b.rpc("evm_setAutomine", True)
    receipts = [b.wait(h) for h in hashes]
    block_hash = receipts[0]["blockHash"]
    if any(r["blockHash"] != block_hash for r in receipts) or [
        r["transactionIndex"] for r in receipts
    ] != list(range(BLOCK_TXS)):
        raise RuntimeError("the benchmark block was not mined as one ordered block")
    block, root, trie = _block_proofs(b, "0x" + bytes(block_hash).hex())
    return block, root, trie, wanted


def _seal_block(b: Chain, lc: Contract, receipts_root: bytes) -> bytes:
    """Submit a QBFT header carrying ``receipts_root`` to the light client; its block hash."""
    validators = [address_of_key(k) for k in VALIDATOR_KEYS]
    header = replace(
        bench_header(validators, ANCHOR + 1, keccak(b"bridge bench anchor")),
        receipts_root=receipts_root,
    )
    sealed = seal_qbft_header(header, VALIDATOR_KEYS[:3])
    b.gas_with_margin(lc.functions.submitHeader(encode_header(sealed)))
    return bytes(qbft_block_hash(sealed))


def measure(url: str) -> dict[str, int]:
    b = Chain.connect("anvil", url, accounts=10)
    c = _setup(b)
    here = b.w3.eth.chain_id
    recipient = b.accounts[5].address
    payload = erc20_payload(HOME_TOKEN, here, recipient, AMOUNT)
    to_gateway = c["remote"].functions.send(here, c["gateway"].address, payload)
    to_minimal = c["remote"].functions.send(here, c["minimal"].address, payload)

    sends = [b.gas_with_margin(to_gateway) for _ in range(ROUNDS)]

    # Per receiver: 1 warm-up + ROUNDS singles; then 2 for the batch; all 3-node paths.
    plan = [to_gateway] * (1 + ROUNDS) + [to_minimal] * (1 + ROUNDS) + [to_gateway] * 2
    _, root, trie, indices = _send_block(b, plan)
    block = _seal_block(b, c["oracle"], root)
    proofs = [trie.proof(i) for i in indices]
    if any(len(p) != 3 for p in proofs):
        raise RuntimeError(f"expected 3-node receipt proofs, got {[len(p) for p in proofs]}")
    progress(
        f"bench.gas_bridge: receipt proof {len(proofs[0])} nodes, {sum(map(len, proofs[0]))} bytes"
    )

    def deliver(k: int) -> Any:
        return c["local"].functions.deliver(here, block, indices[k], list(proofs[k]), 0)

    # Warm-ups: the recipient then holds a balance of each token, the bucket was used.
    b.gas_with_margin(deliver(0))
    real = [b.gas_with_margin(deliver(k)) for k in range(1, 1 + ROUNDS)]
    b.gas_with_margin(deliver(1 + ROUNDS))
    minimal = [b.gas_with_margin(deliver(k)) for k in range(2 + ROUNDS, 2 + 2 * ROUNDS)]
    items = [(indices[k], 0, list(proofs[k])) for k in (len(plan) - 2, len(plan) - 1)]
    batch = b.gas_with_margin(c["local"].functions.deliverBatch(here, block, items))
    minted = (1 + ROUNDS + 2) * AMOUNT
    if (
        c["wrapped"].functions.balanceOf(recipient).call() != minted
        or c["minimal"].functions.balanceOf(recipient).call() != (1 + ROUNDS) * AMOUNT
    ):
        raise RuntimeError("deliveries did not mint the wrapped tokens")
    return {
        "deliver_erc20": median(real),
        "deliver_erc20_test_receiver": median(minimal),
        "deliver_erc20_batch2": batch,
        "bridge_send": median(sends),
    }


def main(argv: list[str] | None = None) -> None:
    standalone(measure, __doc__, "bridge gas (receipt gasUsed)", argv)


if __name__ == "__main__":
    main()
