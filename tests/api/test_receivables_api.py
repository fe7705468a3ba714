"""Receivables through the API and the SDK on the session's real nodes (tests/helpers/
receivables.py: a home Receivable on the consortium devnet, its copies on anvil, one route
made private): ``GET /v1/receivables/{chain_id}/{token_id}`` on the hub and on the public chain
(a copy with full terms and a private one), its 404s and 400s; ``POST .../disclosures/verify``
with a valid disclosure, forged terms, a wrong salt, another token's disclosure, as terms and
salt; the SDK's seal -> open -> verify round trip, the salt checked on the client. Every answer
is checked against the app's OpenAPI document (``ApiClient``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from nacl.public import PrivateKey

from gateway.domain.disclosure import encode_disclosure, terms_commitment
from gateway.sdk import DisclosureRefused, XgateClient
from tests.contracts._assets_helpers import ALICE, raw
from tests.contracts.test_receivable_settlement_bridge import DEBTOR, FACE, FINANCIER
from tests.helpers.receivables import ADVANCE, MISSING, ReceivableNet
from tests.helpers.receivables import net as net  # the module's world and API

pytestmark = pytest.mark.live

PROBLEMS = "https://xgate.dev/problems/"


def _path(chain_id: int, token_id: int | str) -> str:
    return f"/v1/receivables/{chain_id}/{token_id}"


async def test_the_home_receivable_on_the_hub_shows_its_terms_state_and_where_it_is(
    net: ReceivableNet,
) -> None:
    w = net.world
    kept = await net.api.get(_path(net.hub_id, net.home_only))
    assert kept.status == 200, kept.body
    body = kept.body
    assert (body["kind"], body["chain_id"], body["token_id"]) == (
        "home", net.hub_id, str(net.home_only),
    )  # fmt: skip
    assert body["contract"] == w.receivable.address and body["owner"] == w.addr(ALICE)
    assert body["wrapped"] is None
    home = body["home"]
    assert home["state"] == "acknowledged" and home["locked_to_chain_id"] is None
    assert (home["paid"], home["outstanding"], home["days_past_due"]) == ("0", str(FACE), 0)
    assert home["parent_id"] is None and home["financing"] == []
    terms = w.terms(net.home_only)
    assert home["terms"]["debtor"] == w.addr(DEBTOR) and home["terms"]["currency"] == "CNY"
    assert home["terms"]["face_value"] == str(terms.face_value)
    assert home["terms"]["document_hash"] == "0x" + terms.document_hash.hex()

    locked = await net.api.get(_path(net.hub_id, net.private))
    assert locked.body["owner"] == w.vault.address
    assert locked.body["home"]["locked_to_chain_id"] == net.public_id

    split = (await net.api.get(_path(net.hub_id, net.financed))).body
    assert split["owner"] == w.addr(FINANCIER) and split["home"]["state"] == "split"
    assert split["home"]["closed_at"] is not None
    [record] = split["home"]["financing"]
    assert (record["financier"], record["advance"], record["discount_bps"]) == (
        w.addr(FINANCIER), str(ADVANCE), 250,
    )  # fmt: skip
    part = (await net.api.get(_path(net.hub_id, net.part))).body["home"]
    assert part["parent_id"] == str(net.financed) and part["state"] == "acknowledged"
    assert part["terms"]["face_value"] == str(FACE - FACE // 4)


async def test_public_copies_show_their_terms_or_only_their_commitment(
    net: ReceivableNet,
) -> None:
    w = net.world
    public = (await net.api.get(_path(net.public_id, net.public))).body
    assert (public["kind"], public["contract"], public["home"]) == (
        "wrapped",
        w.wrapped.address,
        None,
    )
    copy = public["wrapped"]
    assert copy["private"] is False and copy["commitment"] is None
    assert copy["terms"]["face_value"] == str(FACE) and copy["terms"]["debtor"] == w.addr(DEBTOR)
    assert (copy["home_chain_id"], copy["home_receivable"]) == (net.hub_id, w.receivable.address)
    assert (copy["paid"], copy["settled"]) == ("0", False)

    private = (await net.api.get(_path(net.public_id, net.private))).body
    copy = private["wrapped"]
    assert private["owner"] == w.addr(ALICE)
    assert copy["private"] is True and copy["terms"] is None
    expected = terms_commitment(net.salt, w.terms(net.private))
    assert copy["commitment"] == "0x" + expected.hex()


@pytest.mark.parametrize(
    ("where", "status", "slug"),
    [
        ("unknown-chain", 404, "unknown-chain"),
        ("missing-home", 404, "receivable-not-found"),
        ("not-bridged", 404, "receivable-not-found"),
        ("bad-token", 400, "invalid-request"),
        ("bad-chain", 400, "invalid-request"),
    ],
)
async def test_unknown_chains_and_tokens_are_404_and_bad_ids_400(
    net: ReceivableNet, where: str, status: int, slug: str
) -> None:
    path = {
        "unknown-chain": _path(424242, 1),
        "missing-home": _path(net.hub_id, MISSING),
        "not-bridged": _path(net.public_id, net.home_only),
        "bad-token": _path(net.hub_id, "0x10"),
        "bad-chain": _path(0, 1),
    }[where]
    answer = await net.api.get(path)
    assert answer.status == status, answer.body
    assert answer.body["type"] == PROBLEMS + slug


async def test_verify_answers_valid_only_for_the_tokens_own_terms_and_salt(
    net: ReceivableNet,
) -> None:
    w = net.world
    verify = _path(net.public_id, net.private) + "/disclosures/verify"
    good = net.disclosure(net.private, net.salt)

    async def verdict(body: dict[str, Any], path: str = verify) -> dict[str, Any]:
        answer = await net.api.request("POST", path, json=body)
        assert answer.status == 200, answer.body
        return dict(answer.body)

    def hexed(d: Any) -> dict[str, Any]:
        return {"disclosure": "0x" + encode_disclosure(d).hex()}

    valid = await verdict(hexed(good))
    assert (valid["valid"], valid["reason"], valid["detail"]) == (True, None, None)
    assert valid["commitment"] == "0x" + good.commitment.hex()

    forged = replace(good, terms=replace(good.terms, face_value=FACE * 10))
    assert (await verdict(hexed(forged)))["reason"] == "commitment-mismatch"
    wrong_salt = replace(good, salt=net.other_salt)
    assert (await verdict(hexed(wrong_salt)))["reason"] == "commitment-mismatch"
    other_token = net.disclosure(net.other_private, net.other_salt)  # valid for its own token
    assert (await verdict(hexed(other_token)))["reason"] == "other-token"
    other_home = replace(good, home_chain_id=net.public_id)
    assert (await verdict(hexed(other_home)))["reason"] == "other-home"
    public_copy = _path(net.public_id, net.public) + "/disclosures/verify"
    assert (await verdict(hexed(good), public_copy))["reason"] == "not-private"

    terms = {
        "debtor": w.addr(DEBTOR),
        "creditor": w.addr(ALICE),
        "face_value": str(good.terms.face_value),
        "currency": "CNY",
        "due_date": str(good.terms.due_date),
        "document_hash": "0x" + good.terms.document_hash.hex(),
    }
    as_fields = await verdict({"terms": terms, "salt": "0x" + net.salt.hex()})
    assert as_fields["valid"] is True
    assert (await verdict({"terms": {**terms, "face_value": "1"}, "salt": "0x" + net.salt.hex()}))[
        "reason"
    ] == "commitment-mismatch"

    for body in (
        {"disclosure": "0x" + bytes(352).hex()},  # not its tag
        {"terms": terms},  # no salt
        {**hexed(good), "salt": "0x" + net.salt.hex()},  # both forms
        {"terms": terms, "salt": "0x" + bytes(32).hex()},  # a zero salt
    ):
        refused = await net.api.request("POST", verify, json=body)
        assert refused.status == 400, (body, refused.body)
    hub = await net.api.request(
        "POST", _path(net.hub_id, net.private) + "/disclosures/verify", json=hexed(good)
    )
    assert hub.status == 404 and hub.body["type"] == PROBLEMS + "receivables-not-configured"


async def test_sdk_seals_on_the_client_and_the_recipient_opens_and_verifies(
    net: ReceivableNet,
) -> None:
    recipient = PrivateKey.generate()
    async with XgateClient(net.url, net.reader.token) as client:
        view = await client.receivable(net.public_id, net.private)
        assert view.wrapped is not None and view.wrapped.private
        box = await client.seal_disclosure(net.private, net.salt, bytes(recipient.public_key))
        opened = await client.open_sealed_disclosure(box, bytes(recipient))
        assert opened.valid and opened.chain_id == net.public_id
        assert opened.disclosure.terms == net.world.terms(net.private)
        assert opened.disclosure.receivable == raw(net.world.receivable.address)
        verdict = await client.verify_disclosure(net.public_id, net.private, opened.disclosure)
        assert verdict.valid and verdict.commitment == view.wrapped.commitment

        with pytest.raises(DisclosureRefused) as refused:  # never sealed
            await client.seal_disclosure(net.private, net.other_salt, bytes(recipient.public_key))
        assert refused.value.context["reason"] == "commitment-mismatch"
        with pytest.raises(DisclosureRefused):  # not bridged out: no public chain to check
            await client.disclose(net.home_only, net.salt)
