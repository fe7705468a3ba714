"""The read endpoints on a real store: chains from the configuration, a transfer by message id
or tracking id with its full history, the transfers of a source transaction, and the answers
for ids that are malformed, unknown or ambiguous."""

from __future__ import annotations

from datetime import UTC, datetime

from eth_utils.address import to_checksum_address

from adapters.types import ChainId, Height, TxHash
from gateway.api.models import encode_cursor
from gateway.domain.messages import MessageId
from gateway.domain.status import MessageCursor, MessageStatus, NewMessage, TrackingKind
from gateway.store import Store
from tests.api.conftest import HUB, PUBLIC, ApiClient
from tests.store.conftest import T0, Clock, h32, new_message, scan

ON_BOTH_STORES = True  # tests/api/conftest.py

S = MessageStatus
UNKNOWN_ID = "0x" + "ab" * 32


def hub_message(nonce: int, **kwargs: object) -> NewMessage:
    return new_message(nonce, src=HUB, dst=PUBLIC, **kwargs)  # type: ignore[arg-type]


def hx(value: bytes) -> str:
    return "0x" + value.hex()


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def deliver(store: Store, clock: Clock, item: NewMessage) -> TxHash:
    """Move a recorded message through its life as the relayer does; its delivery tx."""
    [claimed] = await store.claim_messages(
        "relayer-1", dst_chain_id=ChainId(PUBLIC), statuses=[S.FINAL], limit=1, lease_s=30
    )
    assert claimed.id == item.id
    clock.advance(1)
    await store.transition(item.id, "relayer-1", S.HEADER_READY, detail="header accepted")
    clock.advance(1)
    delivery = TxHash(h32("delivery", item.id))
    await store.transition(item.id, "relayer-1", S.SUBMITTED, tx_hash=delivery)
    clock.advance(1)
    await store.transition(item.id, "relayer-1", S.DELIVERED, block_number=Height(77))
    return delivery


async def test_chains_are_the_configured_ones(api: ApiClient) -> None:
    answer = await api.get("/v1/chains")
    assert answer.status == 200
    assert answer.body == {
        "items": [
            {
                "name": "consortium",
                "chain_id": HUB,
                "kind": "qbft",
                "finality": {"kind": "instant", "confirmations": None, "time_to_finality_s": 5.0},
            },
            {
                "name": "public",
                "chain_id": PUBLIC,
                "kind": "evm",
                "finality": {
                    "kind": "confirmations",
                    "confirmations": 2,
                    "time_to_finality_s": 36.0,
                },
            },
        ]
    }
    # The provider URLs (with their API keys) are nobody's business.
    assert "SECRETKEY" not in str(answer.body)


async def test_a_transfer_by_message_id_with_its_full_history(
    api: ApiClient, store: Store, clock: Clock
) -> None:
    item = hub_message(1)
    created = clock.now
    assert await scan(store, [item], chain=HUB) == 1
    delivery = await deliver(store, clock, item)

    answer = await api.get(f"/v1/transfers/{hx(item.id)}")
    assert answer.status == 200, answer.body
    body = answer.body
    m = item.message
    assert {k: v for k, v in body.items() if k != "history"} == {
        "id": hx(item.id),
        "tracking_id": None,
        "status": "delivered",
        "reason": None,
        "src_chain_id": HUB,
        "dst_chain_id": PUBLIC,
        "src_endpoint": to_checksum_address(m.src_endpoint),
        "dst_endpoint": to_checksum_address(m.dst_endpoint),
        "nonce": "1",
        "sender": to_checksum_address(m.sender),
        "receiver": to_checksum_address(m.receiver),
        "payload": hx(m.payload),
        "src_block_number": item.src_block_number,
        "src_block_hash": hx(item.src_block_hash),
        "src_tx_hash": hx(item.src_tx_hash),
        "src_log_index": 1,
        "attempts": 1,
        "delivery_tx_hash": hx(delivery),
        "delivery_block_number": 77,
        "created_at": rfc3339(created),
        "updated_at": rfc3339(clock.now),
    }
    steps = [(h["from"], h["to"]) for h in body["history"]]
    assert steps == [
        (None, "final"),
        ("final", "header_ready"),
        ("header_ready", "submitted"),
        ("submitted", "delivered"),
    ]
    assert body["history"][0]["tx_hash"] == hx(item.src_tx_hash)
    assert body["history"][2]["tx_hash"] == hx(delivery)
    assert body["history"][1]["detail"] == "header accepted"
    assert body["history"][-1]["at"] == rfc3339(clock.now)
    assert "owner" not in body["history"][0]  # which relayer process worked on it is internal


