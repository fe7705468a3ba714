"""The header feeder's keep-alive on real nodes: the consortium devnet, anvil and one ``xgate
run`` process on the devnet's ``xgate.toml`` (default ``light_client_refresh``, 1/2), no test
code relaying.

- A fresh light client gets nothing: the feeder checks its age and sends no header.
- Both chains' clocks jump by 60 % of the trusting period with no message anywhere: the
  feeder refreshes the client on its own (its latest header becomes recent), once.
- They jump by 60 % again, more than the original header's trust had left: the client is
  still alive and a message sent afterwards is delivered.
- Past a whole period more, the trust expires: one error saying governance must re-anchor
  the client, and nothing sent.

The module runs its own devnet: it moves both clocks forward by weeks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.relaynet import SELF_FUNDED_ACCOUNTS, running_services
from harness.services import ServiceProcess, wait_until
from tests.e2e.conftest import Devnet, wait_delivered

pytestmark = pytest.mark.live

ADMIN, USER = 0, 7
JUMP = 0.6  # of the trusting period: above the refresh at 1/2, below the whole period
LABELS = {"chain": "public", "source": "consortium"}
WAIT_S = 60.0  # the devnet's keep-alive checks every second (light_client_check_s)


@pytest.fixture(scope="module")
async def net(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Devnet]:
    folder = tmp_path_factory.mktemp("keepalive")
    async with Devnet.start(folder, accounts=SELF_FUNDED_ACCOUNTS) as devnet:
        yield devnet


@pytest.fixture(scope="module")
def services(net: Devnet) -> Iterator[ServiceProcess]:
    with running_services(net.config_path) as service:
        yield service


def metric(services: ServiceProcess, name: str) -> float | None:
    """The public light client's sample ``name`` in ``/metrics`` (None before it is set)."""
    for family in text_string_to_metric_families(services.metrics()):
        for sample in family.samples:
            if sample.name == name and sample.labels == LABELS:
                return float(sample.value)
    return None


def keepalives(services: ServiceProcess) -> int:
    return int(metric(services, "xgate_light_client_keepalive_total") or 0)


def age(services: ServiceProcess) -> float | None:
    return metric(services, "xgate_light_client_header_age_seconds")


def next_check(services: ServiceProcess) -> float:
    """Wait for the feeder's next keep-alive check (the age it reports moves with the public
    chain's one-second blocks); that age."""
    before = age(services)

    def checked() -> tuple[float] | None:
        now = age(services)
        return (now,) if now is not None and now != before else None

    (found,) = wait_until(checked, WAIT_S, "a keep-alive check", services)
    return found


def accepted_headers(lc: Any) -> int:
    return len(lc.events.HeaderAccepted().get_logs(from_block=0))


def jump(net: Devnet, seconds: int) -> None:
    """Move both chains' clocks forward by ``seconds`` (the consortium mines a block there)."""
    net.consortium.advance_time(seconds)
    net.sync_clocks()


def wait_refreshed(net: Devnet, services: ServiceProcess, lc: Any, period: int) -> int:
    """Wait until the light client's latest header is recent on the public chain's clock;
    its timestamp."""

    def recent() -> int | None:
        latest = int(lc.functions.latestTimestamp().call())
        return latest if net.public.now() - latest < period // 100 else None

    found: int = wait_until(recent, WAIT_S, "the light client refreshed", services)
    return found


def test_the_feeder_keeps_a_quiet_light_client_alive_and_leaves_a_fresh_one_alone(
    net: Devnet, services: ServiceProcess
) -> None:
    lc = net.contract("p.qbft_light_client")
    period = int(lc.functions.trustingPeriod().call())
    anchored = int(lc.functions.latestTimestamp().call())
    headers = accepted_headers(lc)

    # Fresh: two checks see a young header and send nothing.
    next_check(services)
    assert next_check(services) < period / 2
    assert (keepalives(services), accepted_headers(lc)) == (0, headers)

    # 60 % of the period passes on both chains with no message: the feeder refreshes the
    # client by itself, with one header.
    jump(net, int(JUMP * period))
    first = wait_refreshed(net, services, lc, period)
    assert first >= anchored + int(JUMP * period)
    wait_until(lambda: keepalives(services) == 1, WAIT_S, "the keep-alive counted", services)
    assert accepted_headers(lc) == headers + 1
    # Fresh again: the next checks send nothing more.
    next_check(services)
    assert next_check(services) < period / 2
    assert (keepalives(services), accepted_headers(lc)) == (1, headers + 1)

    # Another 60 %: more than the anchored header's trust had left (without the keep-alive
    # the client would now refuse every header), less than the refreshed one's.
    second_jump = int(JUMP * period)
    assert second_jump > anchored + period - net.public.now()
    assert second_jump < first + period - net.public.now()
    jump(net, second_jump)
    assert net.public.now() >= anchored + period
    second = wait_refreshed(net, services, lc, period)
    assert second >= first + second_jump
    wait_until(lambda: keepalives(services) == 2, WAIT_S, "the second keep-alive", services)

    # Still alive: a message sent now is delivered.
    c = net.consortium
    token, vault = net.contract("c.settlement_token"), net.contract("c.vault")
    wrapped = net.contract("p.wrapped_settlement_token")
    user, amount = net.address(USER), 1_000_000
    c.send(token.functions.mint(user, amount), sender=ADMIN)
    c.send(token.functions.approve(vault.address, amount), sender=USER)
    before = wrapped.functions.balanceOf(user).call()
    lock = c.send(vault.functions.lockERC20(token.address, amount, net.pid, user), sender=USER)
    wait_delivered(net, services, "c", lock)
    assert wrapped.functions.balanceOf(user).call() == before + amount
    assert keepalives(services) == 2

    # Left past a whole period (the relayer asleep), the trust expires: the feeder says once
    # that governance must re-anchor the client, and sends nothing.
    headers = accepted_headers(lc)
    latest = int(lc.functions.latestTimestamp().call())
    jump(net, latest + period - net.public.now() + 60)
    assert next_check(services) >= period
    next_check(services)
    assert metric(services, "xgate_light_client_trust_left_seconds") == 0
    assert services.log is not None
    assert services.log.read_text().count("governance must re-anchor it") == 1
    assert (keepalives(services), accepted_headers(lc)) == (2, headers)
