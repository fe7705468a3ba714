"""What the API keeps per key: API keys (shown once, stored hashed, verified in constant time,
revoked), the nonces of signed requests (a replay is refused until the nonce expires) and
idempotent POSTs (new, running, another body, the stored answer)."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from sqlalchemy import select

from gateway.domain.apikeys import IdempotencyOutcome, Scope, parse_api_key
from gateway.store import NotFound, Store, StoreError, ValueOutOfRange
from gateway.store.models import metadata
from tests.store.conftest import T0, Clock

ED = b"\x07" * 32
ACCOUNT = b"\x42" * 20
Outcome = IdempotencyOutcome


async def _key(store: Store, *scopes: Scope) -> str:
    created = await store.create_api_key("dapp one", scopes or [Scope.DAPP])
    return created.api_key.key_id


# --- API keys ----------------------------------------------------------------------------------


async def test_a_key_is_shown_once_and_stored_hashed(store: Store) -> None:
    created = await store.create_api_key(
        "issuer one",
        [Scope.ISSUER, Scope.READ],
        ed25519_public_key=ED,
        chain_account=ACCOUNT,
        rate_per_s=2.5,
        burst=5,
    )
    key = created.api_key
    assert (key.name, key.scopes, key.ed25519_public_key, key.chain_account) == (
        "issuer one",
        {Scope.ISSUER, Scope.READ},
        ED,
        ACCOUNT,
    )
    assert (key.rate_per_s, key.burst, key.created_at, key.revoked_at) == (2.5, 5, T0, None)
    assert created.token not in repr(created)
    parsed = parse_api_key(created.token)
    assert parsed is not None and created.token.startswith(f"xg_{key.key_id}_")
    key_id, secret = parsed
    assert key_id == key.key_id and len(secret) == 43
    # The store holds the secret's sha256 and nothing from which to rebuild the token.
    async with store._engine.connect() as conn:
        row = (await conn.execute(select(metadata.tables["api_keys"]))).one()
    assert bytes(row.secret_sha256) == hashlib.sha256(secret.encode()).digest()
    assert not any(secret in str(v) for v in row)
    assert await store.api_key(key.key_id) == key
    assert await store.verify_api_key(created.token) == key
    # A second key gets another id and secret.
    other = await store.create_api_key("other", [Scope.READ])
    assert other.api_key.key_id != key.key_id and other.token != created.token
    assert other.api_key.chain_account is None
    # Oldest first; the same time orders by id.
    assert [k.key_id for k in await store.api_keys()] == sorted([key.key_id, other.api_key.key_id])


async def test_verify_refuses_wrong_malformed_unknown_and_revoked(
    store: Store, clock: Clock
) -> None:
    created = await store.create_api_key("k", [Scope.READ])
    token = created.token
    key_id, secret = parse_api_key(token)  # type: ignore[misc]
    wrong = f"xg_{key_id}_{'A' * 43}"
    unknown = f"xg_{'0' * 16}_{secret}"
    for bad in (wrong, unknown, "", "xg_", token + "x", token.replace("xg_", "xk_"), "Bearer"):
        assert await store.verify_api_key(bad) is None, bad
    assert await store.verify_api_key(None) is None  # type: ignore[arg-type]

    clock.advance(5)
    revoked = await store.revoke_api_key(key_id)
    assert revoked.revoked_at == clock.now and not revoked.active
    assert await store.verify_api_key(token) is None
    clock.advance(5)
    again = await store.revoke_api_key(key_id)  # revoking twice keeps the first time
    assert again.revoked_at == revoked.revoked_at
    assert await store.api_keys(include_revoked=False) == []
    assert await store.api_keys() == [revoked]
    with pytest.raises(NotFound):
        await store.revoke_api_key("0" * 16)
    with pytest.raises(StoreError):
        await store.revoke_api_key("not-an-id")
    assert await store.api_key("0" * 16) is None
    assert await store.api_key("zz") is None


async def test_invalid_keys_are_refused_and_nothing_is_written(store: Store) -> None:
    bad: list[dict[str, object]] = [
        {"name": "", "scopes": [Scope.READ]},
        {"name": "   ", "scopes": [Scope.READ]},
        {"name": "x" * 101, "scopes": [Scope.READ]},
        {"name": "tab\there", "scopes": [Scope.READ]},
        {"name": "k", "scopes": []},
        {"name": "k", "scopes": ["root"]},
        # Signing scopes need the key's Ed25519 public key, of 32 bytes.
        {"name": "k", "scopes": [Scope.OPERATOR]},
        {"name": "k", "scopes": [Scope.ISSUER]},
        # An issuer key acts as one chain account (20 bytes); others may name one too.
        {"name": "k", "scopes": [Scope.ISSUER], "ed25519_public_key": ED},
        {"name": "k", "scopes": [Scope.ISSUER], "ed25519_public_key": ED, "chain_account": b""},
        {"name": "k", "scopes": [Scope.READ], "chain_account": b"\x01" * 32},
        {"name": "k", "scopes": [Scope.READ], "chain_account": "0x" + "42" * 20},
        {"name": "k", "scopes": [Scope.READ], "ed25519_public_key": b"\x01" * 31},
        {"name": "k", "scopes": [Scope.READ], "rate_per_s": 0},
        {"name": "k", "scopes": [Scope.READ], "rate_per_s": float("nan")},
        {"name": "k", "scopes": [Scope.READ], "rate_per_s": True},
        {"name": "k", "scopes": [Scope.READ], "burst": 0},
        {"name": "k", "scopes": [Scope.READ], "burst": 2.5},
    ]
    for kwargs in bad:
        with pytest.raises(StoreError):
            await store.create_api_key(**kwargs)  # type: ignore[arg-type]
    assert await store.api_keys() == []


async def test_a_key_may_act_as_a_chain_account(store: Store) -> None:
    """Any key may carry the account it acts as: kept, read back and listed (an issuer key
    must: see the refusals above)."""
    created = await store.create_api_key(
        "operator", [Scope.OPERATOR], ed25519_public_key=ED, chain_account=ACCOUNT
    )
    dapp = await store.create_api_key("dapp", [Scope.DAPP], chain_account=b"\x43" * 20)
    assert created.api_key.chain_account == ACCOUNT
    assert await store.verify_api_key(created.token) == created.api_key
    listed = {k.key_id: k.chain_account for k in await store.api_keys()}
    assert listed == {created.api_key.key_id: ACCOUNT, dapp.api_key.key_id: b"\x43" * 20}
    revoked = await store.revoke_api_key(dapp.api_key.key_id)
    assert revoked.chain_account == b"\x43" * 20


# --- nonces of signed requests -----------------------------------------------------------------


async def test_a_nonce_is_used_once_until_it_expires(store: Store, clock: Clock) -> None:
    a, b = await _key(store), await _key(store)
    nonce = "n0nce-AAAAAAAAAAAAAAA"
    until = clock.now.replace(minute=5)
    assert await store.use_nonce(a, nonce, until) is True
    assert await store.use_nonce(a, nonce, until) is False  # a replay
    assert await store.use_nonce(b, nonce, until) is True  # another key's nonce space
    assert await store.use_nonce(a, nonce + "x", until) is True
    clock.advance(299)
    assert await store.use_nonce(a, nonce, until) is False
    clock.advance(1)  # the window passed: the nonce is pruned and may be used again
    assert await store.use_nonce(a, nonce, clock.now.replace(minute=10)) is True
    assert await store.use_nonce(a, nonce, clock.now.replace(minute=10)) is False
    async with store._engine.connect() as conn:
        left = (await conn.execute(select(metadata.tables["request_nonces"]))).all()
    assert sorted((r.key_id, r.nonce) for r in left) == [(a, nonce)]  # the others expired


async def test_invalid_nonces_are_refused(store: Store, clock: Clock) -> None:
    key = await _key(store)
    later = clock.now.replace(minute=5)
    for nonce in ("short", "x" * 65, "has space in it!!", "é" * 20):
        with pytest.raises(StoreError):
            await store.use_nonce(key, nonce, later)
    with pytest.raises(StoreError):
        await store.use_nonce(key, "a" * 16, clock.now)  # expires now: would be reusable at once
    with pytest.raises(StoreError):
        await store.use_nonce("0" * 16, "a" * 16, later)  # no such key
    with pytest.raises(StoreError):
        await store.use_nonce("KEY", "a" * 16, later)
    assert await store.use_nonce(key, "a" * 16, later) is True  # nothing was written before


async def test_concurrent_uses_of_one_nonce_let_one_through(
    store: Store, other_store: Store, clock: Clock
) -> None:
    key = await _key(store)
    until = clock.now.replace(minute=5)
    results = await asyncio.gather(
        *(s.use_nonce(key, "same-nonce-0123456789", until) for s in [store, other_store] * 5)
    )
    assert sorted(results) == [False] * 9 + [True]


# --- idempotent POSTs --------------------------------------------------------------------------


def _body(n: object) -> bytes:
    return hashlib.sha256(repr(n).encode()).digest()


async def test_idempotent_request_life(store: Store, clock: Clock) -> None:
    key = await _key(store)
    body = _body(1)
    assert (await store.begin_idempotent(key, "k-1", body)).outcome is Outcome.NEW
    assert (await store.begin_idempotent(key, "k-1", body)).outcome is Outcome.IN_PROGRESS
    assert (await store.begin_idempotent(key, "k-1", _body(2))).outcome is Outcome.MISMATCH
    await store.finish_idempotent(key, "k-1", body, 201, b'{"id":1}')
    answer = await store.begin_idempotent(key, "k-1", body)
    assert (answer.outcome, answer.status, answer.response) == (Outcome.DONE, 201, b'{"id":1}')
    assert (await store.begin_idempotent(key, "k-1", _body(2))).outcome is Outcome.MISMATCH
    with pytest.raises(NotFound):  # answered already
        await store.finish_idempotent(key, "k-1", body, 500, b"")
    # Another key may use the same idempotency key.
    other = await _key(store)
    assert (await store.begin_idempotent(other, "k-1", _body(2))).outcome is Outcome.NEW

    # After 24 h the answer is forgotten: the key starts a new request.
    clock.advance(24 * 3600)
    assert (await store.begin_idempotent(key, "k-1", _body(3))).outcome is Outcome.NEW


async def test_an_answer_keeps_its_headers(store: Store) -> None:
    key = await _key(store)
    body = _body(1)
    headers = {"Content-Type": "application/json", "X-Probe": "a, b", "Location": "/v1/x/1"}
    assert (await store.begin_idempotent(key, "with", body)).outcome is Outcome.NEW
    await store.finish_idempotent(key, "with", body, 201, b"{}", headers)
    answer = await store.begin_idempotent(key, "with", body)
    assert (answer.outcome, answer.status, answer.response) == (Outcome.DONE, 201, b"{}")
    assert answer.headers == headers
    with pytest.raises(TypeError):  # the answer is a value: its headers too
        answer.headers["X-Probe"] = "c"  # type: ignore[index]
    # Stored as a JSON object with sorted keys, like the store's other JSON columns.
    async with store._engine.connect() as conn:
        stored = (
            await conn.execute(select(metadata.tables["idempotency"].c.response_headers))
        ).scalar_one()
    assert stored == '{"Content-Type":"application/json","Location":"/v1/x/1","X-Probe":"a, b"}'
    # No headers (None) and no header at all ({}) stay apart: the replay tells them apart.
    for idem_key, given in (("none", None), ("empty", {})):
        assert (await store.begin_idempotent(key, idem_key, body)).outcome is Outcome.NEW
        await store.finish_idempotent(key, idem_key, body, 400, b"[]", given)
        assert (await store.begin_idempotent(key, idem_key, body)).headers == given


async def test_a_request_that_died_or_failed_may_run_again(store: Store, clock: Clock) -> None:
    key = await _key(store)
    body = _body(1)
    assert (await store.begin_idempotent(key, "crash", body)).outcome is Outcome.NEW
    clock.advance(299)
    assert (await store.begin_idempotent(key, "crash", body)).outcome is Outcome.IN_PROGRESS
    clock.advance(1)  # marked running for 300 s: its process died
    assert (await store.begin_idempotent(key, "crash", body)).outcome is Outcome.NEW

    assert (await store.begin_idempotent(key, "fails", body)).outcome is Outcome.NEW
    assert await store.abandon_idempotent(key, "fails", _body(9)) is False  # another body
    assert await store.abandon_idempotent(key, "fails", body) is True
    assert await store.abandon_idempotent(key, "fails", body) is False
    assert (await store.begin_idempotent(key, "fails", body)).outcome is Outcome.NEW


async def test_concurrent_begins_let_one_request_run(store: Store, other_store: Store) -> None:
    key = await _key(store)
    answers = await asyncio.gather(
        *(s.begin_idempotent(key, "race", _body(1)) for s in [store, other_store] * 4)
    )
    assert sorted(a.outcome for a in answers) == sorted([Outcome.NEW] + [Outcome.IN_PROGRESS] * 7)


async def test_invalid_idempotency_calls_are_refused(store: Store) -> None:
    key = await _key(store)
    body = _body(1)
    for idem_key in ("", "x" * 129, "tab\tkey", "ключ"):
        with pytest.raises(StoreError):
            await store.begin_idempotent(key, idem_key, body)
    with pytest.raises(StoreError):
        await store.begin_idempotent(key, "k", b"short")
    with pytest.raises(StoreError):
        await store.begin_idempotent(key, "k", body, ttl_s=0)
    with pytest.raises(StoreError):
        await store.begin_idempotent("0" * 16, "k", body)  # no such key
    assert (await store.begin_idempotent(key, "k", body)).outcome is Outcome.NEW
    with pytest.raises(ValueOutOfRange):
        await store.finish_idempotent(key, "k", body, 99, b"")
    with pytest.raises(ValueOutOfRange):
        await store.finish_idempotent(key, "k", body, 200, b"x" * (1024 * 1024 + 1))
    with pytest.raises(NotFound):
        await store.finish_idempotent(key, "k", _body(2), 200, b"")  # another body
    for headers in (
        {"Bad Name": "1"},  # not an HTTP token
        {"X-A": "1\r\nSet-Cookie: x=1"},  # a line break would split the replayed header
        {"X-A": "naïve"},
        {"X-A": "1", "x-a": "2"},  # one name twice
        {"X-A": 1},
    ):
        with pytest.raises(StoreError):
            await store.finish_idempotent(key, "k", body, 200, b"", headers)  # type: ignore[arg-type]
    with pytest.raises(ValueOutOfRange):
        await store.finish_idempotent(key, "k", body, 200, b"", {"X-A": "x" * (64 * 1024)})
    # Still running: the refused answers wrote nothing.
    assert (await store.begin_idempotent(key, "k", body)).outcome is Outcome.IN_PROGRESS