async def test_a_transfer_by_tracking_id(api: ApiClient, store: Store) -> None:
    tracked = hub_message(1, tracking_id="trk-1")
    await scan(store, [tracked], chain=HUB)
    answer = await api.get("/v1/transfers/trk-1")
    assert answer.status == 200
    assert (answer.body["id"], answer.body["tracking_id"]) == (hx(tracked.id), "trk-1")

    # A tracking id handed out for a message id.
    other = hub_message(2)
    await scan(store, [other], chain=HUB)
    await store.track("by-ref", TrackingKind.MESSAGE, other.id)
    assert (await api.get("/v1/transfers/by-ref")).body["id"] == hx(other.id)


async def test_tracking_ids_that_name_no_single_transfer(api: ApiClient, store: Store) -> None:
    # Handed out for a source transaction the watcher has not recorded yet.
    pending_tx = TxHash(h32("pending"))
    await store.track(
        "pending", TrackingKind.MESSAGE, src_chain_id=ChainId(HUB), src_tx_hash=pending_tx
    )
    answer = await api.get("/v1/transfers/pending")
    assert (answer.status, answer.body["type"]) == (
        404,
        "https://xgate.dev/problems/transfer-not-found",
    )
    assert "not final or not seen" in answer.body["detail"]

    # The transaction turns out to send two messages: the tracking id names both.
    tx = bytes(pending_tx)
    await scan(store, [hub_message(1, tx=tx), hub_message(2, tx=tx, block=11)], chain=HUB)
    answer = await api.get("/v1/transfers/pending")
    assert (answer.status, answer.body["type"]) == (
        409,
        "https://xgate.dev/problems/ambiguous-tracking-id",
    )

    # A swap's tracking id is no transfer's.
    await store.track("a-swap", TrackingKind.SWAP, h32("swap"))
    answer = await api.get("/v1/transfers/a-swap")
    assert answer.status == 404 and "names a swap" in answer.body["detail"]

    answer = await api.get("/v1/transfers/never-handed-out")
    assert answer.status == 404 and "never-handed-out" in answer.body["detail"]


async def test_malformed_and_unknown_message_ids(api: ApiClient) -> None:
    cases = {
        "0x" + "ab" * 31: "64 hex digits",  # one byte short
        "0x" + "ab" * 33: "64 hex digits",  # one byte long
        "0x" + "zz" * 32: "64 hex digits",  # not hex
        "0x" + "AB" * 32: "lower case",  # the contract's hex is lowercase
        "not%20an%20id": "tracking id",
        "x" * 101: "tracking id",  # tracking ids are 1..100 characters
    }
    for bad, hint in cases.items():
        answer = await api.get(f"/v1/transfers/{bad}")
        assert answer.status == 400, bad
        assert answer.body["type"] == "https://xgate.dev/problems/invalid-request"
        [error] = answer.body["errors"]
        assert error["field"] == "path.id" and hint in error["message"], error
        assert bad not in str(answer.body["errors"])  # input is never echoed

    answer = await api.get(f"/v1/transfers/{UNKNOWN_ID}")
    assert answer.status == 404
    assert answer.body["title"] == "Transfer not found" and UNKNOWN_ID in answer.body["detail"]


async def test_transfers_of_a_source_transaction(api: ApiClient, store: Store) -> None:
    tx = h32("tx with two messages")
    first, second = hub_message(1, tx=tx), hub_message(2, tx=tx, block=11)
    await scan(store, [first, second, hub_message(3)], chain=HUB)

    answer = await api.get(f"/v1/transfers?src_chain_id={HUB}&src_tx_hash={hx(tx)}")
    assert answer.status == 200
    assert [i["id"] for i in answer.body["items"]] == [hx(first.id), hx(second.id)]
    assert answer.body["next_cursor"] is None
    assert "history" not in answer.body["items"][0]

    # Nothing recorded (yet) for a transaction: an empty page, not an error.
    answer = await api.get(f"/v1/transfers?src_chain_id={PUBLIC}&src_tx_hash={hx(tx)}")
    assert (answer.status, answer.body["items"]) == (200, [])


