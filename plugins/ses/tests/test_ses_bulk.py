"""The optional SendBulkEmail path: grouping, call shape, per-entry results, and moto's lack of it."""

from __future__ import annotations

import json
import pathlib
import sys
import time

from postgate import Attachment, Batch, Message, Recipient, RecipientStatus
from postgate.render import Renderer
from postgate_ses.bulk import BULK_MAX, bulk_params, entry_verdicts, plan, prepare
from postgate_ses.delivery import verdict_result

sys.path.insert(0, str(pathlib.Path(__file__).parent))

from fault_proxy import Fault, FaultProxy  # noqa: E402
from ses_helpers import DOMAIN, ledger, running, ses_gateway, setup_ses, wait_for  # noqa: E402


def newsletter(addresses: list[str], *, personal_body: bool = False, **kw) -> Message:
    """Same content for everyone; per-recipient List-Unsubscribe (and body, if asked)."""
    fields = dict(
        domain=DOMAIN, sender="Blog <noreply@mg.example.com>", to=list(addresses), subject="Weekly news",
        text="News for %recipient.name%" if personal_body else "News for everyone",
        html="<p>News for %recipient.name%</p>" if personal_body else "<p>News for everyone</p>",
        recipient_variables={a: {"name": f"M{i}", "unsub": f"https://blog.example.com/u/{i}"}
                             for i, a in enumerate(addresses)},
        headers=[("List-Unsubscribe", "<%recipient.unsub%>"), ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
                 ("Reply-To", "editor@blog.example.com")],
        tags=["news"], tracking_opens=True,
    )
    fields.update(kw)
    return Message(**fields)


def render(message: Message) -> list:
    batch = Batch(id=9, domain=DOMAIN, message_id=f"20260101.abc@{DOMAIN}", response_id=f"<20260101.abc@{DOMAIN}>",
                  email_id=None, tags=list(message.tags), content=b"", testmode=False, deliver_at=None,
                  created_at=time.time(), enqueued=True, accepted_logged=True, recipient_count=len(message.to))
    renderer = Renderer(batch, message)
    rows = [Recipient(id=100 + i, batch_id=9, domain=DOMAIN, address=a, name=None, message_id=f"m{i}@{DOMAIN}",
                      variables=message.recipient_variables[a], status=RecipientStatus.SENDING)
            for i, a in enumerate(message.to)]
    return [renderer(row) for row in rows]


def test_messages_with_shared_content_are_grouped_by_fifty():
    messages = render(newsletter([f"n{i}@example.com" for i in range(120)]))
    groups, singles = plan(messages)
    assert sorted(len(g) for g in groups) == [20, 50, 50] and singles == []
    assert [p.index for g in groups for p in g] == list(range(120))


def test_personal_bodies_and_unsupported_shapes_go_through_send_email():
    personal = render(newsletter(["a@example.com", "b@example.com"], personal_body=True))
    assert plan(personal) == ([], [0, 1])
    amp = render(newsletter(["a@example.com", "b@example.com"], amp_html="<html amp4email></html>"))
    assert plan(amp) == ([], [0, 1])
    braces = render(newsletter(["a@example.com", "b@example.com"], text="{{not a placeholder}}"))
    assert plan(braces) == ([], [0, 1])
    cc = render(newsletter(["a@example.com", "b@example.com"], cc=["c@example.com"]))
    assert plan(cc) == ([], [0, 1])
    many = [(f"X-H{i}", "v") for i in range(16)]
    assert isinstance(prepare(0, render(newsletter(["a@example.com"], headers=many))[0]), str)
    single = render(newsletter(["only@example.com"]))
    assert plan(single) == ([], [0])


def test_bulk_call_shape():
    messages = render(newsletter(["a@example.com", "b@example.com"],
                                 attachments=[Attachment("a.pdf", "application/pdf", b"%PDF-1.4")]))
    (group,), singles = plan(messages)
    params = bulk_params(group, configuration_set="postgate", tracking=True)
    assert params["FromEmailAddress"] == "Blog <noreply@mg.example.com>"
    assert params["ReplyToAddresses"] == ["editor@blog.example.com"]
    assert params["ConfigurationSetName"] == "postgate"
    assert params["ConfigurationOverrides"]["Tracking"]["OpenTrackingEnabled"] == "ENABLED"
    template = params["DefaultContent"]["Template"]
    assert template["TemplateContent"]["Subject"] == "Weekly news"
    assert template["TemplateContent"]["Html"].strip() == "<p>News for everyone</p>"
    assert template["TemplateContent"]["Text"].strip() == "News for everyone"
    assert template["Attachments"] == [{"RawContent": b"%PDF-1.4", "FileName": "a.pdf",
                                        "ContentType": "application/pdf", "ContentDisposition": "ATTACHMENT"}]
    first, second = params["BulkEmailEntries"]
    assert first["Destination"] == {"ToAddresses": ["a@example.com"]}
    headers = {h["Name"]: h["Value"] for h in first["ReplacementHeaders"]}
    assert headers["List-Unsubscribe"] == "<https://blog.example.com/u/0>"
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["X-Postgate-Id"] == f"20260101.abc@{DOMAIN}"
    assert not {"From", "To", "Subject", "Date", "Message-ID", "Reply-To"} & set(headers)
    assert {h["Name"]: h["Value"] for h in second["ReplacementHeaders"]}["List-Unsubscribe"] == \
        "<https://blog.example.com/u/1>"
    assert second["ReplacementTags"] == [{"Name": "pg_batch", "Value": "9"}, {"Name": "pg_rcpt", "Value": "101"},
                                         {"Name": "pg_domain", "Value": "mg_example_com"}]
    assert len(params["BulkEmailEntries"]) <= BULK_MAX


