"""Besu genesis files, node keys, static nodes and local permissioning for a QBFT consortium.

Pure functions over JSON values, text and bytes (style rule 4): ``build_genesis`` writes the
genesis file ``xgate besu-config`` generates, ``parse_genesis`` reads one back (the embedded
devnet node starts from it: ``xgate devnet up --genesis``) and ``genesis_header`` computes the
genesis header exactly as Besu builds it from the file (``GenesisState``), given the state root
of the file's ``alloc`` (``alloc_state_root``). The formats are described in docs/besu.md;
extraData is the project's own QBFT codec (``adapters.bft``, docs/light-client-formats.md
§1.2).

Besu reads the keys of a genesis file case-insensitively (``chainId`` and ``chainid`` are the
same key); so does ``parse_genesis``.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import coincurve
import rlp
from trie.hexary import HexaryTrie

from adapters.bft import BFT_MIX_HASH, BftExtraData, decode_qbft_extra, encode_qbft_extra
from adapters.errors import ConfigError, DecodeError
from adapters.headers import EMPTY_OMMERS_HASH, Header
from adapters.mpt import EMPTY_CODE_HASH, EMPTY_TRIE_ROOT
from adapters.rlpcodec import keccak
from adapters.types import Address

# The forks the embedded node runs (devnet/evm.py), in order. A genesis enables one of them
# from block 0: every block-numbered milestone up to London at 0, then the timestamped ones.
FORKS: Final = ("london", "shanghai", "cancun", "prague")
BLOCK_MILESTONES: Final = (
    "homesteadBlock",
    "eip150Block",
    "eip155Block",
    "eip158Block",
    "byzantiumBlock",
    "constantinopleBlock",
    "petersburgBlock",
    "istanbulBlock",
    "muirGlacierBlock",
    "berlinBlock",
    "londonBlock",
)
TIME_MILESTONES: Final = {
    "shanghai": "shanghaiTime",
    "cancun": "cancunTime",
    "prague": "pragueTime",
}
# Milestones Besu knows that change nothing for a chain started at London or later (difficulty
# bomb delays, aliases) and are tolerated at block 0.
_HARMLESS_MILESTONES: Final = frozenset(
    (
        "arrowglacierblock",
        "grayglacierblock",
        "mergenetsplitblock",
        "daoforkblock",
        "constantinoplefixblock",  # Besu's other name of petersburgBlock
    )
)
# Besu's default base fee of a genesis with London at block 0 (GenesisConfig
# BASEFEE_AT_GENESIS_DEFAULT_VALUE): 1 gwei. build_genesis writes it explicitly.
DEFAULT_GENESIS_BASE_FEE: Final = 1_000_000_000
DEFAULT_VANITY: Final = b"\x00" * 32
ZERO_HASH: Final = b"\x00" * 32
ZERO_ADDRESS: Final = b"\x00" * 20
EMPTY_REQUESTS_HASH: Final = hashlib.sha256(b"").digest()  # EIP-7685, Prague headers
# Consensus sections that are not QBFT: such a genesis is refused with its name.
_OTHER_CONSENSUS: Final = ("ibft2", "clique", "ethash", "ibft", "istanbul")
_QBFT_KEYS: Final = frozenset(("blockperiodseconds", "epochlength", "requesttimeoutseconds"))


@dataclass(frozen=True, slots=True)
class AllocAccount:
    """One account of a genesis ``alloc``."""

    address: Address
    balance: int
    nonce: int = 0
    code: bytes = b""
    storage: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class BesuGenesis:
    """What a Besu QBFT genesis file says, validated (``parse_genesis``)."""

    chain_id: int
    fork: str
    block_period_s: int
    epoch_length: int
    request_timeout_s: int
    extra_data: bytes  # exactly as in the file
    extra: BftExtraData  # decoded with adapters.bft
    gas_limit: int
    timestamp: int
    difficulty: int
    nonce: bytes
    mix_hash: bytes
    coinbase: bytes
    base_fee: int
    alloc: tuple[AllocAccount, ...]

    @property
    def validators(self) -> tuple[Address, ...]:
        return self.extra.validators


# --- writing -----------------------------------------------------------------------------------


def genesis_extra_data(validators: Iterable[bytes], vanity: bytes = DEFAULT_VANITY) -> bytes:
    """QBFT genesis extraData: vanity, the sorted validators, no vote, round 0, no seals."""
    ordered = tuple(sorted(Address(bytes(v)) for v in validators))
    if not ordered:
        raise ConfigError("a QBFT genesis needs at least one validator", key="validators")
    return encode_qbft_extra(BftExtraData(vanity, ordered, None, 0, ()))


def build_genesis(
    *,
    chain_id: int,
    validators: Iterable[bytes],
    alloc: Mapping[bytes, int],
    timestamp: int,
    fork: str = "shanghai",
    block_period_s: int = 1,
    epoch_length: int = 30000,
    request_timeout_s: int = 10,
    gas_limit: int = 60_000_000,
    base_fee: int = DEFAULT_GENESIS_BASE_FEE,
) -> dict[str, Any]:
    """A Besu QBFT genesis file (as a JSON object) enabling ``fork`` from block 0, with
    block-header validator voting and ``alloc`` (address -> balance in wei) funded."""
    if fork not in FORKS:
        raise ConfigError(f"fork {fork!r} is not one of {', '.join(FORKS)}", key="fork")
    config: dict[str, Any] = {"chainId": chain_id}
    config.update(dict.fromkeys(BLOCK_MILESTONES, 0))
    for name in FORKS[1 : FORKS.index(fork) + 1]:
        config[TIME_MILESTONES[name]] = 0
    config["qbft"] = {
        "blockperiodseconds": block_period_s,
        "epochlength": epoch_length,
        "requesttimeoutseconds": request_timeout_s,
    }
    return {
        "config": config,
        "nonce": "0x0",
        "timestamp": hex(timestamp),
        "gasLimit": hex(gas_limit),
        "difficulty": "0x1",
        "mixHash": "0x" + BFT_MIX_HASH.hex(),
        "coinbase": "0x" + ZERO_ADDRESS.hex(),
        "baseFeePerGas": hex(base_fee),
        "extraData": "0x" + genesis_extra_data(validators).hex(),
        "alloc": {
            "0x" + bytes(address).hex(): {"balance": hex(balance)}
            for address, balance in sorted(alloc.items())
        },
    }


def node_public_key(private_key: bytes) -> bytes:
    """The 64-byte public key of a node key (the enode id; Besu's ``key.pub``)."""
    try:
        point: bytes = coincurve.PrivateKey(private_key).public_key.format(compressed=False)
    except ValueError as exc:
        raise ConfigError("not a valid secp256k1 private key") from exc
    return point[1:]


def format_node_key(private_key: bytes) -> str:
    """Besu's ``key`` file: the private key as 0x-prefixed hex."""
    return "0x" + private_key.hex()


def read_node_key(text: str) -> bytes:
    """A Besu ``key`` file's private key (hex, 0x optional, surrounding space ignored)."""
    raw = text.strip()
    raw = raw[2:] if raw[:2].lower() == "0x" else raw
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError("a node key file holds 32 bytes of hex (0x...)")
    node_public_key(key)  # refuses zero and out-of-range keys
    return key


def enode_url(public_key: bytes, host: str, port: int) -> str:
    """``enode://<64-byte public key, hex>@host:port`` (Besu static nodes and allowlists)."""
    if len(public_key) != 64:
        raise ValueError("an enode id is a 64-byte public key")
    return f"enode://{public_key.hex()}@{host}:{port}"


def render_permissions(accounts: Iterable[bytes], nodes: Iterable[str]) -> str:
    """Besu's local permissioning file (``permissions_config.toml``)."""

    def array(items: Iterable[str]) -> str:
        return "[" + ",".join(f'"{item}"' for item in items) + "]"

    return (
        "accounts-allowlist=" + array("0x" + bytes(a).hex() for a in accounts) + "\n"
        "nodes-allowlist=" + array(nodes) + "\n"
    )


# --- reading -----------------------------------------------------------------------------------


def parse_permissions(text: str) -> tuple[tuple[Address, ...] | None, tuple[str, ...] | None]:
    """``(accounts allowlist, nodes allowlist)`` of a permissions file; None where a list is
    absent (Besu then does not restrict that side)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"permissions file is not TOML: {exc}") from None
    accounts = data.get("accounts-allowlist")
    nodes = data.get("nodes-allowlist")
    for key, value in (("accounts-allowlist", accounts), ("nodes-allowlist", nodes)):
        if value is not None and (
            not isinstance(value, list) or not all(isinstance(v, str) for v in value)
        ):
            raise ConfigError("must be a list of strings", key=key)
    parsed = None
    if accounts is not None:
        parsed = tuple(_address(a, "accounts-allowlist") for a in accounts)
    return parsed, None if nodes is None else tuple(nodes)


def parse_genesis(data: Any) -> BesuGenesis:
    """Validate a Besu QBFT genesis (a parsed JSON object). ``ConfigError`` names the key and
    what is wrong: not QBFT, a fork the embedded node does not run or not at genesis, bad
    extraData (decoded with adapters.bft), bad numbers or addresses in ``alloc``."""
    if not isinstance(data, Mapping):
        raise ConfigError("a genesis file is a JSON object")
    top = {str(k).lower(): v for k, v in data.items()}
    raw_config = top.get("config")
    if not isinstance(raw_config, Mapping):
        raise ConfigError("the genesis has no config object", key="config")
    config = {str(k).lower(): v for k, v in raw_config.items()}
    for other in _OTHER_CONSENSUS:
        if other in config:
            raise ConfigError(
                f"config.{other}: not a QBFT genesis (xgate's consortium runs QBFT)",
                key=f"config.{other}",
            )
    qbft = config.get("qbft")
    if not isinstance(qbft, Mapping):
        raise ConfigError("config.qbft is missing: not a QBFT genesis", key="config.qbft")
    qbft = {str(k).lower(): v for k, v in qbft.items()}
    if "validatorcontractaddress" in qbft:
        raise ConfigError(
            "config.qbft.validatorcontractaddress: validator-contract mode is not supported "
            "(docs/light-client-formats.md §1.2); use block-header voting",
            key="config.qbft.validatorcontractaddress",
        )
    unknown = sorted(set(qbft) - _QBFT_KEYS)
    if unknown:
        raise ConfigError(
            f"config.qbft.{unknown[0]}: not supported (known: {', '.join(sorted(_QBFT_KEYS))})",
            key=f"config.qbft.{unknown[0]}",
        )
    chain_id = _quantity(config.get("chainid"), "config.chainId", required=True)
    if chain_id < 1:
        raise ConfigError("config.chainId: must be positive", key="config.chainId")
    fork = _fork(config)
    extra_data = _data(top.get("extradata"), "extraData", required=True)
    try:
        extra = decode_qbft_extra(extra_data)
    except DecodeError as exc:
        raise ConfigError(
            f"extraData: not QBFT extraData: {exc.message}", key="extraData", **exc.context
        ) from None
    if not extra.validators:
        raise ConfigError(
            "extraData: lists no validators (validator-contract mode is not supported)",
            key="extraData",
        )
    if extra.vote is not None or extra.round != 0 or extra.seals:
        raise ConfigError(
            "extraData: a genesis carries no vote, round 0 and no seals", key="extraData"
        )
    difficulty = _quantity(top.get("difficulty"), "difficulty", required=True)
    if difficulty != 1:
        raise ConfigError("difficulty: a QBFT chain's difficulty is 0x1", key="difficulty")
    gas_limit = _quantity(top.get("gaslimit"), "gasLimit", required=True)
    if not 5000 <= gas_limit <= 2**63 - 1:
        raise ConfigError("gasLimit: outside Besu's range [5000, 2^63-1]", key="gasLimit")
    nonce = _quantity(top.get("nonce"), "nonce", default=0)
    if nonce >= 2**64:
        raise ConfigError("nonce: more than 8 bytes", key="nonce")
    mix_hash = _data(top.get("mixhash"), "mixHash", default=ZERO_HASH)
    if len(mix_hash) != 32:
        raise ConfigError("mixHash: must be 32 bytes", key="mixHash")
    coinbase = _data(top.get("coinbase"), "coinbase", default=ZERO_ADDRESS)
    if len(coinbase) != 20:
        raise ConfigError("coinbase: must be 20 bytes", key="coinbase")
    base_fee = _quantity(top.get("basefeepergas"), "baseFeePerGas", default=-1)
    return BesuGenesis(
        chain_id=chain_id,
        fork=fork,
        block_period_s=_positive(qbft, "blockperiodseconds", 1),
        epoch_length=_positive(qbft, "epochlength", 30000),
        request_timeout_s=_positive(qbft, "requesttimeoutseconds", 10),
        extra_data=extra_data,
        extra=extra,
        gas_limit=gas_limit,
        timestamp=_quantity(top.get("timestamp"), "timestamp", default=0),
        difficulty=difficulty,
        nonce=nonce.to_bytes(8, "big"),
        mix_hash=mix_hash,
        coinbase=coinbase,
        base_fee=DEFAULT_GENESIS_BASE_FEE if base_fee < 0 else base_fee,
        alloc=_alloc(top.get("alloc", {})),
    )


def alloc_state_root(alloc: tuple[AllocAccount, ...]) -> bytes:
    """The state root of a genesis alloc (the secure state trie), as Besu computes it."""
    state = HexaryTrie({})
    for account in alloc:
        storage = HexaryTrie({})
        for slot, value in account.storage:
            if value:
                storage[keccak(slot.to_bytes(32, "big"))] = rlp.encode(value)
        code_hash = keccak(account.code) if account.code else EMPTY_CODE_HASH
        storage_root = storage.root_hash if account.storage else EMPTY_TRIE_ROOT
        state[keccak(bytes(account.address))] = rlp.encode(
            [account.nonce, account.balance, storage_root, code_hash]
        )
    return bytes(state.root_hash)


def genesis_header(genesis: BesuGenesis, state_root: bytes) -> Header:
    """The genesis header Besu builds from the file (``GenesisState.buildHeader``), given the
    state root of its alloc. Its keccak is the block hash (genesis is hashed raw, §1.3)."""
    later = FORKS.index(genesis.fork)
    return Header(
        parent_hash=ZERO_HASH,
        ommers_hash=EMPTY_OMMERS_HASH,
        coinbase=genesis.coinbase,
        state_root=state_root,
        transactions_root=EMPTY_TRIE_ROOT,
        receipts_root=EMPTY_TRIE_ROOT,
        logs_bloom=b"\x00" * 256,
        difficulty=genesis.difficulty,
        number=0,
        gas_limit=genesis.gas_limit,
        gas_used=0,
        timestamp=genesis.timestamp,
        extra_data=genesis.extra_data,
        mix_hash=genesis.mix_hash,
        nonce=genesis.nonce,
        base_fee_per_gas=genesis.base_fee,
        withdrawals_root=EMPTY_TRIE_ROOT if later >= 1 else None,
        blob_gas_used=0 if later >= 2 else None,
        excess_blob_gas=0 if later >= 2 else None,
        parent_beacon_block_root=ZERO_HASH if later >= 2 else None,
        requests_hash=EMPTY_REQUESTS_HASH if later >= 3 else None,
    )


def _fork(config: Mapping[str, Any]) -> str:
    """The one fork the genesis enables from block 0; transitions later are refused."""
    known_blocks = {m.lower() for m in BLOCK_MILESTONES}
    known_times = {m.lower(): fork for fork, m in TIME_MILESTONES.items()}
    enabled: set[str] = set()
    for key, value in config.items():
        if not (key.endswith("block") or key.endswith("time")):
            continue
        if key not in known_blocks and key not in known_times and key not in _HARMLESS_MILESTONES:
            raise ConfigError(
                f"config.{key}: a fork the embedded node does not run (it runs {', '.join(FORKS)})",
                key=f"config.{key}",
            )
        if _quantity(value, f"config.{key}") != 0:
            raise ConfigError(
                f"config.{key}: forks must be active from genesis (0); the embedded node runs "
                "one fork for the whole chain",
                key=f"config.{key}",
            )
        if key in known_times:
            enabled.add(known_times[key])
    if "londonblock" not in config:
        raise ConfigError(
            "config.londonBlock: missing; the embedded node runs London or later from block 0",
            key="config.londonBlock",
        )
    fork = "london"
    for name in FORKS[1:]:
        if name in enabled:
            fork = name
    missing = [n for n in FORKS[1 : FORKS.index(fork)] if n not in enabled]
    if missing:
        key = TIME_MILESTONES[missing[0]]
        raise ConfigError(f"config.{key}: missing before {fork}", key=f"config.{key}")
    return fork


def _alloc(raw: Any) -> tuple[AllocAccount, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError("alloc: must be an object of accounts", key="alloc")
    out = []
    for key, entry in raw.items():
        where = f"alloc.{key}"
        address = _address(key if str(key).startswith("0x") else "0x" + str(key), where)
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: must be an object", key=where)
        fields = {str(k).lower(): v for k, v in entry.items()}
        storage = fields.get("storage", {})
        if not isinstance(storage, Mapping):
            raise ConfigError(f"{where}.storage: must be an object", key=f"{where}.storage")
        out.append(
            AllocAccount(
                address=address,
                balance=_quantity(fields.get("balance"), f"{where}.balance", default=0),
                nonce=_quantity(fields.get("nonce"), f"{where}.nonce", default=0),
                code=_data(fields.get("code"), f"{where}.code", default=b""),
                storage=tuple(
                    (_quantity(k, f"{where}.storage"), _quantity(v, f"{where}.storage"))
                    for k, v in storage.items()
                ),
            )
        )
    addresses = [a.address for a in out]
    if len(set(addresses)) != len(addresses):
        raise ConfigError("alloc: lists an address twice", key="alloc")
    return tuple(sorted(out, key=lambda a: a.address))


def _positive(qbft: Mapping[str, Any], key: str, default: int) -> int:
    value = _quantity(qbft.get(key), f"config.qbft.{key}", default=default)
    if value < 1:
        raise ConfigError(f"config.qbft.{key}: must be at least 1", key=f"config.qbft.{key}")
    return value


def _quantity(value: Any, key: str, *, required: bool = False, default: int = 0) -> int:
    """A genesis number: a JSON integer, a 0x hex string or a decimal string (as Besu reads)."""
    if value is None:
        if required:
            raise ConfigError(f"{key}: missing", key=key)
        return default
    if isinstance(value, bool):
        raise ConfigError(f"{key}: not a number", key=key)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text, 16) if text[:2].lower() == "0x" else int(text, 10)
        except ValueError:
            raise ConfigError(f"{key}: not a number: {value!r}", key=key) from None
    else:
        raise ConfigError(f"{key}: not a number", key=key)
    if number < 0:
        raise ConfigError(f"{key}: negative", key=key)
    return number


def _data(value: Any, key: str, *, required: bool = False, default: bytes = b"") -> bytes:
    if value is None:
        if required:
            raise ConfigError(f"{key}: missing", key=key)
        return default
    if not isinstance(value, str) or value[:2].lower() != "0x":
        raise ConfigError(f"{key}: must be 0x-prefixed hex", key=key)
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ConfigError(f"{key}: not hex", key=key) from None


def _address(value: Any, key: str) -> Address:
    raw = _data(value, key)
    if len(raw) != 20:
        raise ConfigError(f"{key}: not a 20-byte address: {value!r}", key=key)
    return Address(raw)


__all__: Sequence[str] = (
    "FORKS",
    "AllocAccount",
    "BesuGenesis",
    "build_genesis",
    "enode_url",
    "format_node_key",
    "genesis_extra_data",
    "genesis_header",
    "node_public_key",
    "parse_genesis",
    "parse_permissions",
    "read_node_key",
    "render_permissions",
)
