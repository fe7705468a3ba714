"""Credit attestation steps in the event log, and its retention (docs/api.md §3): a stored
report is an ``issued`` event, the registry's publication and revocation messages are
``published`` / ``revoked`` events (a look-alike from another sender is not); old events are
pruned in bounded batches, keeping those a pending delivery waits for and the last one, and a
reader resuming from an id whose followers are gone is told so."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from adapters.types import Address, Hash32
from gateway.domain.apikeys import Scope
from gateway.domain.credit_reports import attestation_id, grade_bytes
from gateway.domain.events import EventKind
from gateway.domain.payloads import CreditAttestation, CreditRevocation, encode_payload
from gateway.domain.status import NewMessage
from gateway.store import Store
from tests.store.conftest import T0, Clock, addr, checkpoint, h32, new_message, scan

REGISTRY, SUBJECT, ISSUER = addr(0x33), addr(0x42), addr(0x55)  # 0x33: new_message's sender
DAY = timedelta(days=1)


def _carrying(nonce: int, payload: bytes, *, sender: Address = REGISTRY) -> NewMessage:
    item = new_message(nonce)
    return replace(item, message=replace(item.message, payload=payload, sender=sender))


async def test_credit_steps_are_events(store: Store) -> None:
    att = Hash32(h32("attestation"))
    await store.put_credit_report(
        att, SUBJECT, Hash32(h32("report")), {b"\xaa" * 32: b"\x01" * 60}, issuer=ISSUER
    )
    # The same report again stores nothing: no second event.
    await store.put_credit_report(att, SUBJECT, Hash32(h32("report")), {b"\xaa" * 32: b"\x01" * 60})
    attested = CreditAttestation(SUBJECT, 3, 742, "AA-", ISSUER, 1, 2**40, Hash32(h32("report")))
    published = _carrying(1, encode_payload(attested))
    revoked = _carrying(2, encode_payload(CreditRevocation(SUBJECT, 4, ISSUER)))
    spoofed = _carrying(3, encode_payload(attested), sender=addr(0x66))
    await store.record_scan(
        published.message.src_chain_id,
        "MessageSent",
        None,
        checkpoint(20),
        [published, revoked, spoofed],
        credit_registry=REGISTRY,
    )
    credit = await store.events_after(0, 100, [EventKind.CREDIT])
    assert [(e.ref, e.data["action"]) for e in credit] == [
        (att, "issued"),
        (published.id, "published"),
        (revoked.id, "revoked"),
    ]
    issued, pub, rev = (dict(e.data) for e in credit)
    assert issued == {
        "action": "issued", "subject": "0x" + SUBJECT.hex(), "attestation_id": "0x" + att.hex(),
        "report_hash": "0x" + h32("report").hex(), "issuer": "0x" + ISSUER.hex(),
        "version": None, "chain_id": None, "tx_hash": None, "readers": 1,
    }  # fmt: skip
    expected_id = attestation_id(
        chain_id=1, registry=REGISTRY, subject=SUBJECT, issuer=ISSUER, score=742,
        grade=grade_bytes("AA-"), valid_until=2**40, report_hash=h32("report"),
    )  # fmt: skip
    assert pub["attestation_id"] == "0x" + expected_id.hex()
    assert (pub["version"], pub["chain_id"]) == (3, 2)
    assert pub["tx_hash"] == "0x" + published.src_tx_hash.hex()
    assert (rev["version"], rev["chain_id"], rev["attestation_id"]) == (4, 2, None)
    # Each message is a message event too (the spoofed one included), all in one transaction.
    assert len(await store.events_after(0, 100, [EventKind.MESSAGE])) == 3


async def test_old_events_are_pruned_in_batches_keeping_what_deliveries_wait_for(
    store: Store, clock: Clock
) -> None:
    key = (await store.create_api_key("dapp", [Scope.DAPP])).api_key.key_id
    hook = await store.create_webhook(key, "https://h.example/x", "s" * 32, [EventKind.MESSAGE])
    await scan(store, [new_message(n) for n in range(1, 6)])  # events 1..5 at T0, 5 deliveries
    for event_id in (1, 2):  # delivered, dead-lettered: finished
        await store.claim_deliveries("d", limit=1, lease_s=60)
        if event_id == 1:
            await store.record_delivery_success(hook.id, event_id, "d")
        else:
            await store.record_delivery_failure(
                hook.id, event_id, "d", "500", retry_at=T0, max_attempts=1
            )
    # 3, 4 and 5 are still pending.
    clock.advance(40 * 86400)
    await scan(store, [new_message(6)])  # a recent event (T0 + 40 days)
    assert await store.prune_events(clock.now - 30 * DAY, limit=1) == 1
    assert await store.prune_events(clock.now - 30 * DAY, limit=10) == 1
    assert await store.prune_events(clock.now - 30 * DAY, limit=10) == 0
    assert [e.id for e in await store.events_after(0, 100)] == [3, 4, 5, 6]
    assert await store.delivery(hook.id, 1) is None and await store.delivery(hook.id, 2) is None
    # A disabled webhook's pending deliveries wait for nothing any more.
    await store.disable_webhook(hook.id)
    assert await store.prune_events(clock.now - 30 * DAY) == 3
    assert [e.id for e in await store.events_after(0, 100)] == [6]
    # The last event is never pruned: SQLite would give its id out again.
    assert await store.prune_events(clock.now + DAY) == 0
    await scan(store, [new_message(7)])
    assert [e.id for e in await store.events_after(0, 100)] == [6, 7]
    assert await store.delivery(hook.id, 3) is None


async def test_a_reader_resuming_before_pruned_events_is_told(store: Store, clock: Clock) -> None:
    await scan(store, [new_message(n) for n in range(1, 5)])  # 1..4 at T0
    clock.advance(40 * 86400)
    await scan(store, [new_message(5)])  # 5, recent
    keep = 30 * DAY
    assert not await store.events_pruned_after(2, keep)  # nothing pruned yet
    assert await store.prune_events(clock.now - keep, limit=2) == 2  # 1, 2
    assert await store.events_pruned_after(0, keep) is False  # the log as kept
    assert await store.events_pruned_after(1, keep)  # 2 is gone
    assert not await store.events_pruned_after(2, keep)  # 3, 4, 5 are all there
    assert not await store.events_pruned_after(4, keep)
    assert not await store.events_pruned_after(5, keep) and not await store.events_pruned_after(
        99, keep
    )
    assert await store.prune_events(clock.now - keep) == 2  # 3, 4
    assert await store.events_pruned_after(2, keep) and await store.events_pruned_after(3, keep)
    assert not await store.events_pruned_after(4, keep)
