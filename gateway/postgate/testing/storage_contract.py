"""The contract every :class:`~postgate.backends.Storage` honours, as a pytest suite to subclass.

Subclass :class:`StorageContract` in a test module and provide two async fixtures:

* ``storage``: a started, migrated, empty storage (stopped afterwards);
* ``second_storage``: another started instance on the same database, as a second process would
  open it (used to prove that claims and leases never overlap across instances).

Events are stamped from the storage's ``clock`` attribute (a callable returning epoch seconds);
tests that need distinct or exact seconds replace it with :class:`SteppingClock` or
:class:`ManualClock`.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from contextlib import asynccontextmanager

import pytest

from postgate.backends import Storage
from postgate.suppression_rules import drops_for
from postgate.domain import (
    And,
    Event,
    EventQuery,
    Job,
    NewBatch,
    NewRecipient,
    Not,
    Or,
    RecipientStatus,
    RecipientUpdate,
    Suppression,
    Term,
)

DOMAIN = "mg.example.com"
SECOND = 1_000_000


def case_variants(address: str, count: int = 12) -> list[str]:
    """``count`` spellings of ``address`` with the case of its letters flipped at random (seeded)."""
    import random

    rng = random.Random(address)
    return [address.upper(), address.title()] + [
        "".join(c.upper() if rng.random() < 0.5 else c for c in address) for _ in range(count - 2)]


def new_batch(key: str | None = None, email_id: str | None = "email-1", domain: str = DOMAIN,
              created_at: float | None = None, content: bytes = b"From: a@b\r\n\r\nhello") -> NewBatch:
    return NewBatch(
        domain=domain, message_id=f"20250101.{key or 'x'}@{domain}", response_id=f"<20250101.{key}@{domain}>",
        email_id=email_id, idempotency_key=key, tags=["Newsletter", "weekly"], content=content,
        created_at=created_at if created_at is not None else time.time(),
    )


def recipients(count: int, start: int = 0, prefix: str = "user") -> list[NewRecipient]:
    return [
        NewRecipient(address=f"{prefix}{i}@example.org", name=f"User {i}", message_id=f"m{i}@{DOMAIN}",
                     variables={"uuid": f"u-{i}", "n": i})
        for i in range(start, start + count)
    ]


def event(kind: str = "delivered", recipient: str = "a@example.org", key: str | None = None,
          **extra) -> Event:
    payload = {"recipient": recipient, "message": {"headers": {"message-id": "m1@x"}}}
    payload.update(extra.pop("payload", {}))
    return Event(domain=extra.pop("domain", DOMAIN), event=kind, recipient=recipient,
                 message_id=extra.pop("message_id", "m1@x"), payload=payload, key=key, **extra)


class SteppingClock:
    """An event clock one second further on at each reading, so each call gets a second of its own."""

    def __init__(self, start: float | None = None) -> None:
        self.now = float(start if start is not None else int(time.time()))

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


class ManualClock:
    """An event clock that shows ``now`` until a test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class StorageContract:
    """Behaviour every storage must show; see the module docstring for the fixtures to provide."""

    # -- schema and lifecycle -----------------------------------------------------------------

    async def test_migrate_again_applies_nothing(self, storage: Storage) -> None:
        assert await storage.migrate() == []
        assert await storage.migrate() == []

    async def test_check(self, storage: Storage) -> None:
        await storage.check()

    # -- batches ------------------------------------------------------------------------------

    async def test_batch_content_of_every_byte_value_round_trips(self, storage: Storage) -> None:
        # Incompressible: the stored blob holds NUL, quotes, backslashes and high bytes as they are.
        content = bytes(range(256)) * 4 + hashlib.sha512(b"postgate").digest() * 64 + b"\x00'\"\\"
        done = await storage.create_batch(new_batch("blob", content=content), recipients(1))
        batch = await storage.get_batch(done.batch.id)
        assert batch is not None and batch.content == content

    async def test_create_batch_stores_batch_and_ledger(self, storage: Storage) -> None:
        content = b"x" * 10_000 + "é".encode()
        done = await storage.create_batch(new_batch("k1", content=content), recipients(5))
        assert done.created and done.skipped == []
        first, last = done.recipient_ids
        assert last - first == 4
        batch = await storage.get_batch(done.batch.id)
        assert batch == done.batch
        assert batch.content == content and batch.tags == ["Newsletter", "weekly"]
        assert batch.recipient_count == 5 and not batch.enqueued and not batch.accepted_logged
        rows = await storage.list_recipients(batch.id, 0, 100)
        assert [r.id for r in rows] == list(range(first, last + 1))
        assert [r.address for r in rows] == [f"user{i}@example.org" for i in range(5)]
        assert rows[2].variables == {"uuid": "u-2", "n": 2} and rows[2].name == "User 2"
        assert rows[2].message_id == f"m2@{DOMAIN}"
        assert {r.status for r in rows} == {RecipientStatus.QUEUED}
        assert [r.id for r in await storage.list_recipients(batch.id, first + 1, 2)] == [first + 2, first + 3]
        assert await storage.get_batch(batch.id + 1000) is None

    async def test_create_batch_is_idempotent(self, storage: Storage) -> None:
        one = await storage.create_batch(new_batch("same"), recipients(3))
        again = await storage.create_batch(new_batch("same"), recipients(6))
        assert not again.created and again.batch.id == one.batch.id and again.recipient_ids is None
        assert len(await storage.list_recipients(one.batch.id, 0, 100)) == 3
        other = await storage.create_batch(new_batch("same", domain="other.example.com"), recipients(1))
        assert other.created

    async def test_concurrent_duplicates_create_one_batch(self, storage: Storage) -> None:
        results = await asyncio.gather(*(storage.create_batch(new_batch("race"), recipients(3))
                                         for _ in range(4)))
        assert sum(r.created for r in results) == 1
        assert len({r.batch.id for r in results}) == 1

    async def test_overlapping_batches_skip_known_recipients(self, storage: Storage) -> None:
        one = await storage.create_batch(new_batch("a"), recipients(3))
        two = await storage.create_batch(new_batch("b"), [*recipients(2, 2), *recipients(1, 0)])
        assert two.created
        assert sorted(two.skipped) == ["user0@example.org", "user2@example.org"]
        assert two.batch.recipient_count == 1
        rows = await storage.list_recipients(two.batch.id, 0, 100)
        assert [r.address for r in rows] == ["user3@example.org"]
        assert two.recipient_ids == (rows[0].id, rows[0].id)
        assert rows[0].id > one.recipient_ids[1]
        # Everything known: the batch is stored without ledger rows.
        three = await storage.create_batch(new_batch("c"), recipients(2))
        assert three.recipient_ids is None and len(three.skipped) == 2
        # Another email id, or none at all, never collides.
        four = await storage.create_batch(new_batch("d", email_id="email-2"), recipients(3))
        assert four.skipped == [] and four.batch.recipient_count == 3
        five = await storage.create_batch(new_batch("e", email_id=None), recipients(2) + recipients(2))
        six = await storage.create_batch(new_batch("f", email_id=None), recipients(2))
        assert five.batch.recipient_count == 4 and six.batch.recipient_count == 2
        # Within one call, addresses differing only in case are one recipient.
        same = [NewRecipient("x@a.org", None, "m"), NewRecipient("X@a.org", None, "m")]
        seven = await storage.create_batch(new_batch("g", email_id="email-3"), same)
        assert seven.skipped == ["X@a.org"] and seven.batch.recipient_count == 1

    async def test_mark_batch_and_unenqueued(self, storage: Storage) -> None:
        old = await storage.create_batch(new_batch("o", created_at=100.0), recipients(1))
        new = await storage.create_batch(new_batch("n", created_at=200.0), recipients(1, 1))
        assert [b.id for b in await storage.unenqueued_batches(150.0, 10)] == [old.batch.id]
        assert [b.id for b in await storage.unenqueued_batches(300.0, 10)] == [old.batch.id, new.batch.id]
        await storage.mark_batch(old.batch.id, enqueued=True)
        assert [b.id for b in await storage.unenqueued_batches(300.0, 10)] == [new.batch.id]
        await storage.mark_batch(old.batch.id, accepted_logged=True)
        batch = await storage.get_batch(old.batch.id)
        assert batch.enqueued and batch.accepted_logged
        await storage.mark_batch(old.batch.id)
        assert (await storage.get_batch(old.batch.id)).enqueued

    async def test_large_batch(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("big"), recipients(1000))
        first, last = done.recipient_ids
        assert last - first == 999
        rows = await storage.list_recipients(done.batch.id, 0, 2000)
        assert len(rows) == 1000 and [r.id for r in rows] == list(range(first, last + 1))

    # -- claiming -----------------------------------------------------------------------------

    async def test_claim_in_order_with_lease(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("c"), recipients(10))
        first, _ = done.recipient_ids
        claimed = await storage.claim_recipients(done.batch.id, "w1", 60, 4, now=1000.0)
        assert [r.id for r in claimed] == list(range(first, first + 4))
        assert all(r.status is RecipientStatus.SENDING and r.lease_owner == "w1"
                   and r.lease_until == 1060.0 and not r.in_doubt and r.attempts == 0 for r in claimed)
        stored = await storage.list_recipients(done.batch.id, 0, 4)
        assert [(r.status, r.lease_owner, r.lease_until) for r in stored] == [
            (RecipientStatus.SENDING, "w1", 1060.0)] * 4
        more = await storage.claim_recipients(done.batch.id, "w2", 60, 100, now=1001.0)
        assert [r.id for r in more] == list(range(first + 4, first + 10))
        assert await storage.claim_recipients(done.batch.id, "w3", 60, 100, now=1002.0) == []

    async def test_claim_within_id_range(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("r"), recipients(10))
        first, _ = done.recipient_ids
        claimed = await storage.claim_recipients(done.batch.id, "w", 60, 100, now=1.0,
                                                 first_id=first + 2, last_id=first + 5)
        assert [r.id for r in claimed] == list(range(first + 2, first + 6))
        other = await storage.create_batch(new_batch("r2"), recipients(3, 100))
        assert await storage.claim_recipients(other.batch.id, "w", 60, 100, now=1.0,
                                              first_id=first, last_id=first + 9) == []

    async def test_expired_lease_comes_back_in_doubt(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("d"), recipients(3))
        claimed = await storage.claim_recipients(done.batch.id, "dead", 30, 2, now=100.0)
        assert await storage.claim_recipients(done.batch.id, "w", 30, 10, now=129.0) != []
        again = await storage.claim_recipients(done.batch.id, "w2", 30, 10, now=130.0)
        assert [r.id for r in again] == [r.id for r in claimed]
        assert all(r.in_doubt and r.lease_owner == "w2" and r.lease_until == 160.0 for r in again)

    async def test_dispatch_marks_of_several_owners_in_one_call(self, storage: Storage) -> None:
        first = await storage.create_batch(new_batch("g1"), recipients(3))
        second = await storage.create_batch(new_batch("g2"), recipients(2, prefix="other"))  # not skipped: same email id
        a = await storage.claim_recipients(first.batch.id, "a", 30, 2, now=100.0)
        b = await storage.claim_recipients(second.batch.id, "b", 30, 2, now=100.0)
        stray = first.recipient_ids[1]  # the batch's third row: never claimed, never marked
        # "c" asks for a row "a" holds, in the same call: each owner gets back only its own rows,
        # or a slow pass would take the answer meant for the pass that took its rows over.
        marked = await storage.mark_dispatched_groups({"a": [r.id for r in a] + [stray], "b": [r.id for r in b],
                                                       "c": [a[0].id]}, 200.0)
        if storage.marks_dispatch:
            assert marked == {"a": {r.id for r in a}, "b": {r.id for r in b}, "c": set()}
        else:
            assert marked["a"] >= {r.id for r in a} and marked["b"] == {r.id for r in b}

    async def test_dispatch_marks_only_rows_still_leased_by_the_owner(self, storage: Storage) -> None:
        from postgate.backends import IN_FLIGHT

        done = await storage.create_batch(new_batch("dm"), recipients(4))
        ids = list(range(done.recipient_ids[0], done.recipient_ids[1] + 1))
        mine = await storage.claim_recipients(done.batch.id, "w", 30, 3, now=100.0)
        if not storage.marks_dispatch:  # the default: every id may be sent, nothing is marked
            assert await storage.mark_dispatched([r.id for r in mine], "w", 200.0) == [r.id for r in mine]
            return
        assert await storage.mark_dispatched([ids[0], ids[1], ids[3]], "w", 200.0) == [ids[0], ids[1]]
        assert await storage.mark_dispatched([ids[2]], "someone-else", 200.0) == []
        # The lease is renewed by the mark: the unmarked row expires first.
        again = await storage.claim_recipients(done.batch.id, "w2", 30, 10, now=131.0)
        assert [(r.id, r.in_doubt, r.error) for r in again] == [(ids[2], True, None), (ids[3], False, None)]
        assert await storage.mark_dispatched([ids[2]], "w", 300.0) == []  # taken over: not ours to send
        later = await storage.claim_recipients(done.batch.id, "w3", 30, 10, now=201.0)
        assert [(r.id, r.in_doubt, r.error) for r in later] == [
            (ids[0], True, IN_FLIGHT), (ids[1], True, IN_FLIGHT), (ids[2], True, None), (ids[3], True, None)]
        await storage.update_recipients([RecipientUpdate(ids[0], RecipientStatus.SENT, attempts=1, provider_id="p")])
        assert (await storage.get_recipients([ids[0]]))[0].error is None

    async def test_retry_rows_wait_for_next_attempt(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("t"), recipients(2))
        rows = await storage.claim_recipients(done.batch.id, "w", 30, 10, now=100.0)
        await storage.update_recipients([
            RecipientUpdate(id=rows[0].id, status=RecipientStatus.RETRY, attempts=1, next_attempt_at=500.0,
                            error="421 try later"),
            RecipientUpdate(id=rows[1].id, status=RecipientStatus.SENT, attempts=1, provider_id="p-1"),
        ])
        assert await storage.claim_recipients(done.batch.id, "w", 30, 10, now=499.0) == []
        again = await storage.claim_recipients(done.batch.id, "w", 30, 10, now=500.0)
        assert [(r.id, r.attempts, r.in_doubt, r.error) for r in again] == [
            (rows[0].id, 1, False, "421 try later")]

    async def test_concurrent_claims_never_overlap(self, storage: Storage, second_storage: Storage) -> None:
        done = await storage.create_batch(new_batch("cc"), recipients(300))
        claims = [storage.claim_recipients(done.batch.id, f"a{i}", 60, 25, now=10.0) for i in range(6)]
        claims += [second_storage.claim_recipients(done.batch.id, f"b{i}", 60, 25, now=10.0) for i in range(6)]
        results = await asyncio.gather(*claims)
        ids = [r.id for result in results for r in result]
        assert len(ids) == len(set(ids)) == 300
        for result in results:
            assert len({r.lease_owner for r in result}) <= 1

    # -- provider ids (settling sends from provider events) -------------------------------------

    async def test_get_find_and_record_provider_ids(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("p"), recipients(4))
        first, last = done.recipient_ids
        ids = list(range(first, last + 1))
        got = await storage.get_recipients([ids[2], ids[0], 10**9])
        assert [r.id for r in got] == [ids[0], ids[2]]
        claimed = await storage.claim_recipients(done.batch.id, "w", 60, 3, now=10.0)
        assert [r.id for r in claimed] == ids[:3]
        await storage.update_recipients([RecipientUpdate(id=ids[1], status=RecipientStatus.DELIVERED,
                                                         provider_id="known")])
        changed = await storage.record_provider_ids([(ids[0], "ses-0"), (ids[1], "ses-1"), (ids[3], "ses-3"),
                                                     (ids[0], "ses-0")])
        assert changed == 2  # ids[1] already had an id
        rows = {r.id: r for r in await storage.get_recipients(ids)}
        assert (rows[ids[0]].status, rows[ids[0]].provider_id, rows[ids[0]].lease_owner) == (
            RecipientStatus.SENT, "ses-0", None)  # in doubt -> sent
        assert (rows[ids[1]].status, rows[ids[1]].provider_id) == (RecipientStatus.DELIVERED, "known")
        assert (rows[ids[2]].status, rows[ids[2]].provider_id, rows[ids[2]].lease_owner) == (
            RecipientStatus.SENDING, None, "w")
        assert (rows[ids[3]].status, rows[ids[3]].provider_id) == (RecipientStatus.QUEUED, "ses-3")
        # A row given up as "not accepted" and set to retry, whose provider event comes late.
        await storage.update_recipients([RecipientUpdate(id=ids[2], status=RecipientStatus.RETRY,
                                                         next_attempt_at=500.0)])
        assert await storage.record_provider_ids([(ids[2], "ses-2")]) == 1
        late = (await storage.get_recipients([ids[2]]))[0]
        assert (late.status, late.provider_id, late.next_attempt_at) == (RecipientStatus.SENT, "ses-2", None)
        found = await storage.find_recipients(["ses-3", "ses-0", "nope"])
        assert [r.id for r in found] == [ids[0], ids[3]]
        assert await storage.record_provider_ids([]) == 0

    # -- updates and progress -----------------------------------------------------------------

    async def test_update_recipients_in_bulk(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("u"), recipients(1000))
        rows = await storage.claim_recipients(done.batch.id, "w", 60, 1000, now=10.0)
        updates = []
        for i, row in enumerate(rows):
            if i % 3 == 0:
                updates.append(RecipientUpdate(id=row.id, status=RecipientStatus.SENT, attempts=1,
                                               provider_id=f"prov-{i}"))
            elif i % 3 == 1:
                updates.append(RecipientUpdate(id=row.id, status=RecipientStatus.RETRY, attempts=1,
                                               next_attempt_at=100.0 + i, error=f"451 {i}"))
            else:
                updates.append(RecipientUpdate(id=row.id, status=RecipientStatus.FAILED, error="550 no"))
        await storage.update_recipients(updates)
        stored = await storage.list_recipients(done.batch.id, 0, 2000)
        for i, row in enumerate(stored):
            assert row.lease_owner is None and row.lease_until is None
            if i % 3 == 0:
                assert (row.status, row.attempts, row.provider_id, row.error) == (
                    RecipientStatus.SENT, 1, f"prov-{i}", None)
            elif i % 3 == 1:
                assert (row.status, row.attempts, row.next_attempt_at, row.error) == (
                    RecipientStatus.RETRY, 1, 100.0 + i, f"451 {i}")
            else:
                # attempts left out: unchanged.
                assert (row.status, row.attempts, row.error) == (RecipientStatus.FAILED, 0, "550 no")
        await storage.update_recipients([RecipientUpdate(id=stored[0].id, status=RecipientStatus.DELIVERED)])
        row = (await storage.list_recipients(done.batch.id, 0, 1))[0]
        assert (row.status, row.attempts, row.provider_id) == (RecipientStatus.DELIVERED, 1, "prov-0")
        await storage.update_recipients([])

    async def test_update_same_values_for_all(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("s"), recipients(20))
        rows = await storage.claim_recipients(done.batch.id, "w", 60, 100, now=10.0)
        await storage.update_recipients([RecipientUpdate(id=r.id, status=RecipientStatus.SUPPRESSED,
                                                         error="605") for r in rows])
        stored = await storage.list_recipients(done.batch.id, 0, 100)
        assert {(r.status, r.error, r.lease_owner) for r in stored} == {(RecipientStatus.SUPPRESSED, "605", None)}

    async def test_pending_recipients(self, storage: Storage) -> None:
        done = await storage.create_batch(new_batch("p"), recipients(4))
        first, last = done.recipient_ids
        assert await storage.pending_recipients(done.batch.id) == (4, None)
        far = time.time() + 3600
        rows = await storage.claim_recipients(done.batch.id, "w", 10_000, 4, now=far - 9_000)
        assert await storage.pending_recipients(done.batch.id) == (4, far + 1000)
        await storage.update_recipients([
            RecipientUpdate(id=rows[0].id, status=RecipientStatus.SENT),
            RecipientUpdate(id=rows[1].id, status=RecipientStatus.RETRY, next_attempt_at=far),
            RecipientUpdate(id=rows[2].id, status=RecipientStatus.FAILED),
        ])
        assert await storage.pending_recipients(done.batch.id) == (2, far)
        assert await storage.pending_recipients(done.batch.id, first, first + 2) == (1, far)
        assert await storage.pending_recipients(done.batch.id, first, first) == (0, None)
        await storage.update_recipients([RecipientUpdate(id=rows[1].id, status=RecipientStatus.RETRY,
                                                         next_attempt_at=time.time() - 1)])
        assert await storage.pending_recipients(done.batch.id, first, last) == (2, None)

    async def test_batch_progress_counts_every_batch_in_flight(self, storage: Storage) -> None:
        assert await storage.batch_progress(0.0, time.time()) == []
        before = time.time()
        a = await storage.create_batch(new_batch("pa", email_id="email-a"), recipients(6))
        rows = await storage.claim_recipients(a.batch.id, "w", 60, 4, now=before)
        await storage.update_recipients([
            RecipientUpdate(id=rows[0].id, status=RecipientStatus.DELIVERED, attempts=1),
            RecipientUpdate(id=rows[1].id, status=RecipientStatus.FAILED, error="550"),
            RecipientUpdate(id=rows[2].id, status=RecipientStatus.RETRY, next_attempt_at=before + 100),
        ])
        b = await storage.create_batch(new_batch("pb", email_id="email-b"), recipients(3, 10))
        b_rows = await storage.claim_recipients(b.batch.id, "w", 60, 3, now=before)
        await storage.update_recipients([RecipientUpdate(id=r.id, status=RecipientStatus.SENT, provider_id=f"s{i}")
                                         for i, r in enumerate(b_rows)])
        c = await storage.create_batch(new_batch("pc", email_id=None), recipients(2, 20))
        after = time.time()

        progress = await storage.batch_progress(before, after)
        assert [p.batch_id for p in progress] == [a.batch.id, b.batch.id, c.batch.id]
        pa, pb, pc = progress
        assert (pa.domain, pa.email_id, pa.tags, pa.created_at) == (
            DOMAIN, "email-a", ["Newsletter", "weekly"], a.batch.created_at)
        assert pa.counts == {"delivered": 1, "failed": 1, "retry": 1, "sending": 1, "queued": 2}
        assert (pa.total, pa.done, pa.in_doubt, pa.finished_since) == (6, 2, 0, 2)
        assert before <= pa.last_finished_at <= after
        assert (pb.counts, pb.done, pb.finished_since, pb.email_id) == ({"sent": 3}, 3, 3, "email-b")
        assert (pc.counts, pc.finished_since, pc.last_finished_at, pc.email_id) == ({"queued": 2}, 0, None, None)

        # Later: b finished before ``since`` and is left out; a's lease has run out (in doubt).
        later = await storage.batch_progress(after + 1, before + 61)
        assert [(p.batch_id, p.in_doubt, p.finished_since) for p in later] == [
            (a.batch.id, 1, 0), (c.batch.id, 0, 0)]

        # A provider event settling the row in doubt finishes it now; a terminal row keeps its time.
        mid = time.time()
        assert await storage.record_provider_ids([(rows[3].id, "ses-3")]) == 1
        await storage.update_recipients([RecipientUpdate(id=rows[0].id, status=RecipientStatus.FAILED)])
        await storage.update_recipients([RecipientUpdate(id=rows[2].id, status=RecipientStatus.RETRY,
                                                         next_attempt_at=before + 200)])
        [pa] = [p for p in await storage.batch_progress(mid, time.time()) if p.batch_id == a.batch.id]
        assert pa.counts == {"sent": 1, "failed": 2, "retry": 1, "queued": 2}
        assert (pa.done, pa.in_doubt, pa.finished_since) == (3, 0, 1)
        assert mid <= pa.last_finished_at <= time.time()

    async def test_batch_progress_in_one_pass_over_many_batches(self, storage: Storage) -> None:
        made = [await storage.create_batch(new_batch(f"m{i}", email_id=f"e{i}"), recipients(3, 10 * i))
                for i in range(12)]
        progress = await storage.batch_progress(time.time(), time.time())
        assert [(p.batch_id, p.email_id, p.total) for p in progress] == [
            (m.batch.id, f"e{i}", 3) for i, m in enumerate(made)]

    # -- events -------------------------------------------------------------------------------

    async def test_save_events_sets_ids_and_skips_known_keys(self, storage: Storage) -> None:
        stored = await storage.save_events([event(key="k1"), event(key="k2"), event(key="k1"), event()])
        assert [e.key for e in stored] == ["k1", "k2", None]
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", e.event_id) for e in stored)
        assert len({e.event_id for e in stored}) == 3
        ids = [e.id for e in stored]
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert abs(stored[0].recorded_at / 1e6 - time.time()) < 60
        again = await storage.save_events([event(key="k2"), event(key="k3")])
        assert [e.key for e in again] == ["k3"]
        assert again[0].id > ids[-1] and again[0].recorded_at >= stored[-1].recorded_at
        assert await storage.save_events([event(key="k3")]) == []
        assert await storage.save_events([]) == []
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True))
        assert [e.id for e in page] == [*ids, again[0].id]
        body = page[0].to_mailgun()
        assert body["id"] == stored[0].event_id and body["event"] == "delivered"
        assert body["recipient"] == "a@example.org" and body["timestamp"] == stored[0].recorded_at / 1e6

    async def test_event_payloads_and_tags_come_back_as_stored(self, storage: Storage) -> None:
        payloads = [
            {"message": {"headers": {"subject": "Café ☕ — 12 😀"}}, "user-variables": {"n": 2**40, "f": 0.1}},
            {"user-variables": {"bad": "\ud800"}},  # a lone surrogate: JSON text can still carry it
            {"codes": {1: "one"}},  # a key that is not a string is stored as JSON's text key
        ]
        stored = await storage.save_events([event(key=f"p{i}", payload=p, tags=["Ünï", "t😀"])
                                            for i, p in enumerate(payloads)])
        assert len(stored) == 3
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True))
        expected = [event(payload=p).payload for p in [*payloads[:2], {"codes": {"1": "one"}}]]
        assert [e.payload for e in page] == expected
        assert all(e.tags == ["Ünï", "t😀"] for e in page)

    async def test_recorded_at_ascends_with_ids(self, storage: Storage, second_storage: Storage) -> None:
        async def writer(s: Storage, n: int) -> None:
            for i in range(5):
                await s.save_events([event(key=f"{n}-{i}-{j}") for j in range(3)])
        await asyncio.gather(*(writer(s, n) for n, s in enumerate([storage, second_storage] * 2)))
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, limit=1000))
        assert len(page) == 60
        assert [e.id for e in page] == sorted(e.id for e in page)
        assert [e.recorded_at for e in page] == sorted(e.recorded_at for e in page)

    async def test_page_events_keyset(self, storage: Storage) -> None:
        storage.clock = SteppingClock()
        saved = []
        for i in range(7):
            saved += await storage.save_events([event(recipient=f"r{i}@x.org"), event(recipient=f"s{i}@x.org")])
        await storage.save_events([event(domain="other.org")])
        ids = [e.id for e in saved]
        q = EventQuery(domain=DOMAIN, ascending=True, limit=5)
        page1 = await storage.page_events(q)
        assert [e.id for e in page1] == ids[:5]
        last = page1[-1]
        q.after = (last.recorded_at, last.id)
        page2 = await storage.page_events(q)
        assert [e.id for e in page2] == ids[5:10]
        down = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, limit=4))
        assert [e.id for e in down] == ids[::-1][:4]
        down2 = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, limit=100,
                                                     after=(down[-1].recorded_at, down[-1].id)))
        assert [e.id for e in down2] == ids[::-1][4:]
        # begin inclusive, end exclusive, in the direction of travel.
        t = [e.recorded_at for e in saved]
        window = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, begin=t[4], end=t[10]))
        assert [e.id for e in window] == [e.id for e in saved if t[4] <= e.recorded_at < t[10]]
        assert window and window[0].recorded_at == t[4]
        back = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, begin=t[10], end=t[4]))
        assert [e.id for e in back] == [e.id for e in saved[::-1] if t[4] < e.recorded_at <= t[10]]
        # An event stored after a reader's cursor shows on its next page.
        q = EventQuery(domain=DOMAIN, ascending=True, limit=100)
        everything = await storage.page_events(q)
        q.after = (everything[-1].recorded_at, everything[-1].id)
        assert await storage.page_events(q) == []
        late = await storage.save_events([event(kind="opened")])
        assert [e.id for e in await storage.page_events(q)] == [late[0].id]

    async def test_page_events_cursor_inside_runs_of_equal_times(self, storage: Storage) -> None:
        # One save_events call stamps all its events with one recorded_at: pages end inside such
        # runs, and the next page must go on after the cursor's id within the run.
        storage.clock = SteppingClock()
        saved = []
        for i in range(6):
            saved += await storage.save_events([
                event("failed" if (i + j) % 3 == 0 else "delivered", f"r{i}.{j}@x.org") for j in range(5)
            ])
        await storage.save_events([event(domain="other.org") for _ in range(3)])
        times = sorted({e.recorded_at for e in saved})

        def expected(ascending: bool, begin: int | None, end: int | None, kind: str | None) -> list[int]:
            picked = [
                e for e in saved
                if (kind is None or e.event == kind)
                and (begin is None or (e.recorded_at >= begin if ascending else e.recorded_at <= begin))
                and (end is None or (e.recorded_at < end if ascending else e.recorded_at > end))
            ]
            return [e.id for e in sorted(picked, key=lambda e: (e.recorded_at, e.id), reverse=not ascending)]

        for ascending in (True, False):
            for begin, end in ((None, None), (times[1], times[-2]) if ascending else (times[-2], times[1])):
                for kind in (None, "failed"):
                    for limit in (1, 3, 7):
                        got, after = [], None
                        for _ in range(len(saved) + 2):  # a cursor that does not advance fails
                            page = await storage.page_events(EventQuery(
                                domain=DOMAIN, ascending=ascending, begin=begin, end=end, limit=limit,
                                filter=Term("event", kind) if kind else None, after=after,
                            ))
                            got += [e.id for e in page]
                            if len(page) < limit:
                                break
                            after = (page[-1].recorded_at, page[-1].id)
                        assert got == expected(ascending, begin, end, kind), (ascending, begin, end, kind, limit)
        # A cursor short of ``begin`` starts the page at ``begin``; ``begin`` short of the
        # cursor leaves the page after the cursor.
        first, mid = saved[0], saved[12]
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, begin=times[3],
                                                    after=(first.recorded_at, first.id), limit=100))
        assert [e.id for e in page] == expected(True, times[3], None, None)
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=True, begin=times[0],
                                                    after=(mid.recorded_at, mid.id), limit=100))
        assert [e.id for e in page] == [e.id for e in saved[13:]]
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, begin=times[1],
                                                    after=(saved[-1].recorded_at, saved[-1].id), limit=100))
        assert [e.id for e in page] == expected(False, times[1], None, None)
        page = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, begin=times[-1],
                                                    after=(mid.recorded_at, mid.id), limit=100))
        assert [e.id for e in page] == [e.id for e in saved[:12]][::-1]

    async def test_events_get_whole_seconds_that_never_go_back(self, storage: Storage) -> None:
        start = 1_800_000_000
        clock = storage.clock = ManualClock(start + 0.7)
        first = await storage.save_events([event(), event()])
        assert [e.recorded_at for e in first] == [start * SECOND] * 2
        assert first[0].to_mailgun()["timestamp"] == float(start)
        clock.now = start - 5.0  # the clock steps back; stamps do not
        again = await storage.save_events([event()])
        assert again[0].recorded_at == start * SECOND and again[0].id > first[-1].id
        clock.now = start + 3.99
        assert (await storage.save_events([event()]))[0].recorded_at == (start + 3) * SECOND

    async def test_a_second_shown_to_a_reader_is_closed(self, storage: Storage) -> None:
        # Ghost's rule: after a page, go on from the last event's second + 1. No event may
        # appear later in a second already shown, nor before an ``end`` already read up to.
        start = 1_800_000_000
        clock = storage.clock = ManualClock(start + 0.3)
        a = await storage.save_events([event(recipient="a@x.org")])
        since = EventQuery(domain=DOMAIN, ascending=True, begin=(start - 60) * SECOND)
        assert [e.id for e in await storage.page_events(since)] == [a[0].id]
        clock.now = start + 0.6
        b = await storage.save_events([event(recipient="b@x.org")])
        assert b[0].recorded_at == (start + 1) * SECOND
        assert [e.id for e in await storage.page_events(since)] == [a[0].id]  # not before its second
        clock.now = start + 1.1
        then = EventQuery(domain=DOMAIN, ascending=True, begin=(start + 1) * SECOND)
        assert [e.id for e in await storage.page_events(then)] == [b[0].id]
        # Newest first, open-ended: the newest second shown is closed too.
        clock.now = start + 7.2
        c = await storage.save_events([event(recipient="c@x.org")])
        newest = await storage.page_events(EventQuery(domain=DOMAIN, ascending=False, limit=1))
        assert [e.id for e in newest] == [c[0].id]
        assert (await storage.save_events([event()]))[0].recorded_at == (start + 8) * SECOND
        # An ``end`` inside the current second closes it, even when the window shows nothing.
        clock.now = start + 20.2
        window = EventQuery(domain=DOMAIN, ascending=True, begin=(start + 10) * SECOND,
                            end=int((start + 20.5) * SECOND))
        assert await storage.page_events(window) == []
        assert (await storage.save_events([event()]))[0].recorded_at == (start + 21) * SECOND
        # An ``end`` in the past (Ghost's: a minute ago) leaves the current second open.
        clock.now = start + 40.4
        old = EventQuery(domain=DOMAIN, ascending=True, begin=(start + 10) * SECOND,
                         end=int((start + 39.9) * SECOND))
        assert len(await storage.page_events(old)) == 1
        assert (await storage.save_events([event()]))[0].recorded_at == (start + 40) * SECOND

    async def test_a_reader_closing_a_second_waits_for_a_writer_stamped_in_it(
            self, storage: Storage, second_storage: Storage) -> None:
        # A writer has stamped its events (second S) but not committed yet; a reader whose ``end``
        # reaches into S must not answer without them (it could then never be given them).
        start = 1_800_000_000
        storage.clock = second_storage.clock = ManualClock(start + 0.5)
        stamped, release = asyncio.Event(), asyncio.Event()
        session = second_storage.session  # type: ignore[attr-defined]

        @asynccontextmanager
        async def slow_to_commit(write: bool = False):
            async with session(write) as db:
                yield db
                if write:
                    stamped.set()
                    await release.wait()

        second_storage.session = slow_to_commit  # type: ignore[attr-defined]
        writing = asyncio.create_task(second_storage.save_events([event(key="slow")]))
        await stamped.wait()
        reading = asyncio.create_task(storage.page_events(EventQuery(
            domain=DOMAIN, ascending=True, begin=(start - 5) * SECOND, end=int((start + 0.9) * SECOND))))
        await asyncio.sleep(0.3)
        assert not reading.done()
        release.set()
        written, page = await writing, await reading
        assert [e.id for e in page] == [e.id for e in written] and written[0].recorded_at == start * SECOND

    async def test_page_events_filters(self, storage: Storage) -> None:
        saved = await storage.save_events([
            event("delivered", "Alice@Example.org", tags=["Newsletter", "Week_1"], email_id="e1"),
            event("failed", "bob@example.org", severity="permanent", tags=["newsletter"],
                  payload={"reason": "bounce"}, message_id="m2@x"),
            event("failed", "carol@example.org", severity="temporary", tags=["weekXa"],
                  payload={"reason": "generic"}, email_id="e2"),
            event("opened", "alice@example.org", tags=["100%"]),
        ])
        a, b, c, d = (e.id for e in saved)

        async def ids(node) -> list[int]:
            return [e.id for e in await storage.page_events(EventQuery(domain=DOMAIN, ascending=True,
                                                                       filter=node))]

        assert await ids(Term("event", "failed")) == [b, c]
        assert await ids(Term("recipient", "ALICE@example.org")) == [a, d]
        assert await ids(Term("recipient", "alice")) == []
        assert await ids(Term("message-id", "m2@x")) == [b]
        assert await ids(Term("severity", "permanent")) == [b]
        assert await ids(Term("email-id", "e2")) == [c]
        assert await ids(Term("reason", "bounce")) == [b]
        assert await ids(Term("tags", "NEWSLETTER")) == [a, b]
        assert await ids(Term("tags", "week_1")) == [a]
        assert await ids(Term("tags", "week%")) == []
        assert await ids(Term("tags", "100%")) == [d]
        assert await ids(Term("tags", "news")) == []
        assert await ids(And((Term("event", "failed"), Term("tags", "newsletter")))) == [b]
        assert await ids(Or((Term("event", "opened"), Term("severity", "temporary")))) == [c, d]
        assert await ids(Not(Term("event", "failed"))) == [a, d]
        assert await ids(Not(Term("severity", "permanent"))) == [a, c, d]
        assert await ids(And((Not(Or((Term("event", "opened"), Term("reason", "bounce")))),
                              Term("recipient", "carol@example.org")))) == [c]
        with pytest.raises(ValueError):
            await ids(Term("subjectline", "x"))

    async def test_count_events(self, storage: Storage) -> None:
        await storage.save_events([
            event("delivered"), event("delivered", tags=["Promo"]),
            event("failed", severity="permanent", payload={"reason": "bounce"}),
            event("failed", severity="permanent", payload={"reason": "bounce"}, tags=["promo"]),
            event("opened"), event("delivered", domain="other.org"),
        ])
        now = time.time()
        hour = int(now // 3600 * 3600)
        counts = await storage.count_events(DOMAIN, ["delivered", "failed"], now - 3600, now + 3600, 3600)
        got = {(c.bucket, c.event, c.severity, c.reason): c.count for c in counts}
        assert got == {(hour, "delivered", None, None): 2, (hour, "failed", "permanent", "bounce"): 2}
        tagged = await storage.count_events(DOMAIN, ["delivered", "failed"], now - 3600, now + 3600, 3600,
                                            tag="PROMO")
        assert sorted((c.event, c.count) for c in tagged) == [("delivered", 1), ("failed", 1)]
        assert await storage.count_events(DOMAIN, ["delivered"], now + 60, now + 120, 60) == []

    async def test_purge(self, storage: Storage) -> None:
        old_batch = await storage.create_batch(new_batch("old", created_at=time.time() - 90 * 86400), recipients(3))
        new_batch_ = await storage.create_batch(new_batch("new"), recipients(2, 10))
        await storage.save_events([event(key=f"e{i}") for i in range(5)])
        cutoff = time.time() + 1
        later = time.time() + 60
        # Nothing is older than "long ago".
        assert await storage.purge(0, 100) == 0
        assert await storage.purge(time.time() - 86400, 100) == 3 + 1
        assert await storage.get_batch(old_batch.batch.id) is None
        assert await storage.list_recipients(old_batch.batch.id, 0, 10) == []
        assert await storage.get_batch(new_batch_.batch.id) is not None
        removed = 0
        while n := await storage.purge(cutoff, 2):
            removed += n
        assert removed == 5 + 2 + 1
        assert await storage.page_events(EventQuery(domain=DOMAIN, ascending=True)) == []
        assert await storage.purge(later, 100) == 0

    # -- suppressions -------------------------------------------------------------------------

    async def test_suppressions_crud(self, storage: Storage) -> None:
        await storage.add_suppressions([
            Suppression(DOMAIN, "bounces", "Bob+news@Example.org", code=550, error="No mailbox", created_at=10.0),
            Suppression(DOMAIN, "unsubscribes", "bob+news@example.org", tags=["*"], created_at=11.0),
            Suppression("other.org", "bounces", "bob+news@example.org", code=550),
        ])
        got = await storage.get_suppression(DOMAIN, "bounces", "BOB+NEWS@example.org")
        assert (got.address, got.code, got.error, got.created_at) == ("Bob+news@Example.org", 550, "No mailbox", 10.0)
        assert (await storage.get_suppression(DOMAIN, "unsubscribes", "bob+news@example.org")).tags == ["*"]
        assert await storage.get_suppression(DOMAIN, "complaints", "bob+news@example.org") is None
        # Replacing keeps one entry per address.
        await storage.add_suppressions([Suppression(DOMAIN, "bounces", "bob+NEWS@example.org", code=554,
                                                    error="again", created_at=20.0)])
        entries = await storage.list_suppressions(DOMAIN, "bounces", limit=10)
        assert [(s.address, s.code, s.error) for s in entries] == [("bob+NEWS@example.org", 554, "again")]
        assert await storage.delete_suppression(DOMAIN, "bounces", "BOB+news@example.org")
        assert not await storage.delete_suppression(DOMAIN, "bounces", "bob+news@example.org")
        assert await storage.get_suppression("other.org", "bounces", "bob+news@example.org") is not None
        assert await storage.clear_suppressions(DOMAIN, "unsubscribes") == 1
        assert await storage.clear_suppressions(DOMAIN, "unsubscribes") == 0

    async def test_list_suppressions_pages(self, storage: Storage) -> None:
        names = [f"user{i:02d}@example.org" for i in range(12)] + ["Zed@x.org", "abc@x.org"]
        await storage.add_suppressions([Suppression(DOMAIN, "complaints", n) for n in names])
        await storage.add_suppressions([Suppression(DOMAIN, "bounces", n) for n in ("a_b@x.org", "a%c@x.org",
                                                                                   "axb@x.org", "a!c@x.org")])
        keys = sorted(n.lower() for n in names)

        async def page(**kw) -> list[str]:
            return [s.address.lower() for s in await storage.list_suppressions(DOMAIN, "complaints", **kw)]

        assert await page(limit=5) == keys[:5]
        assert await page(limit=5, pivot=keys[4]) == keys[5:10]
        assert await page(limit=5, pivot=keys[10].upper()) == keys[11:]
        assert await page(limit=3, pivot=keys[10], forward=False) == keys[7:10]
        assert await page(limit=100, pivot=keys[0], forward=False) == []
        assert await page(limit=100, term="USER1") == ["user10@example.org", "user11@example.org"]
        assert await page(limit=100, term="zED") == ["zed@x.org"]

        async def terms(term: str) -> list[str]:
            return [s.address for s in await storage.list_suppressions(DOMAIN, "bounces", limit=10, term=term)]

        assert await terms("a_") == ["a_b@x.org"]
        assert await terms("a%") == ["a%c@x.org"]
        assert await terms("a!") == ["a!c@x.org"]
        assert sorted(await terms("a")) == ["a!c@x.org", "a%c@x.org", "a_b@x.org", "axb@x.org"]

    async def test_find_suppressions(self, storage: Storage) -> None:
        await storage.add_suppressions([
            Suppression(DOMAIN, "bounces", "Bounced+1@Example.org", code=550),
            Suppression(DOMAIN, "complaints", "angry@example.org"),
            Suppression(DOMAIN, "unsubscribes", "angry@example.org", tags=["promo"]),
            Suppression(DOMAIN, "whitelists", "trusted.org", kind="domain", reason="ours"),
            Suppression(DOMAIN, "whitelists", "vip@example.org", kind="address"),
            Suppression(DOMAIN, "bounces", "other.org", code=550),
            Suppression("elsewhere.org", "bounces", "fine@example.org"),
        ])
        found = await storage.find_suppressions(
            DOMAIN, ["bounced+1@example.org", "ANGRY@example.org", "someone@Trusted.org", "VIP@example.org",
                     "fine@example.org", "x@other.org"],
        )
        got = sorted((s.list, s.address) for s in found)
        assert got == [
            ("bounces", "Bounced+1@Example.org"), ("complaints", "angry@example.org"),
            ("unsubscribes", "angry@example.org"), ("whitelists", "trusted.org"),
            ("whitelists", "vip@example.org"),
        ]
        assert await storage.find_suppressions(DOMAIN, []) == []
        many = [f"n{i}@example.org" for i in range(2000)] + ["angry@example.org"]
        assert len(await storage.find_suppressions(DOMAIN, many)) == 2

    # -- address comparison: the same rule on every store (postgate.addresses.address_key) -----

    async def test_suppressions_compare_addresses_case_insensitively_and_exactly_otherwise(
            self, storage: Storage) -> None:
        await storage.add_suppressions([
            Suppression(DOMAIN, "bounces", "Bob@Example.COM", code=550),
            Suppression(DOMAIN, "complaints", "Carol@Example.COM"),
        ])
        for variant in case_variants("bob@example.com") + [" bob@example.com ", "BOB@EXAMPLE.COM"]:
            found = await storage.get_suppression(DOMAIN, "bounces", variant)
            assert found is not None and found.address == "Bob@Example.COM", variant
        # Nothing else is folded: accents, other characters and spaces inside stay distinct
        # (MariaDB's default collation would have matched the first two).
        for other in ("bób@example.com", "bob@exämple.com", "bob @example.com", "bob@example.co", "bob@example.com.x"):
            assert await storage.get_suppression(DOMAIN, "bounces", other) is None, other
            assert await storage.find_suppressions(DOMAIN, [other]) == [], other
        # ... so an accented address is an entry of its own, not an update of Bob's
        await storage.add_suppressions([Suppression(DOMAIN, "bounces", "Bób@example.com", code=551)])
        listed = await storage.list_suppressions(DOMAIN, "bounces", limit=10)
        assert sorted((s.address, s.code) for s in listed) == [("Bob@Example.COM", 550), ("Bób@example.com", 551)]
        assert [s.address for s in await storage.list_suppressions(DOMAIN, "bounces", limit=10, term="BÓ")] == [
            "Bób@example.com"]
        # Adding the same address in another case updates the one entry
        await storage.add_suppressions([Suppression(DOMAIN, "bounces", "BOB@example.com", code=552)])
        assert len(await storage.list_suppressions(DOMAIN, "bounces", limit=10)) == 2
        # Send time: the 605/607 drops follow the same rule, keyed by the addresses as given
        sending = ["bob@example.com", "BOB@EXAMPLE.COM", "carol@example.com", "bób@EXAMPLE.com", "bob@exämple.com",
                   "caröl@example.com"]
        drops = drops_for(await storage.find_suppressions(DOMAIN, sending), sending, [])
        assert {address: drop.code for address, drop in drops.items()} == {
            "bob@example.com": 605, "BOB@EXAMPLE.COM": 605, "carol@example.com": 607, "bób@EXAMPLE.com": 605}
        assert await storage.delete_suppression(DOMAIN, "bounces", "bÓb@example.com")
        assert await storage.get_suppression(DOMAIN, "bounces", "BOB@example.com") is not None

    async def test_ledger_addresses_differing_only_in_accents_are_two_recipients(self, storage: Storage) -> None:
        rows = [NewRecipient(address=a, name="", message_id=f"m{i}@{DOMAIN}", variables={})
                for i, a in enumerate(["bob@example.com", "bób@example.com", "BOB@example.com", "bob@example.com "])]
        created = await storage.create_batch(new_batch("accents"), rows)
        assert len(created.recipient_ids or []) == 2 and created.skipped == ["BOB@example.com", "bob@example.com "]
        again = await storage.create_batch(new_batch("accents-2"), [
            NewRecipient(address="bób@example.com", name="", message_id=f"m9@{DOMAIN}", variables={})])
        assert again.skipped == ["bób@example.com"] and not again.recipient_ids

    async def test_event_recipient_filter_compares_like_suppressions(self, storage: Storage) -> None:
        await storage.save_events([event(recipient="Bob@Example.COM", key="e1"), event(recipient="bób@example.com", key="e2"),
                                   event(recipient="bob@example.com.x", key="e3"), event(recipient="ÉVE@Example.com", key="e4")])

        async def recipients(value: str, negate: bool = False) -> list[str]:
            term = Term("recipient", value)
            query = EventQuery(domain=DOMAIN, ascending=True, filter=Not(term) if negate else term, limit=10)
            return sorted(e.recipient or "" for e in await storage.page_events(query))

        for variant in case_variants("bob@example.com"):
            assert await recipients(variant) == ["Bob@Example.COM"], variant
        assert await recipients("BÓB@example.com") == ["bób@example.com"]
        assert await recipients("bob@exämple.com") == []
        assert await recipients("éve@example.com") == await recipients("Éve@EXAMPLE.com") == ["ÉVE@Example.com"]
        assert await recipients("eve@example.com") == []
        assert await recipients("bob@example.com", negate=True) == ["bob@example.com.x", "bób@example.com",
                                                                   "ÉVE@Example.com"]

    # -- tags ---------------------------------------------------------------------------------

    async def test_tags(self, storage: Storage) -> None:
        await storage.touch_tags(DOMAIN, ["newsletter", "promo", "newsletter"], 100.0)
        await storage.touch_tags(DOMAIN, ["newsletter", "alpha"], 200.0)
        await storage.touch_tags(DOMAIN, ["newsletter"], 150.0)
        await storage.touch_tags("other.org", ["zzz"], 1.0)
        await storage.touch_tags(DOMAIN, [], 1.0)
        tag = await storage.get_tag(DOMAIN, "newsletter")
        assert (tag.first_seen, tag.last_seen, tag.description) == (100.0, 200.0, "")
        assert [t.tag for t in await storage.list_tags(DOMAIN, limit=10)] == ["alpha", "newsletter", "promo"]
        assert [t.tag for t in await storage.list_tags(DOMAIN, limit=1, pivot="alpha")] == ["newsletter"]
        assert [t.tag for t in await storage.list_tags(DOMAIN, limit=2, pivot="promo", forward=False)] == [
            "alpha", "newsletter"]
        assert [t.tag for t in await storage.list_tags(DOMAIN, limit=10, prefix="ne")] == ["newsletter"]
        assert await storage.update_tag(DOMAIN, "promo", "Promotions")
        assert await storage.update_tag(DOMAIN, "promo", "Promotions")
        assert (await storage.get_tag(DOMAIN, "promo")).description == "Promotions"
        assert not await storage.update_tag(DOMAIN, "missing", "x")
        assert await storage.delete_tag(DOMAIN, "promo")
        assert not await storage.delete_tag(DOMAIN, "promo")
        assert await storage.get_tag(DOMAIN, "promo") is None

    # -- local queue ---------------------------------------------------------------------------

    async def test_queue_jobs(self, storage: Storage) -> None:
        await storage.enqueue_jobs("q", [Job(batch_id=1), Job(batch_id=2, first_id=10, last_id=19),
                                         Job(batch_id=3, not_before=500.0)])
        await storage.enqueue_jobs("other", [Job(batch_id=9)])
        assert await storage.count_jobs("q") == 3
        leased = await storage.lease_jobs("q", "w1", 10, 30, now=100.0)
        assert [(j.batch_id, j.first_id, j.last_id, j.attempts) for j in leased] == [(1, None, None, 1),
                                                                                    (2, 10, 19, 1)]
        assert all(j.id for j in leased)
        assert await storage.lease_jobs("q", "w2", 10, 30, now=110.0) == []
        await storage.extend_job(leased[0], "w1", 30, now=125.0)
        await storage.extend_job(leased[1], "someone-else", 300, now=125.0)
        again = await storage.lease_jobs("q", "w2", 10, 30, now=131.0)
        assert [(j.batch_id, j.attempts) for j in again] == [(2, 2)]
        await storage.release_job(leased[0], available_at=200.0)
        assert await storage.lease_jobs("q", "w3", 10, 30, now=150.0) == []
        # Visible again: job 2's lease ran out at 161, job 1 was released until 200.
        assert [j.batch_id for j in await storage.lease_jobs("q", "w3", 10, 30, now=200.0)] == [2, 1]
        assert [j.batch_id for j in await storage.lease_jobs("q", "w4", 10, 30, now=500.0)] == [2, 1, 3]
        await storage.delete_jobs(leased)
        assert await storage.count_jobs("q") == 1
        await storage.delete_jobs([])
        assert await storage.count_jobs("other") == 1

    async def test_failed_and_dead_jobs(self, storage: Storage) -> None:
        await storage.enqueue_jobs("q", [Job(batch_id=1, first_id=5, last_id=9), Job(batch_id=2)])
        await storage.enqueue_jobs("other", [Job(batch_id=3)])
        first, second = await storage.lease_jobs("q", "w1", 10, 300, now=100.0)
        assert (first.failures, second.failures) == (0, 0)
        assert await storage.fail_job(first, 150.0, "TypeError: boom") == 1
        assert await storage.lease_jobs("q", "w2", 10, 30, now=140.0) == []  # failed: back at 150
        [again] = await storage.lease_jobs("q", "w2", 10, 30, now=150.0)
        assert (again.batch_id, again.failures, again.attempts) == (1, 1, 2)
        assert await storage.fail_job(again, 150.0, "TypeError: boom") == 2
        [again] = await storage.lease_jobs("q", "w2", 10, 30, now=150.0)
        await storage.bury_job(again, "gave up after 2 failures: TypeError: boom", now=160.0)
        # A dead job is never leased (not even when its lease or its release time has passed).
        assert [j.batch_id for j in await storage.lease_jobs("q", "w3", 10, 30, now=1e6)] == [2]
        assert await storage.count_jobs("q") == 1
        [dead] = await storage.dead_jobs("q", 10)
        assert (dead.id, dead.job.batch_id, dead.job.first_id, dead.job.last_id) == (first.id, 1, 5, 9)
        assert (dead.failures, dead.reason, dead.dead_at) == (2, "gave up after 2 failures: TypeError: boom",
                                                              160.0)
        assert await storage.dead_jobs("other", 10) == []
        assert await storage.find_dead_job("q", dead.id) == dead
        assert await storage.find_dead_job("q", second.id) is None  # alive
        assert await storage.revive_job("other", dead.id, now=200.0) is None  # another queue's
        for bogus in ("nope", "-1", "99999999999999999999999", "１", ""):
            assert await storage.revive_job("q", bogus, now=200.0) is None
            assert await storage.find_dead_job("q", bogus) is None
        revived = await storage.revive_job("q", dead.id, now=200.0)
        assert revived is not None and revived.failures == 2 and revived.job.batch_id == 1
        assert await storage.revive_job("q", dead.id, now=200.0) is None  # no longer dead
        assert await storage.dead_jobs("q", 10) == []
        assert await storage.lease_jobs("q", "w4", 10, 30, now=199.0) == []
        [back] = await storage.lease_jobs("q", "w4", 10, 30, now=200.0)
        assert (back.batch_id, back.failures) == (1, 0)

    async def test_job_summary(self, storage: Storage) -> None:
        empty = await storage.job_summary("q")
        assert (empty.jobs, empty.dead, empty.oldest_created_at) == (0, 0, None)
        before = time.time()
        await storage.enqueue_jobs("q", [Job(batch_id=1), Job(batch_id=2, not_before=before + 600)])
        after = time.time()
        await storage.enqueue_jobs("q", [Job(batch_id=3)])
        await storage.enqueue_jobs("other", [Job(batch_id=4)])
        summary = await storage.job_summary("q")
        assert (summary.jobs, summary.dead) == (3, 0)
        assert before <= summary.oldest_created_at <= after
        leased = await storage.lease_jobs("q", "w", 10, 30, now=time.time())
        assert [j.batch_id for j in leased] == [1, 3]
        await storage.bury_job(leased[0], "boom", now=time.time())
        summary = await storage.job_summary("q")
        assert (summary.jobs, summary.dead) == (2, 1)
        await storage.delete_jobs(leased[1:])
        assert (await storage.job_summary("other")).jobs == 1
        summary = await storage.job_summary("q")
        assert (summary.jobs, summary.dead) == (1, 1)
        assert before <= summary.oldest_created_at <= after  # job 2, waiting for its time

    async def test_concurrent_leases_never_overlap(self, storage: Storage, second_storage: Storage) -> None:
        await storage.enqueue_jobs("q", [Job(batch_id=i) for i in range(60)])
        results = await asyncio.gather(
            *(s.lease_jobs("q", f"w{i}", 7, 30, now=time.time())
              for i, s in enumerate([storage, second_storage] * 6))
        )
        ids = [j.id for result in results for j in result]
        assert len(ids) == len(set(ids)) == 60

    # -- rate budget --------------------------------------------------------------------------

    async def test_grant_sends_keeps_every_window_within_the_budget(self, storage: Storage) -> None:
        def grant(count: int, now: float, budget: int = 10):
            return storage.grant_sends("ses", count, budget, 1.0, now, lease=120.0)

        wait, first = await grant(8, 100.0)
        assert wait == 0 and first is not None
        wait, none = await grant(4, 100.2)
        assert (wait, none) == (1.0, None)  # sends in flight count until a window after they end
        wait, second = await grant(2, 100.2)
        assert wait == 0 and second is not None  # 8 + 2 fill the window exactly
        await storage.release_sends(first, 100.5)
        await storage.release_sends(second, 100.7)
        # Released sends count for one more second: 8 free at 101.5, 2 more at 101.7.
        assert await grant(4, 101.0) == (pytest.approx(0.5), None)
        assert await grant(9, 101.0) == (pytest.approx(0.7), None)
        wait, third = await grant(4, 101.5)
        assert wait == 0 and third is not None
        assert (await grant(7, 101.6))[1] is None
        assert (await grant(6, 101.7))[1] is not None
        # A part bigger than the budget (the rate dropped) goes alone into an empty window.
        assert (await grant(30, 150.0, budget=10))[1] is None  # third and the last are still open
        assert (await grant(30, 400.0, budget=10))[1] is not None  # their lease (120 s) ended
        assert (await storage.grant_sends("other", 1, 1, 1.0, 400.0, lease=120.0))[1] is not None

    async def test_send_usage_counts_what_grant_sends_counts(self, storage: Storage) -> None:
        lease = 120.0
        assert await storage.send_usage("use", 1.0, 100.0, lease) == 0
        _, first = await storage.grant_sends("use", 6, 10, 1.0, 100.0, lease)
        _, second = await storage.grant_sends("use", 3, 10, 1.0, 100.1, lease)
        await storage.grant_sends("other", 5, 10, 1.0, 100.1, lease)
        assert first is not None and second is not None
        assert await storage.send_usage("use", 1.0, 100.2, lease) == 9  # open grants
        await storage.release_sends(first, 100.5)
        assert await storage.send_usage("use", 1.0, 101.4, lease) == 9  # released: a window more
        assert await storage.send_usage("use", 1.0, 101.5, lease) == 3  # then no more
        assert await storage.send_usage("use", 1.0, 100.1 + lease + 0.1, lease) == 0  # the lease ended
        # It agrees with grant_sends: a part fits exactly when the usage leaves room for it.
        assert (await storage.grant_sends("use", 8, 10, 1.0, 101.5, lease))[1] is None
        assert (await storage.grant_sends("use", 7, 10, 1.0, 101.5, lease))[1] is not None
        assert await storage.send_usage("use", 1.0, 101.5, lease) == 10

    async def test_granted_sends_never_exceed_the_budget_in_any_window(self, storage: Storage) -> None:
        """Workers in virtual time: random part sizes, calls that start late and take long, a
        worker that dies holding a grant. Every send time is recorded; no window of one second
        (half-open) may hold more than the budget."""
        import heapq
        import random

        rng = random.Random(7)
        budget, window, lease = 10, 1.0, 5.0
        sends: list[float] = []
        queue = [(rng.random() * 0.1, worker) for worker in range(4)]  # (time, worker) to ask again
        heapq.heapify(queue)
        grants = 0
        while queue and grants < 120:
            now, worker = heapq.heappop(queue)
            count = rng.randint(1, budget)
            wait, grant = await storage.grant_sends("sim", count, budget, window, now, lease)
            if grant is None:
                heapq.heappush(queue, (now + wait, worker))
                continue
            grants += 1
            start = now + rng.random() * 0.2  # the call may wait for a thread
            made = sorted(start + rng.random() * 0.6 for _ in range(count))
            sends.extend(made)
            if rng.random() < 0.03:
                continue  # the worker died: never released, its lease ends the grant
            done = made[-1] + rng.random() * 0.05
            await storage.release_sends(grant, done)
            heapq.heappush(queue, (done, worker))
        assert grants == 120
        sends.sort()
        busiest = max(sum(1 for t in sends if start <= t < start + window) for start in sends)
        assert busiest <= budget
        assert len(sends) / (sends[-1] - sends[0]) > budget / 4  # and it does send

    async def test_a_refused_caller_with_a_ticket_is_granted_next(self, storage: Storage) -> None:
        """Two callers polling one full window take turns: the one refused first is next in
        line, and the quicker caller is refused until it had its grant (or gave up its place)."""
        def grant(count: int, now: float, ticket: int):
            return storage.grant_sends("turns", count, 4, 1.0, now, lease=120.0, ticket=ticket)

        wait, first = await grant(4, 10.0, ticket=1)
        assert wait == 0 and first is not None
        await storage.release_sends(first, 10.1)
        wait, refused = await grant(4, 10.2, ticket=2)  # full until 11.1: caller 2 is next in line
        assert refused is None and wait == pytest.approx(0.9)
        assert (await grant(4, 11.2, ticket=1))[1] is None  # the window is free, but it is 2's turn
        assert (await grant(4, 11.2, ticket=0))[1] is None  # callers without a ticket wait too
        wait, second = await grant(4, 11.25, ticket=2)
        assert wait == 0 and second is not None
        await storage.release_sends(second, 11.3)
        assert (await grant(4, 11.4, ticket=1))[1] is None  # refused: now caller 1 is next
        assert (await grant(4, 12.35, ticket=2))[1] is None
        wait, third = await grant(4, 12.4, ticket=1)
        assert wait == 0 and third is not None
        await storage.release_sends(third, 12.45)
        # A caller next in line that never comes back loses its place a second after its wait.
        assert await grant(4, 12.5, ticket=3) == (pytest.approx(0.95), None)  # its place: until 14.45
        assert (await grant(4, 14.5, ticket=1))[1] is not None

    async def test_the_caller_just_granted_does_not_take_the_next_place(self, storage: Storage) -> None:
        """A worker asks for its next part right after a grant, before a caller of another
        process is back from its wait: it must not hold the place in line, or it takes every
        grant while the other starves."""
        def grant(count: int, now: float, ticket: int):
            return storage.grant_sends("next", count, 4, 1.0, now, lease=120.0, ticket=ticket)

        first = (await grant(4, 10.0, ticket=1))[1]
        assert first is not None
        assert (await grant(4, 10.01, ticket=1))[1] is None  # its next part: refused, not in line
        assert (await grant(4, 10.2, ticket=2))[1] is None  # the other process: next in line
        await storage.release_sends(first, 10.3)
        assert (await grant(4, 11.31, ticket=1))[1] is None  # the window is free, but it is 2's turn
        second = (await grant(4, 11.32, ticket=2))[1]
        assert second is not None
        assert (await grant(4, 11.33, ticket=2))[1] is None
        assert (await grant(4, 11.4, ticket=1))[1] is None  # now caller 1 is next
        await storage.release_sends(second, 11.45)
        assert (await grant(4, 12.46, ticket=2))[1] is None
        third = (await grant(4, 12.47, ticket=1))[1]
        assert third is not None
        # Alone, a caller is granted whenever the window has room.
        await storage.release_sends(third, 12.5)
        assert (await grant(4, 12.6, ticket=1))[1] is None
        assert (await grant(4, 13.5, ticket=1))[1] is not None

    async def test_concurrent_grants_share_one_window(self, storage: Storage, second_storage: Storage) -> None:
        results = await asyncio.gather(
            *(s.grant_sends("shared", 1, 10, 1.0, 50.0, lease=120.0) for s in [storage, second_storage] * 10)
        )
        assert sum(1 for _, grant in results if grant is not None) == 10

