"""The production stack end to end: Ghost's mailgun.js → Hypercorn → MariaDB + SQS → worker
processes → SES (moto, through a recording/fault-injecting proxy) → SES events via SNS → Ghost.

Storage ``mysql`` (one database for this module, dropped after), queue ``sqs``, delivery ``ses``,
event source ``ses``, ``gateway.job_size = 50``; ``postgate serve --workers 0`` and
``postgate worker`` run as separate processes configured by a ``postgate.toml`` (see
``aws_harness.py``). Contracts: aws-ses-sqs-sns §2.5, §5, §6; architecture §3; mailgun-api §3.4.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import json
import re
import time
import uuid

import httpx
import pytest

from aws_harness import AwsStack, Fault, Mysql, SendEventPump
from e2e_harness import ghost_email_id, ghost_recipient, recipient_message_id
from postgate.testing.mariadb import create_database, drop_database

MAILGUN_ID = re.compile(r"^<?\d{14}\.[0-9a-f]{16}@[a-z0-9.-]+>?$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def db():
    url = asyncio.run(create_database("postgate_e2e_aws"))
    try:
        yield Mysql(url)
    finally:
        asyncio.run(drop_database(url))


@pytest.fixture
def stack_factory(aws, db, tmp_path):
    """``make(**options) -> AwsStack`` (not started); every process and proxy is stopped after."""
    made: list[AwsStack] = []

    def make(**options) -> AwsStack:
        domain = f"s{uuid.uuid4().hex[:8]}.mg.example.com"
        stack = AwsStack(aws, db, tmp_path, domain, **options)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        stack.close()


def window() -> float:
    return round(time.time() - 5, 3)


def ghost_fetch_all(stack: AwsStack, begin: float, **options) -> tuple[list[dict], list[dict], list[dict]]:
    """Ghost's event loop from ``begin`` to now; (pages, normalized events, raw items)."""
    fetched = stack.harness.ghost_fetch(begin, round(time.time() + 1, 3), **options)
    assert fetched["ok"], fetched.get("error")
    assert fetched["exhausted"], "Ghost's loop never reached an empty page"
    pages = fetched["pages"]
    normalized = [event for batch in fetched["batches"] for event in batch]
    raw = [item for page in pages for item in page["items"]]
    return pages, normalized, raw


def once_each(stack: AwsStack, addresses: list[str]) -> collections.Counter:
    """moto's raw messages per recipient; asserts every address exactly once and nothing else."""
    counts = stack.sends_by_recipient()
    twice = {a: n for a, n in counts.items() if n != 1}
    assert not twice, f"sent more than once: {twice}"
    assert sorted(counts) == sorted(addresses), (
        f"missing: {sorted(set(addresses) - set(counts))[:10]}, unexpected: {sorted(set(counts) - set(addresses))[:10]}")
    return counts


# -- 1. a Ghost newsletter of 1000 through SQS → workers → SES, events back to Ghost -------------