RESPONSE = {"BulkEmailEntryResults": [
    {"Status": "SUCCESS", "MessageId": "0100018f-0001"},
    {"Status": "MESSAGE_REJECTED", "Error": "Email address is on the suppression list"},
    {"Status": "ACCOUNT_THROTTLED", "Error": "Maximum sending rate exceeded."},
    {"Status": "TRANSIENT_FAILURE", "Error": "Try again"},
    {"Status": "ACCOUNT_DAILY_QUOTA_EXCEEDED", "Error": "Daily message quota exceeded."},
    {"Status": "CONFIGURATION_SET_NOT_FOUND", "Error": "Configuration set postgate does not exist"},
    {"Status": "ACCOUNT_SENDING_PAUSED", "Error": "Sending paused"},
    {"Status": "INVALID_PARAMETER", "Error": "Illegal address"},
]}


def test_per_entry_results_map_one_by_one():
    verdicts = entry_verdicts(RESPONSE, 9)
    assert [v.kind for v in verdicts] == ["sent", "permanent", "throttled", "temporary", "quota", "config",
                                          "paused", "permanent", "unknown"]
    assert verdicts[0].provider_id == "0100018f-0001"
    results = [verdict_result(i, v) for i, v in enumerate(verdicts)]
    assert [(r.outcome, r.permanent, r.code) for r in results] == [
        ("sent", False, None), ("failed", True, 550), ("failed", False, 421), ("failed", False, 451),
        ("failed", False, 421), ("failed", False, 451), ("failed", False, 451), ("failed", True, 550),
        ("unknown", False, None)]
    assert "suppression list" in results[1].message


async def test_partial_failure_through_the_gateway(aws, gateway_factory):
    setup_ses(aws)
    answer = {"BulkEmailEntryResults": [{"Status": "SUCCESS", "MessageId": "bulk-1"},
                                        {"Status": "MESSAGE_REJECTED", "Error": "Rejected"},
                                        {"Status": "ACCOUNT_THROTTLED", "Error": "Maximum sending rate exceeded."}]}
    with FaultProxy(aws.url) as proxy:
        proxy.inject(Fault("bulk_answer", status=200, raw_body=json.dumps(answer).encode()),
                     action="SendBulkEmail", nth=1)
        gw = ses_gateway(gateway_factory, proxy.url, bulk=True, gateway={"chunk_size": 50})
        await gw.start()
        await gw.accept(newsletter(["a@example.com", "b@example.com", "c@example.com"]))
        async with running(gw):
            async def settled():
                return {r.status for r in await ledger(gw)} <= {RecipientStatus.SENT, RecipientStatus.FAILED}
            await wait_for(settled)
        calls = proxy.seen("SendBulkEmail")
    rows = {row.address: row for row in await ledger(gw)}
    assert (rows["a@example.com"].status, rows["a@example.com"].provider_id) == (RecipientStatus.SENT, "bulk-1")
    assert rows["b@example.com"].status is RecipientStatus.FAILED
    # The throttled entry alone was sent again (a single message: SendEmail, really sent by moto).
    assert rows["c@example.com"].status is RecipientStatus.SENT
    assert len(calls) == 1 and len(calls[0].request.json()["BulkEmailEntries"]) == 3
    assert [m["destinations"][0] for m in aws.raw_messages()] == ["c@example.com"]
    assert gw.delivery.aimd.cuts == 1


async def test_bulk_against_moto_fails_clearly(aws, gateway_factory):
    setup_ses(aws)
    gw = ses_gateway(gateway_factory, aws.url, bulk=True, gateway={"retry_delays": [30], "chunk_size": 50})
    await gw.start()
    await gw.accept(newsletter(["a@example.com", "b@example.com"]))
    async with running(gw):
        async def retrying():
            return {r.status for r in await ledger(gw)} == {RecipientStatus.RETRY}
        await wait_for(retrying)
    assert gw.delivery.pause.kind == "config"
    readiness = await gw.readiness()
    assert "SendBulkEmail is not available at this endpoint (HTTP 404); set [plugins.ses] bulk = false" in \
        readiness["delivery"]
    assert not aws.raw_messages()
