"""The inbox on each database: stored once, one issue at a time in order, leases, fencing."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from flags.database import make_engine
from webhook import inbox


def store(engine: sa.Engine, key: str, iid: int) -> bool:
    return inbox.store(
        engine, delivery_key=key, kind="Issue Hook", project_id=1, issue_iid=iid,
        event_uuid=None, payload='{"object_kind": "issue"}',
    )  # fmt: skip


def test_store_claim_order_lease_and_fencing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert store(engine, "a1", 1) and store(engine, "b1", 2) and store(engine, "a2", 1)
        assert not store(engine, "a1", 1)  # a redelivery
        first = inbox.claim(engine, "w1", lease=30)
        second = inbox.claim(engine, "w2", lease=30)
        assert first is not None and second is not None
        assert (first.delivery_key, second.delivery_key) == ("a1", "b1")
        assert first.payload == {"object_kind": "issue"} and first.attempts == 1
        # a2 waits for a1: one issue at a time, in arrival order.
        assert inbox.claim(engine, "w3", lease=30) is None
        assert inbox.complete(engine, first.id, "w1")
        third = inbox.claim(engine, "w3", lease=30)
        assert third is not None and third.delivery_key == "a2"

        # A lease that ran out is claimed again; the old owner can no longer finish.
        later = inbox.utcnow() + dt.timedelta(seconds=31)
        again = inbox.claim(engine, "w4", lease=30, now=later)
        assert again is not None and again.delivery_key == "b1" and again.attempts == 2
        assert not inbox.complete(engine, second.id, "w2")
        assert inbox.fail(engine, again.id, "w4", error="boom")
        assert [d.delivery_key for d in inbox.listing(engine, [inbox.FAILED])] == ["b1"]
        assert inbox.retry(engine, again.id).status == inbox.PENDING
        assert inbox.counts(engine) == {inbox.DONE: 1, inbox.PROCESSING: 1, inbox.PENDING: 1}
    finally:
        engine.dispose()


def test_a_lease_is_renewed_by_its_owner_only_and_timed_by_the_database(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        assert store(engine, "r1", 1)
        claimed = inbox.claim(engine, "w1", lease=30)
        assert claimed is not None
        assert inbox.renew(engine, claimed.id, "w1", lease=30)
        assert not inbox.renew(engine, claimed.id, "w2", lease=30)
        assert inbox.claim(engine, "w2", lease=30) is None  # renewed: still w1's
        # A lease that ran out (by the database's clock) goes to the next claim,
        # and its old owner can neither renew nor finish.
        assert inbox.renew(engine, claimed.id, "w1", lease=-1)
        again = inbox.claim(engine, "w2", lease=30)
        assert again is not None and again.id == claimed.id and again.attempts == 2
        assert not inbox.renew(engine, claimed.id, "w1", lease=30)
        assert not inbox.complete(engine, claimed.id, "w1")
        assert inbox.complete(engine, again.id, "w2")
    finally:
        engine.dispose()
