"""py-evm VM classes for the devnet: QBFT headers on London/Shanghai/Cancun/Prague, and plain
post-merge.

Why subclasses: py-evm caps extraData at 32 bytes (``VM.extra_data_max_bytes``) and its Paris+
VMs force difficulty 0 and the post-merge mix hash. A Besu QBFT header on the same forks has
difficulty 1, mixHash = the BFT constant, nonce 0 and a long RLP extraData (Besu
``QbftBlockHeaderValidationRulesetFactory``), so the QBFT VMs build headers with the
pre-merge header rule plus the fork's extra fields, and validate those constants instead.
Seals are not checked here (NoProof): the devnet seals its own blocks with ``adapters.bft``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from eth import constants
from eth.abc import BlockAPI, BlockHeaderAPI, ConsensusAPI
from eth.chains.base import Chain
from eth.consensus.noproof import NoProofConsensus
from eth.constants import EMPTY_SHA256
from eth.vm.base import VM
from eth.vm.forks.cancun import CancunVM
from eth.vm.forks.cancun.blocks import CancunBlockHeader
from eth.vm.forks.cancun.headers import calc_excess_blob_gas_cancun
from eth.vm.forks.gray_glacier.headers import (
    compute_gray_glacier_difficulty,
    create_gray_glacier_header_from_parent,
)
from eth.vm.forks.london import LondonVM
from eth.vm.forks.london.blocks import LondonBlockHeader
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.blocks import PragueBlockHeader
from eth.vm.forks.shanghai import ShanghaiVM
from eth.vm.forks.shanghai.blocks import ShanghaiBlockHeader
from eth_utils.exceptions import ValidationError

from adapters.bft import BFT_MIX_HASH

ZERO_NONCE: Final = b"\x00" * 8
ZERO_HASH: Final = b"\x00" * 32
# Room for a few hundred validators and seals; Besu does not bound QBFT extraData either.
_QBFT_EXTRA_MAX: Final = 1 << 16


def _qbft_header_factory(fork: str) -> Callable[..., BlockHeaderAPI]:
    def create(parent: BlockHeaderAPI | None, **params: Any) -> BlockHeaderAPI:
        params.setdefault("difficulty", 1)
        params.setdefault("mix_hash", BFT_MIX_HASH)
        params.setdefault("nonce", ZERO_NONCE)
        if parent is not None:
            params.setdefault("gas_limit", parent.gas_limit)
        withdrawals_root = params.pop("withdrawals_root", constants.BLANK_ROOT_HASH)
        blob_gas_used = params.pop("blob_gas_used", 0)
        params.pop("excess_blob_gas", None)
        beacon_root = params.pop("parent_beacon_block_root", ZERO_HASH)
        requests_hash = params.pop("requests_hash", EMPTY_SHA256)
        base = create_gray_glacier_header_from_parent(
            compute_gray_glacier_difficulty, parent, **params
        )
        fields = base.as_dict()
        if fork == "london":
            return LondonBlockHeader(**fields)
        fields["withdrawals_root"] = withdrawals_root
        if fork == "shanghai":
            return ShanghaiBlockHeader(**fields)
        fields["blob_gas_used"] = blob_gas_used
        fields["excess_blob_gas"] = 0 if parent is None else calc_excess_blob_gas_cancun(parent)
        fields["parent_beacon_block_root"] = beacon_root
        if fork == "cancun":
            return CancunBlockHeader(**fields)
        fields["requests_hash"] = requests_hash
        return PragueBlockHeader(**fields)

    return create


def _validate_qbft_header(
    cls: type[VM], header: BlockHeaderAPI, parent_header: BlockHeaderAPI
) -> None:
    # The base VM rules (number, timestamp, extraData size, gas/base fee via cls.validate_gas),
    # without Paris' post-merge constants, then the QBFT constants.
    VM.validate_header.__func__(cls, header, parent_header)  # type: ignore[attr-defined]
    if header.difficulty != 1:
        raise ValidationError(f"QBFT difficulty must be 1, got {header.difficulty}")
    if header.mix_hash != BFT_MIX_HASH:
        raise ValidationError("QBFT mixHash must be the BFT constant")
    if header.nonce != ZERO_NONCE:
        raise ValidationError("QBFT nonce must be 0")
    if header.uncles_hash != constants.EMPTY_UNCLE_HASH:
        raise ValidationError("QBFT blocks have no ommers")


class _QbftMixin:
    extra_data_max_bytes = _QBFT_EXTRA_MAX
    consensus_class: type[ConsensusAPI] = NoProofConsensus

    @staticmethod
    def get_block_reward() -> int:
        return 0  # Besu BFT "blockreward" defaults to 0

    @classmethod
    def get_nephew_reward(cls) -> int:
        return 0

    def _assign_block_rewards(self, block: BlockAPI) -> None:
        pass

    @classmethod
    def validate_header(cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI) -> None:
        _validate_qbft_header(cls, header, parent_header)  # type: ignore[arg-type]


class QbftLondonVM(_QbftMixin, LondonVM):
    fork = "qbft-london"
    create_header_from_parent = staticmethod(_qbft_header_factory("london"))


class QbftShanghaiVM(_QbftMixin, ShanghaiVM):
    fork = "qbft-shanghai"
    create_header_from_parent = staticmethod(_qbft_header_factory("shanghai"))


class QbftCancunVM(_QbftMixin, CancunVM):
    fork = "qbft-cancun"
    create_header_from_parent = staticmethod(_qbft_header_factory("cancun"))


class QbftPragueVM(_QbftMixin, PragueVM):
    fork = "qbft-prague"
    create_header_from_parent = staticmethod(_qbft_header_factory("prague"))


class PlainShanghaiVM(ShanghaiVM):
    consensus_class: type[ConsensusAPI] = NoProofConsensus


class PlainCancunVM(CancunVM):
    consensus_class: type[ConsensusAPI] = NoProofConsensus


class PlainPragueVM(PragueVM):
    consensus_class: type[ConsensusAPI] = NoProofConsensus


QBFT_VMS: Final[dict[str, type[VM]]] = {
    "london": QbftLondonVM,
    "shanghai": QbftShanghaiVM,
    "cancun": QbftCancunVM,
    "prague": QbftPragueVM,
}
PLAIN_VMS: Final[dict[str, type[VM]]] = {
    "shanghai": PlainShanghaiVM,
    "cancun": PlainCancunVM,
    "prague": PlainPragueVM,
}


def vm_class_for(consortium: bool, fork: str) -> type[VM]:
    table = QBFT_VMS if consortium else PLAIN_VMS
    if fork not in table:
        from adapters.errors import ConfigError

        raise ConfigError(
            "fork not supported in this devnet mode",
            key="fork",
            value=fork,
            allowed=sorted(table),
        )
    return table[fork]


def chain_class_for(vm_class: type[VM], chain_id: int) -> type[Chain]:
    chain: type[Chain] = Chain.configure(
        __name__="DevnetChain",
        vm_configuration=((constants.GENESIS_BLOCK_NUMBER, vm_class),),
        chain_id=chain_id,
    )
    return chain
