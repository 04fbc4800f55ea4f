"""``postgate doctor``: check the AWS side of the SES and SQS plugins, one line per check.

Each check answers ``PASS``, ``WARN``, ``FAIL`` (or ``SKIP`` when it does not apply) with a detail
and, unless it passed, a one-line fix. Only read calls are made, except with ``probe``: then a
test message is published to the SNS topic and looked for on the events queue (and deleted).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .setup_checks import identity_checks
from .bootstrap import (
    AWS_ERRORS,
    AWS_QUEUE_URL,
    EVENT_DESTINATION,
    EVENT_TYPES,
    REQUIRED_EVENT_TYPES,
    SNS_PATH,
    Clients,
    Target,
    error_code,
    error_text,
    event_destinations,
    not_found,
    queue_missing,
    queue_name_of,
    unsupported,
)

PASS, WARN, FAIL, SKIP = "PASS", "WARN", "FAIL", "SKIP"
BOOTSTRAP = "run `postgate aws bootstrap`"
DENIED = {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation"}
CREDENTIAL_ERRORS = {"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException"}


@dataclass
class CheckResult:
    name: str
    status: str
    detail: str
    fix: str = ""


def _fix_for(exc: BaseException, fallback: str) -> str:
    code = error_code(exc)
    if code in DENIED:
        return "grant the missing permission (the bootstrap policy in docs/iam.md covers every doctor call)"
    if code in CREDENTIAL_ERRORS or type(exc).__name__ == "NoCredentialsError":
        return "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or attach a role)"
    if isinstance(exc, BotoCoreError):
        return "check the network path to AWS and [plugins.ses] endpoint_url / AWS_ENDPOINT_URL"
    return fallback


class Doctor:
    def __init__(self, target: Target, clients: Clients, *, probe: bool = False, probe_timeout: float = 10.0) -> None:
        self.target = target
        self.ses = target.ses
        self.clients = clients
        self.probe = probe
        self.probe_timeout = probe_timeout
        self.results: list[CheckResult] = []
        self._account: dict[str, Any] | None = None
        self._account_error: BaseException | None = None
        self.topic_arn: str | None = None
        self.events_queue: tuple[str, str] | None = None  # (url, arn)
        self.config_set_found = False

    def run(self) -> list[CheckResult]:
        checks: list[tuple[str, Callable[[], None]]] = [
            ("credentials", self.check_credentials),
            ("region", self.check_region),
            ("account", self.check_account),
            ("quotas", self.check_quotas),
            ("sending identity", self.check_identity),
            ("configuration set", self.check_configuration_set),
            ("jobs queue", self.check_jobs_queue),
            ("events queue", self.check_events_queue),
            ("SNS topic", self.check_topic),
            ("event destination", self.check_event_destinations),
            ("SNS subscription", self.check_subscriptions),
        ]
        if self.probe:
            checks.append(("SNS probe", self.check_probe))
        for name, check in checks:
            try:
                check()
            except AWS_ERRORS as exc:
                self.add(name, FAIL, error_text(exc), _fix_for(exc, "see the error above"))
        return self.results

    def add(self, name: str, status: str, detail: str, fix: str = "") -> None:
        self.results.append(CheckResult(name, status, detail, "" if status in (PASS, SKIP) else fix))

    @property
    def failed(self) -> bool:
        return any(r.status == FAIL for r in self.results)

    # -- account ------------------------------------------------------------------------------

    def check_credentials(self) -> None:
        who = self.clients.client("sts").get_caller_identity()
        self.add("credentials", PASS, f"account {who['Account']} as {who['Arn']}")

    def check_region(self) -> None:
        import boto3

        region = self.ses.region
        offered = boto3.session.Session().get_available_regions("sesv2")
        problems = []
        if offered and region not in offered:
            problems.append(f"SES is not offered in {region!r} (known: {', '.join(offered[:6])}, …)")
        queue_region = AWS_QUEUE_URL.match(self.ses.events_queue_url or "")
        if queue_region and queue_region.group(1).lower() != region:
            problems.append(f"events_queue_url is in {queue_region.group(1)}, SES in {region}")
        if problems:
            self.add("region", WARN, "; ".join(problems), "set [plugins.ses] region to the region of your SES account")
        else:
            jobs = f", jobs queue in {self.clients.jobs_region}" if self.clients.jobs_region != region else ""
            self.add("region", PASS, f"SES, SNS and events in {region}{jobs}")

    def account(self) -> dict[str, Any] | None:
        """SESv2 GetAccount, or ``None`` when the endpoint lacks it (moto)."""
        if self._account is None and self._account_error is None:
            try:
                self._account = self.clients.client("sesv2").get_account()
            except ClientError as exc:
                if not unsupported(exc):
                    raise
                self._account_error = exc
        return self._account

    def check_account(self) -> None:
        account = self.account()
        if account is None:
            self.add("account", WARN, "could not tell sandbox from production: GetAccount is not available at this endpoint",
                     "check the SES console (Account dashboard) or run the doctor against real AWS")
            return
        if not account.get("SendingEnabled", True):
            self.add("account", FAIL, "sending is paused for the whole account",
                     "fix the cause shown in the SES console, then `aws sesv2 put-account-sending-attributes --sending-enabled`")
            return
        status = account.get("EnforcementStatus", "HEALTHY")
        if status == "SHUTDOWN":
            self.add("account", FAIL, "SES has shut the account down", "contact AWS support (see the SES console's reputation page)")
        elif not account.get("ProductionAccessEnabled"):
            self.add("account", WARN, "sandbox: mail only to verified addresses, 200 per day, 1 per second",
                     "request production access (docs/aws-ses.md#production-access)")
        elif status != "HEALTHY":
            self.add("account", WARN, f"production access, enforcement status {status}",
                     "lower bounce and complaint rates; see the SES console's reputation page")
        else:
            self.add("account", PASS, "production access, sending enabled, enforcement HEALTHY")

    def check_quotas(self) -> None:
        account = self.account()
        source = "GetAccount"
        if account is not None:
            quota = account.get("SendQuota", {})
        else:
            quota = self.clients.client("ses").get_send_quota()
            source = "v1 GetSendQuota"
        rate = float(quota.get("MaxSendRate", 0))
        daily = float(quota.get("Max24HourSend", 0))
        sent = float(quota.get("SentLast24Hours", 0))
        detail = (f"MaxSendRate {rate:g}/s, Max24HourSend {'unlimited' if daily < 0 else f'{daily:g}'}, "
                  f"SentLast24Hours {sent:g} ({source})")
        if daily >= 0 and sent >= daily:
            self.add("quotas", FAIL, detail + ": the 24-hour quota is used up",
                     "wait for the 24-hour window to free quota, or request a quota increase in the SES console")
        elif self.ses.max_send_rate and self.ses.max_send_rate > rate > 0:
            self.add("quotas", WARN, detail + f": max_send_rate {self.ses.max_send_rate:g} is above the account's rate",
                     f"lower [plugins.ses] max_send_rate to at most {rate:g} (or leave it unset)")
        elif daily > 0 and sent >= 0.8 * daily:
            self.add("quotas", WARN, detail + ": over 80 % of the 24-hour quota used",
                     "request a sending quota increase before the next large newsletter")
        else:
            self.add("quotas", PASS, detail)

    # -- SES ----------------------------------------------------------------------------------

    def check_identity(self) -> None:
        domain = self.ses.sending_domain
        if not domain:
            self.add("sending identity", WARN, "no sending_domain configured: identity and DKIM not checked",
                     "set [plugins.ses] sending_domain to the domain in your From addresses")
            return
        try:
            identity = self.clients.client("sesv2").get_email_identity(EmailIdentity=domain)
        except ClientError as exc:
            if not not_found(exc):
                raise
            identity = None
        for check in identity_checks(domain, self.ses.region, identity):
            self.add(check.name, check.status, check.detail, check.fix)

    def check_configuration_set(self) -> None:
        name = self.ses.configuration_set
        try:
            config = self.clients.client("sesv2").get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            if not not_found(exc):
                raise
            self.add("configuration set", FAIL, f"{name!r} does not exist in {self.ses.region}",
                     f"{BOOTSTRAP}, or set [plugins.ses] configuration_set to an existing one")
            return
        self.config_set_found = True
        tracking = (config.get("TrackingOptions") or {}).get("CustomRedirectDomain")
        detail = f"{name!r} exists" + (f", tracking domain {tracking}" if tracking else "")
        if (config.get("SendingOptions") or {}).get("SendingEnabled") is False:
            self.add("configuration set", WARN, detail + ", but SES reports sending disabled for it",
                     f"`aws sesv2 put-configuration-set-sending-options --configuration-set-name {name} --sending-enabled`")
        else:
            self.add("configuration set", PASS, detail)

    def check_event_destinations(self) -> None:
        if not self.config_set_found:
            self.add("event destination", SKIP, "no configuration set to read")
            return
        destinations, via_v1 = event_destinations(self.clients, self.ses.configuration_set)
        enabled = [d for d in destinations if d["Enabled"] and d.get("TopicArn")]
        ours = [d for d in enabled if self.topic_arn and d["TopicArn"] == self.topic_arn] or enabled
        covered = {t for d in ours for t in d["MatchingEventTypes"]}
        missing_required = [t for t in REQUIRED_EVENT_TYPES if t not in covered]
        missing_other = [t for t in EVENT_TYPES if t not in covered and t not in REQUIRED_EVENT_TYPES]
        where = " (read through SES v1)" if via_v1 else ""
        fix = f"{BOOTSTRAP} (it publishes every event type through the {EVENT_DESTINATION!r} destination)"
        if not ours:
            self.add("event destination", FAIL, f"no enabled SNS event destination on {self.ses.configuration_set!r}{where}", fix)
        elif missing_required:
            self.add("event destination", FAIL, f"not published: {', '.join(missing_required + missing_other)}{where}", fix)
        elif missing_other:
            self.add("event destination", WARN, f"not published: {', '.join(missing_other)}{where}", fix)
        else:
            topics = sorted({d["TopicArn"].rsplit(":", 1)[-1] for d in ours})
            detail = f"all {len(EVENT_TYPES)} event types -> {', '.join(topics)}{where}"
            if self.topic_arn and not any(d["TopicArn"] == self.topic_arn for d in ours):
                self.add("event destination", WARN, detail + f", not to {self.ses.topic_name!r}",
                         f"point the destination at {self.ses.topic_name!r} or set [plugins.ses] topic_name")
            else:
                self.add("event destination", PASS, detail)

    # -- SQS ----------------------------------------------------------------------------------

    def _queue(self, sqs: Any, name: str, url: str | None) -> tuple[str, dict[str, str]] | None:
        try:
            if url is None:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        except ClientError as exc:
            if queue_missing(exc):
                return None
            raise

    def _queue_check(self, check: str, sqs: Any, name: str, url: str | None, setting: str) -> tuple[str, dict[str, str]] | None:
        found = self._queue(sqs, name, url)
        if found is None:
            self.add(check, FAIL, f"queue {url or name} does not exist", f"{BOOTSTRAP}, or fix {setting}")
            return None
        url, attrs = found
        waiting = int(attrs.get("ApproximateNumberOfMessages", 0))
        in_flight = int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0))
        self.add(check, PASS, f"{queue_name_of(url)}: {waiting} waiting, {in_flight} in flight")
        raw = attrs.get("RedrivePolicy")
        dlq_check = f"{check} DLQ"
        if not raw:
            self.add(dlq_check, WARN, f"{queue_name_of(url)} has no dead-letter queue: a poison message is retried forever",
                     f"{BOOTSTRAP} (it adds a RedrivePolicy)")
            return found
        policy = json.loads(raw)
        dlq_arn = str(policy.get("deadLetterTargetArn", ""))
        dlq = self._queue(sqs, queue_name_of(dlq_arn), None)
        if dlq is None:
            self.add(dlq_check, FAIL, f"dead-letter queue {queue_name_of(dlq_arn)} does not exist", f"{BOOTSTRAP} (it recreates it)")
            return found
        depth = int(dlq[1].get("ApproximateNumberOfMessages", 0)) + int(dlq[1].get("ApproximateNumberOfMessagesNotVisible", 0))
        if depth:
            self.add(dlq_check, WARN,
                     f"{depth} message(s) in {queue_name_of(dlq_arn)} (failed {policy.get('maxReceiveCount')} receives)",
                     f"read them (`aws sqs receive-message --queue-url {dlq[0]}`), fix the cause in the worker logs, then "
                     f"`aws sqs start-message-move-task --source-arn {dlq_arn}` to move them back")
        else:
            self.add(dlq_check, PASS, f"{queue_name_of(dlq_arn)} empty (after {policy.get('maxReceiveCount')} receives)")
        return found

    def check_jobs_queue(self) -> None:
        if not self.target.use_jobs_queue:
            self.add("jobs queue", SKIP, "[backends] queue is not sqs")
            return
        if self.target.queue_backend_is_sqs and not self.target.jobs_queue_url:
            self.add("jobs config", FAIL, 'backends.queue is "sqs" but [plugins.sqs] queue_url is not set',
                     "paste the queue_url printed by `postgate aws bootstrap` into [plugins.sqs]")
        self._queue_check("jobs queue", self.clients.jobs_sqs(), self.target.jobs_queue_name, self.target.jobs_queue_url,
                          "[plugins.sqs] queue_url")

    def check_events_queue(self) -> None:
        if not self.ses.events_queue_url and not self.ses.sns_endpoint:
            self.add("events config", FAIL, "neither events_queue_url nor sns_endpoint is set: no SES event reaches Postgate",
                     "paste the events_queue_url printed by `postgate aws bootstrap` into [plugins.ses]")
        found = self._queue_check("events queue", self.clients.client("sqs"), self.target.events_queue_name,
                                  self.ses.events_queue_url, "[plugins.ses] events_queue_url")
        if found is not None:
            self.events_queue = (found[0], found[1].get("QueueArn", ""))

    # -- SNS ----------------------------------------------------------------------------------

    def check_topic(self) -> None:
        suffix = f":{self.ses.topic_name}"
        for page in self.clients.client("sns").get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].endswith(suffix):
                    self.topic_arn = str(topic["TopicArn"])
        if self.topic_arn is None:
            self.add("SNS topic", FAIL, f"topic {self.ses.topic_name!r} does not exist in {self.ses.region}",
                     f"{BOOTSTRAP}, or set [plugins.ses] topic_name")
            return
        self.add("SNS topic", PASS, self.topic_arn)

    def check_subscriptions(self) -> None:
        if self.topic_arn is None:
            self.add("SNS subscription", SKIP, "no topic")
            return
        sns = self.clients.client("sns")
        subs: list[dict[str, Any]] = []
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=self.topic_arn):
            subs.extend(page.get("Subscriptions", []))
        if self.events_queue is None:
            self.add("SNS -> events queue", SKIP, "no events queue")
        else:
            self._check_sqs_subscription(sns, subs, *self.events_queue)
        if self.ses.sns_endpoint:
            self._check_https_subscription(subs)

    def _check_sqs_subscription(self, sns: Any, subs: list[dict[str, Any]], url: str, arn: str) -> None:
        check = "SNS -> events queue"
        sub = next((s for s in subs if s.get("Protocol") == "sqs" and s.get("Endpoint") == arn), None)
        if sub is None:
            self.add(check, FAIL, f"{self.ses.topic_name} has no subscription for {queue_name_of(arn)}",
                     f"{BOOTSTRAP} (it subscribes the queue)")
            return
        sub_arn = str(sub["SubscriptionArn"])
        if not sub_arn.startswith("arn:"):
            self.add(check, FAIL, "subscription pending confirmation",
                     "confirm it in the SNS console (cross-account queues need the queue owner to confirm)")
            return
        attrs = sns.get_subscription_attributes(SubscriptionArn=sub_arn).get("Attributes", {})
        policy = self.clients.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy", "")
        if attrs.get("PendingConfirmation") == "true":
            self.add(check, FAIL, "subscription pending confirmation", "confirm it in the SNS console")
        elif self.topic_arn not in policy:
            self.add(check, FAIL, "the queue policy does not let the topic send: SNS drops every event",
                     f"{BOOTSTRAP} (it adds a statement allowing aws:SourceArn {self.topic_arn})")
        elif attrs.get("RawMessageDelivery") == "true":
            self.add(check, WARN, "confirmed, but raw message delivery is on (Postgate expects the SNS envelope)",
                     f"`aws sns set-subscription-attributes --subscription-arn {sub_arn} "
                     "--attribute-name RawMessageDelivery --attribute-value false`")
        else:
            self.add(check, PASS, f"confirmed, envelope delivery, queue policy allows {self.ses.topic_name}")

    def _check_https_subscription(self, subs: list[dict[str, Any]]) -> None:
        check = "SNS -> HTTPS endpoint"
        endpoint = self.target.sns_endpoint_url
        if endpoint is None:
            self.add(check, FAIL, f"sns_endpoint is on but [gateway] public_url is not set: SNS cannot reach {SNS_PATH}",
                     "set [gateway] public_url to the URL SNS reaches Postgate at")
            return
        if self.topic_arn not in self.ses.sns_topic_arns:
            self.add(check, FAIL, f"{self.topic_arn} is not in sns_topic_arns: the endpoint refuses its messages",
                     f"add it: [plugins.ses] sns_topic_arns = [{json.dumps(self.topic_arn)}]")
            return
        sub = next((s for s in subs if s.get("Protocol") in ("http", "https") and s.get("Endpoint") == endpoint), None)
        if sub is None:
            self.add(check, FAIL, f"no subscription for {endpoint}", f"{BOOTSTRAP} (it subscribes the endpoint)")
        elif not str(sub["SubscriptionArn"]).startswith("arn:"):
            self.add(check, FAIL, f"{endpoint} pending confirmation",
                     "start `postgate serve` with sns_endpoint on, reachable from SNS, so it confirms the subscription")
        else:
            self.add(check, PASS, f"{endpoint} confirmed")

    def check_probe(self) -> None:
        if self.topic_arn is None or self.events_queue is None:
            self.add("SNS probe", SKIP, "needs the topic and the events queue")
            return
        nonce = f"postgate-doctor-{uuid.uuid4().hex}"
        sns, sqs = self.clients.client("sns"), self.clients.client("sqs")
        url = self.events_queue[0]
        started = time.monotonic()
        sns.publish(TopicArn=self.topic_arn, Message=json.dumps({"postgateProbe": nonce}))
        deadline = started + self.probe_timeout
        while time.monotonic() < deadline:
            wait = max(0, min(2, int(deadline - time.monotonic())))
            response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait, VisibilityTimeout=5)
            for message in response.get("Messages", []):
                if nonce in message.get("Body", ""):
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    self.add("SNS probe", PASS, f"a test message published to the topic arrived in {time.monotonic() - started:.1f}s")
                    return
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
        self.add("SNS probe", FAIL, f"a test message published to the topic did not arrive within {self.probe_timeout:g}s",
                 "check the subscription and the queue policy above (a running worker may also have taken it: retry)")


def render(results: list[CheckResult]) -> list[str]:
    width = max((len(r.name) for r in results), default=10)
    lines = []
    for result in results:
        lines.append(f"{result.status}  {result.name:<{width}}  {result.detail}")
        if result.fix:
            lines.append(f"{'':4}  {'':<{width}}  fix: {result.fix}")
    counts = {status: sum(r.status == status for r in results) for status in (PASS, WARN, FAIL, SKIP)}
    lines.append("")
    lines.append(f"{counts[PASS]} passed, {counts[WARN]} warning(s), {counts[FAIL]} failed"
                 + (f", {counts[SKIP]} skipped" if counts[SKIP] else ""))
    return lines