def test_ghost_batch_of_1000_through_sqs_ses_and_events_back_to_ghost(stack_factory):
    stack = stack_factory(max_send_rate=500).start(workers=2)
    begin = window()
    email_id = ghost_email_id()
    recipients = [f"member{i}@example.com" for i in range(1000)]
    recipients[1] = "Bob.Upper+news@example.org"

    sent = stack.harness.ghost_send(recipients, email_id=email_id)

    assert sent["ok"], sent.get("error")
    assert sent["response"]["status"] == 200
    assert sent["id"] == "<%recipient.message_id%>"
    rows = stack.wait_ledger(1000, timeout=300)

    # moto's stored raw messages: every recipient exactly once, rendered for that recipient.
    sends = stack.raw_sends()
    assert len(sends) == 1000
    once_each(stack, recipients)
    (batch_id, batch_message_id), = stack.batch_message_ids().items()
    assert MAILGUN_ID.match(batch_message_id), batch_message_id
    row_of = {row.address: row for row in rows}
    for send in sends:
        index = recipients.index(send.to)
        own = ghost_recipient(send.to, index)
        assert {d.lower() for d in send.destinations} == {send.to.lower()}, send.destinations
        assert send.header("Subject") == f"Hello Member {index}"
        unsubscribe = send.header("List-Unsubscribe")
        assert unsubscribe is not None and f"<{own['list_unsubscribe']}>" in unsubscribe, unsubscribe
        assert "%" not in unsubscribe
        assert send.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
        assert send.header("X-Postgate-Id").strip("<>") == batch_message_id.strip("<>")
        assert send.header("Message-ID") == f"<{recipient_message_id(email_id, send.to, stack.domain)}>"
        assert send.header("Sender") == "My Blog <noreply@mg.example.com>"
        assert f"Hi {own['name_html']}" in send.body("html")
        assert f'href="{own["unsubscribe_url"]}"' in send.body("html")
        assert f"Hi {own['name']}" in send.body("plain") and own["unsubscribe_url"] in send.body("plain")
        assert "%recipient" not in send.raw
        # The ledger holds SES's MessageId for the row.
        assert row_of[send.to].provider_id == send.ses_id

    # What the worker really asked SES: one SendEmail per recipient, tagged with its ledger row.
    requests = stack.send_requests()
    assert len(requests) == 1000 and all(s.outcome == "forwarded" and s.status == 200 for s in requests)
    tags = stack.send_tags()
    for address, row in row_of.items():
        assert tags[address]["pg_rcpt"] == str(row.id) and tags[address]["pg_batch"] == str(batch_id)
    body = requests[0].request.json()
    assert body["ConfigurationSetName"] == "postgate"
    assert body["FromEmailAddress"].endswith("noreply@mg.example.com")

    # SES events, built around each send's MessageId and EmailTags, through SNS → SQS → the source.
    bounced = recipients[5::100]
    complained = recipients[7::100]
    opened = recipients[3::50]
    records = []
    for send in sends:
        if send.to in bounced:
            records.append(stack.record("Bounce", send, tags[send.to]))
            continue
        records.append(stack.record("Delivery", send, tags[send.to]))
        if send.to in complained:
            records.append(stack.record("Complaint", send, tags[send.to]))
        if send.to in opened:
            records.append(stack.record("Open", send, tags[send.to]))
    stack.publish(records)
    stack.wait_events({"delivered": 990, "failed": 10, "complained": 10, "opened": 20}, timeout=300)

    # Ghost's analytics loop pages them all back, 300 at a time.
    pages, normalized, raw = ghost_fetch_all(stack, begin)
    assert [len(p["items"]) for p in pages] == [300, 300, 300, 110, 0]
    for page in pages:
        assert TOKEN.match(page["links"]["next"]["page"]), page["links"]["next"]
    assert len({e["id"] for e in normalized}) == len(normalized) == len(raw) == 1010
    by_type = collections.defaultdict(list)
    for item, event in zip(raw, normalized):
        by_type[item["event"]].append(item["recipient"])
        assert event["providerId"] == recipient_message_id(email_id, item["recipient"], stack.domain)
        assert item["message"]["headers"]["message-id"] == event["providerId"]
        assert item["user-variables"]["email-id"] == email_id == event["emailId"]
        assert {"ghost-email", "bulk-email"} <= set(item["tags"])
        if item["event"] == "failed":
            assert item["severity"] == "permanent" and event["severity"] == "permanent"
            assert event["error"]["code"] == 550 and event["error"]["enhancedCode"] == "5.1.1"
        elif item["event"] == "delivered":
            assert item["delivery-status"]["code"] == 250
    assert sorted(by_type["delivered"]) == sorted(set(recipients) - set(bounced))
    assert sorted(by_type["failed"]) == sorted(bounced)
    assert sorted(by_type["complained"]) == sorted(complained)
    _, opens, opened_items = ghost_fetch_all(stack, begin, event="opened")
    assert sorted(e["recipientEmail"] for e in opens) == sorted(opened)
    assert all(i["message"]["headers"]["message-id"] == recipient_message_id(email_id, i["recipient"], stack.domain)
               for i in opened_items)

    # Suppression: the bounces and complaints lists, then a second newsletter drops them (605/607).
    bounce = stack.api(f"/bounces/{bounced[0]}")
    assert bounce.status_code == 200 and str(bounce.json()["code"]) == "550", bounce.text
    assert stack.api(f"/complaints/{complained[0]}").status_code == 200
    begin2 = window()
    second = ghost_email_id()
    again = bounced + complained + ["newcomer@example.com"]
    assert stack.harness.ghost_send(again, email_id=second)["ok"]
    stack.wait_for(lambda: any(s.to == "newcomer@example.com" for s in stack.raw_sends()),
                   what="the newcomer's send")
    stack.wait_for(lambda: len([e for e in stack.stored_events("failed")
                                if e["user-variables"].get("email-id") == second]) >= 20,
                   what="20 suppression drops")
    counts = stack.sends_by_recipient()
    assert all(counts[a] == 1 for a in bounced + complained), "a suppressed address was sent to again"
    assert counts["newcomer@example.com"] == 1
    _, later, _ = ghost_fetch_all(stack, begin2, event="failed")
    later = [e for e in later if e["emailId"] == second]
    codes = {e["recipientEmail"]: e["error"]["code"] for e in later}
    assert codes == {**{a: 605 for a in bounced}, **{a: 607 for a in complained}}
    assert all(e["severity"] == "permanent" and e["error"]["message"] for e in later)
    assert all(e["providerId"] == recipient_message_id(second, e["recipientEmail"], stack.domain) for e in later)