async def test_bad_queries_list_every_bad_field(api: ApiClient) -> None:
    tx = hx(h32("tx"))
    answer = await api.get("/v1/transfers?src_chain_id=5&src_tx_hash=0x12&colour=red")
    assert answer.status == 400
    assert {(e["field"], e["message"]) for e in answer.body["errors"]} == {
        ("query.src_chain_id", "no configured chain has this id"),
        ("query.src_tx_hash", "expected 0x and 64 hex digits (32 bytes), in lower case"),
        ("query.colour", "unknown field"),
    }
    assert "query.colour" in answer.body["detail"]

    cursor = encode_cursor(MessageCursor(T0, MessageId(h32("last"))))
    answer = await api.get(f"/v1/transfers?src_tx_hash={tx}&status=final&cursor={cursor}")
    assert {(e["field"], e["message"]) for e in answer.body["errors"]} == {
        ("query.src_chain_id", "required with src_tx_hash"),
        ("query.status", "not with src_tx_hash (a transaction's transfers are one page)"),
        ("query.cursor", "not with src_tx_hash (a transaction's transfers are one page)"),
    }

    for bad_chain in ("0", "-1", "1.0", "+1", " 1", "0x1", "99999999999999999999", "abc"):
        answer = await api.get(
            "/v1/transfers", params={"src_chain_id": bad_chain, "src_tx_hash": tx}
        )
        assert answer.status == 400, bad_chain
        assert [e["field"] for e in answer.body["errors"]] == ["query.src_chain_id"], bad_chain

    answer = await api.get(f"/v1/transfers?src_chain_id={HUB}&src_chain_id={HUB}&src_tx_hash={tx}")
    assert answer.body["errors"] == [
        {"field": "query.src_chain_id", "message": "given more than once"}
    ]

    # An operation without parameters refuses any.
    answer = await api.get("/v1/chains?verbose=1")
    assert answer.status == 400
    assert answer.body["errors"] == [{"field": "query.verbose", "message": "unknown field"}]


async def test_transfer_list_newest_first_in_pages(
    api: ApiClient, store: Store, clock: Clock
) -> None:
    outbound = [hub_message(n) for n in range(1, 6)]
    for item in outbound:  # one scan a second: each message newer than the one before
        clock.advance(1)
        await scan(store, [item], chain=HUB)
    clock.advance(1)
    inbound = new_message(1, src=PUBLIC, dst=HUB)
    await scan(store, [inbound], chain=PUBLIC)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = f"/v1/transfers?src_chain_id={HUB}&limit=2"
        answer = await api.get(query + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, answer.body
        seen += [item["id"] for item in answer.body["items"]]
        pages += 1
        cursor = answer.body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [hx(item.id) for item in reversed(outbound)]

    everything = (await api.get("/v1/transfers")).body
    assert everything["items"][0]["id"] == hx(inbound.id)
    assert len(everything["items"]) == 6 and everything["next_cursor"] is None

    to_hub = (await api.get(f"/v1/transfers?dst_chain_id={HUB}")).body["items"]
    assert [i["id"] for i in to_hub] == [hx(inbound.id)]

    await deliver(store, clock, outbound[0])
    answer = await api.get("/v1/transfers?status=delivered,parked")
    assert [i["id"] for i in answer.body["items"]] == [hx(outbound[0].id)]
    answer = await api.get("/v1/transfers?status=final&limit=200")
    assert len(answer.body["items"]) == 5


async def test_transfer_list_refuses_bad_paging_and_filters(api: ApiClient) -> None:
    cases = {
        "limit=0": ("query.limit", "expected an integer from 1 to 200"),
        "limit=201": ("query.limit", "expected an integer from 1 to 200"),
        "limit=ten": ("query.limit", "expected an integer from 1 to 200"),
        "cursor=not-a-cursor": (
            "query.cursor",
            "not a cursor this API handed out (use a page's next_cursor as it is)",
        ),
        "status=lost": (
            "query.status",
            "expected statuses separated by commas, among: final, header_ready, submitted, "
            "delivered, already_delivered, parked",
        ),
        "status=final,": (
            "query.status",
            "expected statuses separated by commas, among: final, header_ready, submitted, "
            "delivered, already_delivered, parked",
        ),
        "dst_chain_id=7": ("query.dst_chain_id", "no configured chain has this id"),
    }
    for query, error in cases.items():
        answer = await api.get(f"/v1/transfers?{query}")
        assert answer.status == 400, query
        assert [(e["field"], e["message"]) for e in answer.body["errors"]] == [error], query


async def test_transfer_pages_split_messages_recorded_together(
    api: ApiClient, store: Store
) -> None:
    # One scan: every message has the same creation time; the cursor's id orders them.
    items = [hub_message(n, block=10) for n in range(1, 5)]
    await scan(store, items, chain=HUB)
    seen: list[str] = []
    query = "/v1/transfers?limit=1"
    while True:
        page = (await api.get(query)).body
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        query = f"/v1/transfers?limit=1&cursor={page['next_cursor']}"
    assert seen == sorted((hx(item.id) for item in items), reverse=True)
