"""The relay service follows the consortium's validator set as it changes: a validator is voted
in, then one voted out, and transfers sent before, between and after keep arriving on the
public chain. The header feeder moves the public light client along the set changes itself
(``updateValidatorSet``; a removal whose smaller quorum falls short of two thirds of the
trusted set goes through a run of later headers whose sealers vouch for it), so the client's
trusted set follows the consortium's. Its own devnet: the consortium holds a spare validator
key and seals each block with a rotating quorum, as Besu's proposer does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from adapters.bft import decode_qbft_extra
from adapters.headers import header_from_rpc
from adapters.lightclient.qbft import validator_set_rlp
from adapters.rlpcodec import keccak
from devnet.keys import validator_keys
from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from harness.services import ServiceProcess
from tests.e2e.conftest import Devnet, wait_delivered

pytestmark = pytest.mark.live

ADMIN, USER = 0, 7
VALIDATORS = 4
AMOUNT = 1_000


@pytest.fixture(scope="module")
async def voting(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    folder = tmp_path_factory.mktemp("e2e-voting")
    config = {"validator_count": VALIDATORS, "spare_validators": 1, "commit_seals": "quorum"}
    async with Devnet.start(folder, consortium_config=config, accounts=SELF_FUNDED_ACCOUNTS) as net:
        yield net


@pytest.fixture(scope="module")
def relaying(voting: Devnet) -> Iterator[ServiceProcess]:
    with running_services(voting.config_path) as service:
        yield service


def listed(net: Devnet) -> tuple[bytes, ...]:
    """The validators the consortium's latest header lists."""
    head = header_from_rpc(net.consortium.rpc("eth_getBlockByNumber", "latest", False))
    return tuple(decode_qbft_extra(head.extra_data).validators)


def mine_until(net: Devnet, done: Callable[[tuple[bytes, ...]], bool], limit: int = 20) -> None:
    for _ in range(limit):
        net.consortium.mine()
        if done(listed(net)):
            return
    raise AssertionError("the devnet's validator set never changed")


def bridge_one(net: Devnet, services: ServiceProcess) -> None:
    """Lock settlement tokens for the public chain and wait for the services to deliver."""
    c = net.consortium
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    user = net.address(USER)
    c.send(token.functions.mint(user, AMOUNT), sender=ADMIN)
    c.send(token.functions.approve(vault.address, AMOUNT), sender=USER)
    lock = c.send(vault.functions.lockERC20(token.address, AMOUNT, net.pid, user), sender=USER)
    net.sync_clocks()  # instant-seal blocks run ahead of the public chain's clock
    [out] = wait_delivered(net, services, "c", lock)
    assert net.contract("p.endpoint").functions.delivered(out.id).call()


def trusted_set_hash(net: Devnet) -> bytes:
    return bytes(net.contract("p.qbft_light_client").functions.validatorSetHash().call())


def set_changes(net: Devnet) -> list[tuple[int, tuple[bytes, ...]]]:
    """The light client's ``ValidatorSetChanged`` events: (height, the new set)."""
    lc = net.contract("p.qbft_light_client")
    events = lc.events.ValidatorSetChanged().get_logs(from_block=0)
    return [
        (e["args"]["number"], tuple(bytes.fromhex(v[2:]) for v in e["args"]["validators"]))
        for e in events
    ]


def test_transfers_keep_arriving_while_a_validator_is_added_then_removed(
    voting: Devnet, relaying: ServiceProcess
) -> None:
    net, c = voting, voting.consortium
    genesis_set = listed(net)
    assert len(genesis_set) == VALIDATORS
    bridge_one(net, relaying)
    assert trusted_set_hash(net) == keccak(validator_set_rlp(genesis_set))

    spare = validator_keys(VALIDATORS + 1)[-1].address
    assert c.rpc("qbft_proposeValidatorVote", "0x" + spare.hex(), True) is True
    mine_until(net, lambda validators: spare in validators)
    c.mine()  # a block of the new set on top
    bridge_one(net, relaying)
    grown = listed(net)
    assert spare in grown and len(grown) == VALIDATORS + 1
    assert trusted_set_hash(net) == keccak(validator_set_rlp(grown))

    leaving = grown[0]
    assert c.rpc("qbft_proposeValidatorVote", "0x" + leaving.hex(), False) is True
    mine_until(net, lambda validators: leaving not in validators)
    for _ in range(4):  # later blocks, whose sealers may vouch for the removal
        c.mine()
    bridge_one(net, relaying)
    shrunk = listed(net)
    assert leaving not in shrunk and len(shrunk) == VALIDATORS
    assert trusted_set_hash(net) == keccak(validator_set_rlp(shrunk))
    # the relayer's updateValidatorSet calls, one per change, in order
    assert [validators for _, validators in set_changes(net)] == [grown, shrunk]