# -- 2. SNS HTTPS push with moto's real signatures --------------------------------------------------


def test_sns_push_with_moto_signatures_reaches_ghost_and_forgeries_are_refused(stack_factory):
    stack = stack_factory(events_queue=False, sns_endpoint=True, max_send_rate=50).start(workers=1)
    sns, sqs = stack.sns, stack.sqs
    # moto confirms http subscriptions at once and POSTs every notification, really signed.
    subscription = sns.subscribe(TopicArn=stack.topic, Protocol="http", Endpoint=f"{stack.url}/ses/sns",
                                 ReturnSubscriptionArn=True)
    assert subscription["SubscriptionArn"].startswith(stack.topic)
    spy = sqs.create_queue(QueueName="spy")["QueueUrl"]
    spy_arn = sqs.get_queue_attributes(QueueUrl=spy, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=stack.topic, Protocol="sqs", Endpoint=spy_arn)

    begin = window()
    email_id = ghost_email_id()
    recipients = ["ann@example.com", "ben@example.com", "cat@example.com", "dan@example.com"]
    assert stack.harness.ghost_send(recipients, email_id=email_id)["ok"]
    stack.wait_ledger(4)
    sends = {s.to: s for s in stack.raw_sends()}
    tags = stack.send_tags()
    records = [
        stack.record("Delivery", sends["ann@example.com"], tags["ann@example.com"]),
        stack.record("Delivery", sends["ben@example.com"], tags["ben@example.com"]),
        stack.record("Bounce", sends["cat@example.com"], tags["cat@example.com"]),
        stack.record("Delivery", sends["dan@example.com"], tags["dan@example.com"]),
        stack.record("Complaint", sends["dan@example.com"], tags["dan@example.com"]),
    ]
    for record in records:  # one Publish each: moto POSTs to /ses/sns inside the call
        sns.publish(TopicArn=stack.topic, Message=json.dumps(record))

    # Stored before /ses/sns answered, so visible at once.
    _, normalized, raw = ghost_fetch_all(stack, begin)
    seen = sorted((e["type"], e["recipientEmail"]) for e in normalized)
    assert seen == [("complained", "dan@example.com"), ("delivered", "ann@example.com"),
                    ("delivered", "ben@example.com"), ("delivered", "dan@example.com"),
                    ("failed", "cat@example.com")]
    for event in normalized:
        assert event["providerId"] == recipient_message_id(email_id, event["recipientEmail"], stack.domain)
        assert event["emailId"] == email_id
    api_log = next(p for p in stack.procs if p.name == "api").output()
    assert api_log.count("method=POST path=/ses/sns ") >= 5  # the access lines (docs/logging.md)

    # The same genuine envelope again is deduplicated; a tampered copy is refused and stores nothing.
    envelopes = []
    while len(envelopes) < 5:
        got = sqs.receive_message(QueueUrl=spy, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        envelopes.extend(json.loads(m["Body"]) for m in got)
    genuine = next(e for e in envelopes if json.loads(e["Message"])["eventType"] == "Delivery"
                   and json.loads(e["Message"])["mail"]["destination"] == ["ann@example.com"])
    assert genuine["SignatureVersion"] == "2" and genuine["SigningCertURL"].startswith("https://sns.us-east-1.")
    before = len(stack.stored_events())
    replay = httpx.post(f"{stack.url}/ses/sns", content=json.dumps(genuine),
                        headers={"Content-Type": "text/plain; charset=UTF-8"}, timeout=30)
    assert replay.status_code == 200, replay.text
    forged_record = json.loads(genuine["Message"])
    forged_record["eventType"] = "Complaint"
    forged_record["complaint"] = {"complainedRecipients": [{"emailAddress": "ann@example.com"}],
                                  "timestamp": forged_record["delivery"]["timestamp"]}
    forged = dict(genuine, Message=json.dumps(forged_record))
    refused = httpx.post(f"{stack.url}/ses/sns", content=json.dumps(forged),
                         headers={"Content-Type": "text/plain; charset=UTF-8"}, timeout=30)
    assert refused.status_code == 403, refused.text
    assert len(stack.stored_events()) == before
    assert stack.api("/complaints/ann@example.com").status_code == 404


# -- 3. faults from the proxy: throttling, 5xx, dropped connections ------------------------------


def test_throttled_sends_are_retried_later_and_sent_once(stack_factory):
    stack = stack_factory(max_send_rate=50, retry_delays=[1.0, 2.0, 4.0]).start(workers=1)
    recipients = [f"t{i}@example.com" for i in range(10)]
    throttled = {"t2@example.com": 1, "t5@example.com": 1, "t8@example.com": 2}
    for address, times in throttled.items():
        stack.proxy.inject(Fault.throttle(), action="SendEmail", times=times,
                           when=lambda r, a=address: a in r.destinations())
    assert stack.harness.ghost_send(recipients, email_id=ghost_email_id())["ok"]
    stack.wait_ledger(10)

    once_each(stack, recipients)
    by_address = collections.defaultdict(list)
    for seen in stack.send_requests():
        by_address[seen.request.destinations()[0]].append(seen)
    for address in recipients:
        outcomes = [s.outcome for s in by_address[address]]
        expected = ["throttle"] * throttled.get(address, 0) + ["forwarded"]
        assert outcomes == expected, (address, outcomes)
        if address in throttled:
            first, last = by_address[address][0], by_address[address][-1]
            assert first.status == 429
            assert last.at - first.at >= 0.9, "a throttled send was retried at once"
    temporary = [e for e in stack.stored_events("failed") if e["severity"] == "temporary"]
    assert collections.Counter(e["recipient"] for e in temporary) == collections.Counter(throttled)
    assert all(e["delivery-status"]["code"] == 421 for e in temporary)


def test_5xx_and_dropped_answers_are_settled_from_send_events_never_sent_twice(stack_factory):
    stack = stack_factory(max_send_rate=50, lease_seconds=3, in_doubt_grace_seconds=8).start(workers=1)
    recipients = [f"d{i}@example.com" for i in range(8)]
    after_500, dropped, never_forwarded = "d1@example.com", "d4@example.com", "d6@example.com"
    stack.proxy.inject(Fault.server_error(500, forward=True), action="SendEmail", times=1,
                       when=lambda r: after_500 in r.destinations())
    stack.proxy.inject(Fault.drop_after_forward(), action="SendEmail", times=1,
                       when=lambda r: dropped in r.destinations())
    stack.proxy.inject(Fault.server_error(503), action="SendEmail", times=1,
                       when=lambda r: never_forwarded in r.destinations())
    email_id = ghost_email_id()
    begin = window()
    assert stack.harness.ghost_send(recipients, email_id=email_id)["ok"]

    # SES took the first two (moto stored them) but the worker never heard: in doubt, not sent.
    stack.wait_for(lambda: {after_500, dropped} <= set(stack.sends_by_recipient()), what="the unanswered sends")
    stack.wait_ledger(5)
    ledger = {row.address: row for row in stack.ledger()}
    assert ledger[after_500].status == "sending" and ledger[after_500].provider_id is None
    assert ledger[dropped].status == "sending" and ledger[dropped].provider_id is None

    # The configuration set's SEND events settle them; the one SES never saw is sent again later.
    with SendEventPump(stack) as pump:
        rows = stack.wait_ledger(8, timeout=120)
    assert pump.error is None, pump.error
    once_each(stack, recipients)
    sends = {s.to: s for s in stack.raw_sends()}
    row_of = {row.address: row for row in rows}
    assert row_of[after_500].provider_id == sends[after_500].ses_id
    assert row_of[dropped].provider_id == sends[dropped].ses_id
    attempts = collections.defaultdict(list)
    for seen in stack.send_requests():
        attempts[seen.request.destinations()[0]].append(seen)
    assert [s.outcome for s in attempts[after_500]] == ["http_500"]
    assert [s.outcome for s in attempts[dropped]] == ["drop_after_forward"]
    assert [s.outcome for s in attempts[never_forwarded]] == ["http_503", "forwarded"]
    gap = attempts[never_forwarded][1].at - attempts[never_forwarded][0].at
    assert gap >= 7, f"resent {gap:.1f} s after a 503, before the in-doubt grace of 8 s"

    # None lost: each recipient's Delivery reaches Ghost once.
    tags = stack.send_tags()
    stack.publish([stack.record("Delivery", sends[a], tags[a]) for a in recipients])
    stack.wait_events({"delivered": 8})
    _, normalized, _ = ghost_fetch_all(stack, begin)
    assert sorted(e["recipientEmail"] for e in normalized if e["type"] == "delivered") == sorted(recipients)


# -- 4. a worker killed mid-chunk, another resuming -----------------------------------------------


def test_worker_killed_mid_chunk_and_another_resumes_every_recipient_exactly_once(stack_factory):
    stack = stack_factory(max_send_rate=6, lease_seconds=4, visibility_timeout=5, in_doubt_grace_seconds=10)
    stack.start(workers=0)
    first = stack.start_worker("doomed")
    recipients = [f"k{i}@example.com" for i in range(40)]
    assert stack.harness.ghost_send(recipients, email_id=ghost_email_id())["ok"]

    stack.wait_for(lambda: len(stack.raw_sends()) >= 10, timeout=60, what="10 sends by the first worker")
    first.kill()
    assert first.popen.returncode == -9
    sent_before = stack.sends_by_recipient()
    ledger = stack.ledger()
    # Mid-chunk: each answer reached the ledger as it arrived, so at most the calls in flight
    # (send_threads = 8) are sends the ledger does not know about yet.
    assert 10 <= len(sent_before) < 40
    known = sum(1 for row in ledger if row.provider_id)
    assert len(sent_before) - 8 <= known <= len(sent_before)
    assert all(row.status in ("queued", "sending", "sent") for row in ledger)

    with SendEventPump(stack) as pump:
        stack.start_worker("rescuer")
        rows = stack.wait_ledger(40, timeout=180)
    assert pump.error is None, pump.error
    once_each(stack, recipients)
    sends = {s.to: s.ses_id for s in stack.raw_sends()}
    assert all(row.provider_id == sends[row.address] for row in rows)
    assert all(stack.sends_by_recipient()[a] == 1 for a in sent_before)


# -- 5. two worker processes sharing the rate budget ---------------------------------------------


def test_two_worker_processes_share_the_storage_token_bucket(stack_factory):
    rate = 8
    stack = stack_factory(max_send_rate=rate, jobs_per_worker=1).start(workers=0)
    proxies = [stack.proxy, stack.new_proxy()]
    for index, proxy in enumerate(proxies):  # each process talks to SES through its own proxy
        stack.start_worker(f"worker{index}", POSTGATE_PLUGINS__SES__ENDPOINT_URL=proxy.url)
    recipients = [f"r{i}@example.com" for i in range(100)]  # two jobs of 50
    assert stack.harness.ghost_send(recipients, email_id=ghost_email_id())["ok"]
    stack.wait_ledger(100, timeout=120)
    once_each(stack, recipients)

    # When each SendEmail that SES took reached the proxy (a retried attempt is not a second send).
    per_process = [sorted(s.at for s in stack.send_requests(p) if s.status == 200) for p in proxies]
    times = sorted(per_process[0] + per_process[1])
    start = times[0]
    timeline = "; ".join(  # for the failure messages: each process's sends per second from the first
        f"worker{i}: {sorted(collections.Counter(int(t - start) for t in sent).items())}"
        for i, sent in enumerate(per_process))
    assert all(len(sent) >= 20 for sent in per_process), timeline
    # Both processes sent at the same time, each two windows' worth at least while the other was
    # sending too: the rate below was shared, not taken by one process after the other (the
    # window's turns give each about 40; a process that takes every grant leaves the other none).
    both = (max(sent[0] for sent in per_process), min(sent[-1] for sent in per_process))
    overlap = [sum(both[0] <= t <= both[1] for t in sent) for sent in per_process]
    assert min(overlap) >= 2 * rate, f"no overlap: sends while both sent {overlap}; {timeline}"
    # Every send is made inside its grant of the shared window (granted before the call, released
    # after the answer) and a grant counts until a window after its release, so no span shorter
    # than a second holds more than ``rate`` sends of both processes together, whatever the load.
    busiest = max(bisect.bisect_left(times, t + 1.0) - i for i, t in enumerate(times))
    assert busiest <= rate, f"{busiest} sends within one second with max_send_rate {rate}: {timeline}"
