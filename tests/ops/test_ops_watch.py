"""The ops watch (relayers/observe.py): every step sets each signer's balance and each route's
pause from what the chains say, and a pause lifted shows as 0 again."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from adapters.types import Address, ChainId, Finality
from relayers.metrics import RelayMetrics
from relayers.observe import OpsWatch, WatchedRoute, WatchedSigner

RELAYER = Address(b"\x05" * 20)


class Balances:
    def __init__(self, wei: int) -> None:
        self.wei = wei
        self.asked: list[tuple[Address, Finality]] = []

    async def balance(self, address: Address, finality: Finality) -> int:
        self.asked.append((address, finality))
        return self.wei


class Endpoint:
    def __init__(self) -> None:
        self.route_paused = False
        self.endpoint_paused = False
        self.asked: list[ChainId] = []

    async def paused(self, remote_chain_id: ChainId, finality: Finality) -> tuple[bool, bool]:
        self.asked.append(remote_chain_id)
        return self.route_paused, self.endpoint_paused


def samples(metrics: RelayMetrics, name: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(s.labels.values()): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
        if s.name == name
    }


async def test_each_step_reports_balances_and_pauses_as_the_chains_say() -> None:
    metrics = RelayMetrics()
    hub, public = Balances(10**18), Balances(5)
    to_public, to_hub = Endpoint(), Endpoint()
    watch = OpsWatch(
        metrics,
        signers=[
            WatchedSigner("consortium", RELAYER, hub),
            WatchedSigner("public", RELAYER, public),
        ],
        routes=[
            WatchedRoute("consortium->public", ChainId(1337), to_public),
            WatchedRoute("public->consortium", ChainId(31337), to_hub),
        ],
    )
    assert await watch.step() is False
    signer = "0x" + "05" * 20
    assert samples(metrics, "xgate_signer_balance_wei") == {
        ("consortium", signer): 10**18,
        ("public", signer): 5,
    }
    assert samples(metrics, "xgate_route_paused") == {
        ("consortium->public",): 0,
        ("public->consortium",): 0,
    }
    assert hub.asked == [(RELAYER, Finality.latest())]
    assert to_public.asked == [1337] and to_hub.asked == [31337]  # the source's chain id

    to_public.route_paused = True
    to_hub.endpoint_paused = True  # the whole endpoint: every route into it
    public.wei = 0
    await watch.step()
    assert samples(metrics, "xgate_route_paused") == {
        ("consortium->public",): 1,
        ("public->consortium",): 1,
    }
    assert samples(metrics, "xgate_signer_balance_wei")[("public", signer)] == 0

    to_public.route_paused = to_hub.endpoint_paused = False
    await watch.step()
    assert set(samples(metrics, "xgate_route_paused").values()) == {0}
