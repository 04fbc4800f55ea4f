"""``postgate aws bootstrap``: find or create every AWS resource the SES and SQS plugins use.

Every step is describe-or-create, so running it again changes nothing and reports ``exists``:

1. the SQS jobs queue (``[plugins.sqs] queue_url``, else ``jobs_queue_name``) and its dead-letter
   queue, joined by a ``RedrivePolicy`` (``max_receive_count``);
2. the SES events queue (``events_queue_url``, else ``events_queue_name``) and its dead-letter queue;
3. the SNS topic SES publishes to (``SignatureVersion`` 2);
4. the topic's SQS subscription to the events queue (envelope, ``RawMessageDelivery`` false) and a
   queue policy that lets only that topic (``aws:SourceArn``) send to the queue;
5. with ``sns_endpoint`` on, an HTTPS subscription to ``<public_url>/ses/sns``;
6. the domain identity ``sending_domain`` (Easy DKIM, 2048-bit);
7. the configuration set (sending enabled, optional custom tracking domain) and its event
   destination publishing every SES event type to the topic.

SES v2 has no call for event destinations in moto, so a v2 ``404`` without an error code falls
back to SES v1 ``CreateConfigurationSetEventDestination`` (which moto stores). Real AWS answers
the v2 call. With ``dry_run`` only describe calls are made.

The module also renders what is left for the operator: the settings to paste, the IAM policies
(runtime and bootstrap) and the DNS records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from postgate.settings import Settings

from .aws import client_config
from .settings import SesSettings
from .snippet import Carried, settings_snippet

# Every event type a configuration set can publish, in SES v2 spelling.
EVENT_TYPES = (
    "SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY",
    "OPEN", "CLICK", "RENDERING_FAILURE", "DELIVERY_DELAY", "SUBSCRIPTION",
)
# Without these Postgate misses outcomes (or cannot settle in-doubt sends): missing one is a failure.
REQUIRED_EVENT_TYPES = ("SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY")
V1_EVENT_TYPES = {
    "SEND": "send", "REJECT": "reject", "BOUNCE": "bounce", "COMPLAINT": "complaint",
    "DELIVERY": "delivery", "OPEN": "open", "CLICK": "click",
    "RENDERING_FAILURE": "renderingFailure", "DELIVERY_DELAY": "deliveryDelay",
    "SUBSCRIPTION": "subscription",
}
FROM_V1_EVENT_TYPES = {v1: v2 for v2, v1 in V1_EVENT_TYPES.items()}
EVENT_DESTINATION = "postgate-sns"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: ``https://sqs.<region>.amazonaws.com/<account>/<name>`` and the legacy ``<region>.queue.amazonaws.com``.
AWS_QUEUE_URL = re.compile(r"^https?://(?:sqs[.-])?([a-z0-9-]+)\.(?:queue\.)?amazonaws\.com(?:\.cn)?/", re.IGNORECASE)
#: What a failed AWS call raises (moto answers some unimplemented calls with an HTML 500 page).
AWS_ERRORS = (ClientError, BotoCoreError, ResponseParserError)
QUEUE_MISSING = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}
SNS_PATH = "/ses/sns"


class BootstrapError(Exception):
    """A step failed; the steps done so far are on ``steps``."""

    def __init__(self, message: str, steps: list[Step]) -> None:
        super().__init__(message)
        self.steps = steps


# -- AWS helpers ------------------------------------------------------------------------------


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def error_text(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        message = str(err.get("Message", "")).strip()
        if message.startswith("<"):  # an HTML error page (moto's unknown route)
            message = "operation not available at this endpoint"
        return f"{err.get('Code', 'error')}: {message}" if message else str(err.get("Code", exc))
    if isinstance(exc, ResponseParserError):
        return "the endpoint answered with an error page (the operation is probably not implemented there)"
    return str(exc) or type(exc).__name__


def unsupported(exc: BaseException) -> bool:
    """The endpoint does not offer the operation at all (moto answers a bare HTML 404), as
    opposed to ``NotFoundException`` for a missing resource."""
    return error_code(exc) in {"404", "NotImplemented", "UnknownOperationException", "InvalidAction"}


def not_found(exc: BaseException) -> bool:
    return error_code(exc) in {"NotFoundException", "NotFound", "ConfigurationSetDoesNotExist"}


def queue_missing(exc: BaseException) -> bool:
    return error_code(exc) in QUEUE_MISSING


def queue_name_of(url_or_arn: str) -> str:
    return url_or_arn.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]


class Clients:
    """boto3 clients for one run, built on demand. ``endpoint_url`` ``None`` lets botocore use
    ``AWS_ENDPOINT_URL`` (and its per-service forms) or the real AWS endpoints."""

    def __init__(self, ses: SesSettings, sqs_table: dict[str, Any] | None = None) -> None:
        sqs_table = sqs_table or {}
        self.ses = ses
        self.region = ses.region
        self.endpoint_url = ses.endpoint_url
        url_region = AWS_QUEUE_URL.match(str(sqs_table.get("queue_url") or ""))
        self.jobs_region = str(sqs_table.get("region") or (url_region.group(1).lower() if url_region else ses.region))
        self.jobs_endpoint_url = sqs_table.get("endpoint_url") or ses.endpoint_url
        self._cache: dict[tuple[str, str, str | None], Any] = {}

    def _client(self, service: str, region: str, endpoint_url: str | None) -> Any:
        key = (service, region, endpoint_url)
        if key not in self._cache:
            import boto3

            self._cache[key] = boto3.session.Session().client(
                service, region_name=region, endpoint_url=endpoint_url or None, config=client_config(self.ses)
            )
        return self._cache[key]

    def client(self, service: str) -> Any:
        return self._client(service, self.region, self.endpoint_url)

    def jobs_sqs(self) -> Any:
        return self._client("sqs", self.jobs_region, self.jobs_endpoint_url)


# -- what to set up ---------------------------------------------------------------------------


@dataclass
class Target:
    """The names and URLs bootstrap and doctor work on, resolved from the settings."""

    ses: SesSettings
    sqs_table: dict[str, Any]
    public_url: str | None
    use_jobs_queue: bool
    jobs_queue_name: str
    jobs_queue_url: str | None
    queue_backend_is_sqs: bool = False
    carried: Carried = field(default_factory=Carried)

    @classmethod
    def from_settings(cls, settings: Settings) -> Target:
        ses = SesSettings.model_validate(settings.plugins.get("ses", {}))
        sqs_table = dict(settings.plugins.get("sqs", {}))
        jobs_url = sqs_table.get("queue_url") or None
        jobs_name = queue_name_of(jobs_url) if jobs_url else ses.jobs_queue_name
        # The jobs queue is skipped only when the configuration picks another queue backend.
        explicit_other = "queue" in settings.backends.model_fields_set and settings.backends.queue != "sqs"
        return cls(
            ses=ses,
            sqs_table=sqs_table,
            public_url=settings.gateway.public_url,
            use_jobs_queue=not explicit_other,
            jobs_queue_name=jobs_name,
            jobs_queue_url=jobs_url,
            queue_backend_is_sqs=settings.backends.queue == "sqs",
            carried=Carried.from_settings(settings),
        )

    @property
    def events_queue_name(self) -> str:
        return queue_name_of(self.ses.events_queue_url) if self.ses.events_queue_url else self.ses.events_queue_name

    @property
    def sns_endpoint_url(self) -> str | None:
        return f"{self.public_url.rstrip('/')}{SNS_PATH}" if self.public_url else None


@dataclass
class Step:
    what: str
    name: str
    state: str  # exists, created, updated, would create, would update, skipped, failed
    detail: str = ""


@dataclass
class QueueInfo:
    name: str
    url: str | None = None
    arn: str | None = None


@dataclass
class BootstrapReport:
    dry_run: bool
    account: str
    partition: str
    region: str
    jobs_region: str
    steps: list[Step] = field(default_factory=list)
    jobs: QueueInfo | None = None
    jobs_dlq: QueueInfo | None = None
    events: QueueInfo | None = None
    events_dlq: QueueInfo | None = None
    topic_arn: str | None = None
    subscription_arn: str | None = None
    https_subscription_arn: str | None = None
    identity: dict[str, Any] | None = None
    dkim_tokens: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(step.state in {"created", "updated"} for step in self.steps)


# -- the steps --------------------------------------------------------------------------------


class Bootstrap:
    def __init__(self, target: Target, clients: Clients, *, dry_run: bool = False) -> None:
        self.target = target
        self.ses = target.ses
        self.clients = clients
        self.dry_run = dry_run
        self.report: BootstrapReport | None = None

    # Each step appends to report.steps; a failing one stops the run.
    def run(self) -> BootstrapReport:
        steps: list[Step] = []
        try:
            who = self.clients.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            raise BootstrapError(f"cannot read the AWS credentials: {error_text(exc)}", steps) from exc
        arn = str(who.get("Arn", "arn:aws:"))
        self.report = report = BootstrapReport(
            dry_run=self.dry_run, account=str(who["Account"]), partition=arn.split(":")[1] or "aws",
            region=self.ses.region, jobs_region=self.clients.jobs_region, steps=steps,
        )
        plan: list[tuple[str, Callable[[], None]]] = []
        if self.target.use_jobs_queue:
            plan.append(("jobs queue", self._jobs_queues))
        plan += [
            ("events queue", self._events_queues),
            ("SNS topic", self._topic),
            ("SNS subscription", self._sqs_subscription),
        ]
        if self.ses.sns_endpoint:
            plan.append(("SNS HTTPS subscription", self._https_subscription))
        plan += [
            ("SES identity", self._identity),
            ("SES configuration set", self._configuration_set),
            ("SES event destination", self._event_destination),
        ]
        for what, step in plan:
            try:
                step()
            except AWS_ERRORS as exc:
                steps.append(Step(what, "", "failed", error_text(exc)))
                raise BootstrapError(f"{what}: {error_text(exc)}", steps) from exc
        return report

    def _add(self, what: str, name: str, state: str, detail: str = "") -> None:
        assert self.report is not None
        self.report.steps.append(Step(what, name, state, detail))

    def _arn(self, service: str, region: str, resource: str) -> str:
        assert self.report is not None
        return f"arn:{self.report.partition}:{service}:{region}:{self.report.account}:{resource}"

    # -- SQS ----------------------------------------------------------------------------------

    def _jobs_queues(self) -> None:
        assert self.report is not None
        sqs, region = self.clients.jobs_sqs(), self.clients.jobs_region
        self.report.jobs, self.report.jobs_dlq = self._queue_pair(
            sqs, region, "jobs", self.target.jobs_queue_name, self.target.jobs_queue_url
        )

    def _events_queues(self) -> None:
        assert self.report is not None
        sqs, region = self.clients.client("sqs"), self.ses.region
        self.report.events, self.report.events_dlq = self._queue_pair(
            sqs, region, "events", self.target.events_queue_name, self.ses.events_queue_url
        )

    @staticmethod
    def _describe_queue(sqs: Any, name: str, url: str | None) -> tuple[str, dict[str, str]] | None:
        try:
            if url is None:
                url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        except ClientError as exc:
            if queue_missing(exc):
                return None
            raise
        return url, attrs

    def _queue_pair(self, sqs: Any, region: str, label: str, name: str,
                    url: str | None) -> tuple[QueueInfo, QueueInfo]:
        main = self._describe_queue(sqs, name, url)
        redrive = _redrive(main[1]) if main else None
        dlq_name = queue_name_of(redrive["deadLetterTargetArn"]) if redrive else f"{name}-dlq"

        dlq = self._ensure_queue(sqs, region, f"{label} dead-letter queue", dlq_name,
                                 {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)})
        wanted = {"deadLetterTargetArn": dlq.arn, "maxReceiveCount": self.ses.max_receive_count}
        what = f"{label} queue"
        if main is None:
            detail = f"dead letters after {self.ses.max_receive_count} receives"
            if url:
                detail += f"; the configured {url} did not exist"
            return self._create_queue(sqs, region, what, name, {"RedrivePolicy": json.dumps(wanted)}, detail), dlq
        main_url, attrs = main
        info = QueueInfo(name, main_url, attrs.get("QueueArn") or self._arn("sqs", region, name))
        if redrive == wanted:
            self._add(what, name, "exists", f"{main_url}, dead letters after {wanted['maxReceiveCount']} receives")
        elif self.dry_run:
            self._add(what, name, "would update", f"RedrivePolicy -> {dlq_name}, maxReceiveCount {wanted['maxReceiveCount']}")
        else:
            sqs.set_queue_attributes(QueueUrl=main_url, Attributes={"RedrivePolicy": json.dumps(wanted)})
            self._add(what, name, "updated", f"RedrivePolicy -> {dlq_name}, maxReceiveCount {wanted['maxReceiveCount']}")
        return info, dlq

    def _ensure_queue(self, sqs: Any, region: str, what: str, name: str, attributes: dict[str, str]) -> QueueInfo:
        found = self._describe_queue(sqs, name, None)
        if found is not None:
            url, attrs = found
            self._add(what, name, "exists", url)
            return QueueInfo(name, url, attrs.get("QueueArn") or self._arn("sqs", region, name))
        return self._create_queue(sqs, region, what, name, attributes)

    def _create_queue(self, sqs: Any, region: str, what: str, name: str, attributes: dict[str, str],
                      detail: str = "") -> QueueInfo:
        arn = self._arn("sqs", region, name)
        if self.dry_run:
            self._add(what, name, "would create", detail)
            return QueueInfo(name, None, arn)
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]).get("Attributes", {})
        self._add(what, name, "created", f"{url}{', ' + detail if detail else ''}")
        return QueueInfo(name, url, attrs.get("QueueArn") or arn)

    # -- SNS ----------------------------------------------------------------------------------

    def _find_topic(self) -> str | None:
        suffix = f":{self.ses.topic_name}"
        for page in self.clients.client("sns").get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].endswith(suffix):
                    return str(topic["TopicArn"])
        return None

    def _topic(self) -> None:
        assert self.report is not None
        sns, name = self.clients.client("sns"), self.ses.topic_name
        arn = self._find_topic()
        if arn is None:
            if self.dry_run:
                self.report.topic_arn = self._arn("sns", self.ses.region, name)
                self._add("SNS topic", name, "would create", "SignatureVersion 2")
                return
            arn = sns.create_topic(Name=name, Attributes={"SignatureVersion": "2"})["TopicArn"]
            self.report.topic_arn = arn
            self._add("SNS topic", name, "created", arn)
            return
        self.report.topic_arn = arn
        version = sns.get_topic_attributes(TopicArn=arn).get("Attributes", {}).get("SignatureVersion")
        if version is None or version == "2":  # moto does not report the attribute
            self._add("SNS topic", name, "exists", arn)
        elif self.dry_run:
            self._add("SNS topic", name, "would update", f"SignatureVersion {version} -> 2")
        else:
            sns.set_topic_attributes(TopicArn=arn, AttributeName="SignatureVersion", AttributeValue="2")
            self._add("SNS topic", name, "updated", f"SignatureVersion {version} -> 2")

    def _subscriptions(self) -> list[dict[str, Any]]:
        assert self.report is not None and self.report.topic_arn is not None
        if self.dry_run and self._find_topic() is None:
            return []
        subs: list[dict[str, Any]] = []
        paginator = self.clients.client("sns").get_paginator("list_subscriptions_by_topic")
        for page in paginator.paginate(TopicArn=self.report.topic_arn):
            subs.extend(page.get("Subscriptions", []))
        return subs

    def _sqs_subscription(self) -> None:
        assert self.report is not None and self.report.events is not None
        sns, topic, queue = self.clients.client("sns"), self.report.topic_arn, self.report.events
        assert topic is not None and queue.arn is not None
        what = "SNS subscription"
        name = f"{self.ses.topic_name} -> {queue.name}"
        found = next((s for s in self._subscriptions() if s.get("Protocol") == "sqs" and s.get("Endpoint") == queue.arn), None)
        if found is None:
            if self.dry_run:
                self._add(what, name, "would create", "SNS envelope (RawMessageDelivery false)")
            else:
                sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn,
                                    Attributes={"RawMessageDelivery": "false"}, ReturnSubscriptionArn=True)
                self.report.subscription_arn = sub["SubscriptionArn"]
                self._add(what, name, "created", sub["SubscriptionArn"])
        else:
            sub_arn = str(found["SubscriptionArn"])
            self.report.subscription_arn = sub_arn
            raw = "false"
            if sub_arn.startswith("arn:"):
                raw = sns.get_subscription_attributes(SubscriptionArn=sub_arn).get("Attributes", {}).get("RawMessageDelivery", "false")
            if raw == "false":
                self._add(what, name, "exists", sub_arn)
            elif self.dry_run:
                self._add(what, name, "would update", "RawMessageDelivery -> false")
            else:
                sns.set_subscription_attributes(SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery",
                                                AttributeValue="false")
                self._add(what, name, "updated", "RawMessageDelivery -> false")
        self._queue_policy(queue, topic)

    def _queue_policy(self, queue: QueueInfo, topic: str) -> None:
        what, name = "events queue policy", queue.name
        statement = sns_statement(queue.arn or "", topic)
        policy: dict[str, Any] = {"Version": "2012-10-17", "Statement": []}
        if queue.url is not None:
            sqs = self.clients.client("sqs")
            raw = sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["Policy"]).get("Attributes", {}).get("Policy")
            if raw:
                policy = json.loads(raw)
                if isinstance(policy.get("Statement"), dict):
                    policy["Statement"] = [policy["Statement"]]
        current = [s for s in policy.get("Statement", []) if s.get("Sid") == statement["Sid"]]
        if current == [statement]:
            self._add(what, name, "exists", f"only {self.ses.topic_name} may send")
            return
        state = "would update" if current else "would create"
        if self.dry_run or queue.url is None:
            self._add(what, name, state, f"allow sns.amazonaws.com from {topic}")
            return
        policy["Statement"] = [s for s in policy.get("Statement", []) if s.get("Sid") != statement["Sid"]] + [statement]
        self.clients.client("sqs").set_queue_attributes(QueueUrl=queue.url, Attributes={"Policy": json.dumps(policy)})
        self._add(what, name, state.removeprefix("would ").replace("create", "created").replace("update", "updated"),
                  f"allow sns.amazonaws.com from {topic}")

    def _https_subscription(self) -> None:
        assert self.report is not None and self.report.topic_arn is not None
        what, endpoint = "SNS HTTPS subscription", self.target.sns_endpoint_url
        if endpoint is None:
            self._add(what, SNS_PATH, "skipped", "set [gateway] public_url to subscribe <public_url>/ses/sns")
            return
        protocol = "https" if endpoint.startswith("https://") else "http"
        found = next((s for s in self._subscriptions() if s.get("Protocol") == protocol and s.get("Endpoint") == endpoint), None)
        if found is not None:
            arn = str(found["SubscriptionArn"])
            self.report.https_subscription_arn = arn if arn.startswith("arn:") else None
            pending = not arn.startswith("arn:")
            self._add(what, endpoint, "exists", "pending confirmation: start `postgate serve` so it confirms" if pending else arn)
            return
        if self.dry_run:
            self._add(what, endpoint, "would create", "Postgate confirms it when serving with sns_endpoint on")
            return
        sub = self.clients.client("sns").subscribe(TopicArn=self.report.topic_arn, Protocol=protocol,
                                                   Endpoint=endpoint, ReturnSubscriptionArn=True)
        self.report.https_subscription_arn = sub["SubscriptionArn"]
        self._add(what, endpoint, "created", "SNS now sends a SubscriptionConfirmation; Postgate confirms it "
                  "when serving with sns_endpoint on and the topic in sns_topic_arns")

    # -- SES ----------------------------------------------------------------------------------

    def _identity(self) -> None:
        assert self.report is not None
        domain = self.ses.sending_domain
        if not domain:
            self._add("SES identity", "-", "skipped", "set [plugins.ses] sending_domain to create and check it")
            return
        sesv2 = self.clients.client("sesv2")
        try:
            identity = sesv2.get_email_identity(EmailIdentity=domain)
        except ClientError as exc:
            if not not_found(exc):
                raise
            if self.dry_run:
                self._add("SES identity", domain, "would create", "Easy DKIM, 2048-bit keys")
                return
            created = sesv2.create_email_identity(EmailIdentity=domain,
                                                  DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"})
            identity = sesv2.get_email_identity(EmailIdentity=domain)
            self.report.dkim_tokens = list((created.get("DkimAttributes") or {}).get("Tokens") or [])
            self._add("SES identity", domain, "created", "publish the DNS records below to verify it")
        else:
            self._add("SES identity", domain, "exists", identity_summary(identity))
        self.report.identity = identity
        self.report.dkim_tokens = self.report.dkim_tokens or list((identity.get("DkimAttributes") or {}).get("Tokens") or [])
        if not self.report.dkim_tokens:  # moto keeps the tokens only on the v1 side
            try:
                attrs = self.clients.client("ses").get_identity_dkim_attributes(Identities=[domain])["DkimAttributes"]
                self.report.dkim_tokens = list(attrs.get(domain, {}).get("DkimTokens") or [])
            except AWS_ERRORS:
                self.report.dkim_tokens = []

    def _configuration_set(self) -> None:
        sesv2, name = self.clients.client("sesv2"), self.ses.configuration_set
        tracking = None
        if self.ses.tracking_redirect_domain:
            tracking = {"CustomRedirectDomain": self.ses.tracking_redirect_domain,
                        "HttpsPolicy": self.ses.tracking_https_policy}
        try:
            current = sesv2.get_configuration_set(ConfigurationSetName=name)
        except ClientError as exc:
            if not not_found(exc):
                raise
            if self.dry_run:
                self._add("SES configuration set", name, "would create", "sending enabled" + (", custom tracking domain" if tracking else ""))
                return
            kwargs: dict[str, Any] = {"ConfigurationSetName": name, "SendingOptions": {"SendingEnabled": True}}
            if tracking:
                kwargs["TrackingOptions"] = tracking
            sesv2.create_configuration_set(**kwargs)
            self._add("SES configuration set", name, "created", f"tracking domain {tracking['CustomRedirectDomain']}" if tracking else "")
            return
        have = current.get("TrackingOptions") or {}
        if not tracking or have.get("CustomRedirectDomain") == tracking["CustomRedirectDomain"]:
            self._add("SES configuration set", name, "exists")
        elif self.dry_run:
            self._add("SES configuration set", name, "would update", f"tracking domain -> {tracking['CustomRedirectDomain']}")
        else:
            sesv2.put_configuration_set_tracking_options(ConfigurationSetName=name, **tracking)
            self._add("SES configuration set", name, "updated", f"tracking domain -> {tracking['CustomRedirectDomain']}")

    def _event_destination(self) -> None:
        assert self.report is not None and self.report.topic_arn is not None
        what, name, topic = "SES event destination", f"{self.ses.configuration_set}/{EVENT_DESTINATION}", self.report.topic_arn
        destinations, via_v1 = ([], False)
        if not (self.dry_run and _state_of(self.report, "SES configuration set") == "would create"):
            destinations, via_v1 = event_destinations(self.clients, self.ses.configuration_set)
        mine = next((d for d in destinations if d["Name"] == EVENT_DESTINATION), None)
        wanted = {"Enabled": True, "MatchingEventTypes": list(EVENT_TYPES), "SnsDestination": {"TopicArn": topic}}
        types = ", ".join(EVENT_TYPES)
        if mine is not None and mine["Enabled"] and set(mine["MatchingEventTypes"]) >= set(EVENT_TYPES) and mine.get("TopicArn") == topic:
            self._add(what, name, "exists", f"all {len(EVENT_TYPES)} event types -> {self.ses.topic_name}")
            return
        if self.dry_run:
            self._add(what, name, "would update" if mine else "would create", f"{types} -> {self.ses.topic_name}")
            return
        sesv2 = self.clients.client("sesv2")
        v1_destination = {"Name": EVENT_DESTINATION, "Enabled": True,
                          "MatchingEventTypes": [V1_EVENT_TYPES[t] for t in EVENT_TYPES],
                          "SNSDestination": {"TopicARN": topic}}
        note = ""
        try:
            if mine is None:
                sesv2.create_configuration_set_event_destination(
                    ConfigurationSetName=self.ses.configuration_set, EventDestinationName=EVENT_DESTINATION,
                    EventDestination=wanted)
            else:
                sesv2.update_configuration_set_event_destination(
                    ConfigurationSetName=self.ses.configuration_set, EventDestinationName=EVENT_DESTINATION,
                    EventDestination=wanted)
        except ClientError as exc:
            if not (unsupported(exc) or via_v1):
                raise
            ses_v1 = self.clients.client("ses")
            if mine is None:
                ses_v1.create_configuration_set_event_destination(
                    ConfigurationSetName=self.ses.configuration_set, EventDestination=v1_destination)
            else:
                ses_v1.update_configuration_set_event_destination(
                    ConfigurationSetName=self.ses.configuration_set, EventDestination=v1_destination)
            note = " (through the SES v1 API: this endpoint lacks the v2 call)"
        self._add(what, name, "updated" if mine else "created", f"{types} -> {self.ses.topic_name}{note}")


def _state_of(report: BootstrapReport, what: str) -> str | None:
    return next((s.state for s in report.steps if s.what == what), None)


def _redrive(attrs: dict[str, str]) -> dict[str, Any] | None:
    raw = attrs.get("RedrivePolicy")
    if not raw:
        return None
    policy = json.loads(raw)
    return {"deadLetterTargetArn": policy.get("deadLetterTargetArn"), "maxReceiveCount": int(policy.get("maxReceiveCount", 0))}


def sns_statement(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """The queue-policy statement letting exactly this topic deliver to the queue."""
    return {
        "Sid": f"postgate-sns-{topic_arn.rsplit(':', 1)[-1]}",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }


def event_destinations(clients: Clients, configuration_set: str) -> tuple[list[dict[str, Any]], bool]:
    """The set's event destinations as ``{Name, Enabled, MatchingEventTypes (v2 names), TopicArn}``,
    and whether they came from the SES v1 API (the endpoint lacks the v2 call)."""
    try:
        raw = clients.client("sesv2").get_configuration_set_event_destinations(
            ConfigurationSetName=configuration_set)["EventDestinations"]
    except ClientError as exc:
        if not unsupported(exc):
            raise
        described = clients.client("ses").describe_configuration_set(
            ConfigurationSetName=configuration_set, ConfigurationSetAttributeNames=["eventDestinations"])
        return [
            {"Name": d["Name"], "Enabled": bool(d.get("Enabled")),
             "MatchingEventTypes": [FROM_V1_EVENT_TYPES.get(t, t.upper()) for t in d.get("MatchingEventTypes", [])],
             "TopicArn": (d.get("SNSDestination") or {}).get("TopicARN")}
            for d in described.get("EventDestinations", [])
        ], True
    return [
        {"Name": d["Name"], "Enabled": bool(d.get("Enabled")), "MatchingEventTypes": list(d.get("MatchingEventTypes", [])),
         "TopicArn": (d.get("SnsDestination") or {}).get("TopicArn")}
        for d in raw
    ], False


def identity_verified(identity: dict[str, Any]) -> bool:
    return bool(identity.get("VerifiedForSendingStatus")) or identity.get("VerificationStatus") == "SUCCESS"


def identity_summary(identity: dict[str, Any]) -> str:
    dkim = identity.get("DkimAttributes") or {}
    verified = "verified" if identity_verified(identity) else "not verified yet"
    return f"{verified}, DKIM {dkim.get('Status', 'unknown')}"


# -- what is left for the operator ------------------------------------------------------------


def render_steps(report: BootstrapReport) -> list[str]:
    width = max((len(s.state) for s in report.steps), default=6)
    lines = []
    for step in report.steps:
        target = f"{step.what} {step.name}".strip()
        lines.append(f"  {step.state:<{width}}  {target}" + (f"  ({step.detail})" if step.detail else ""))
    return lines


def _queue_arns(report: BootstrapReport, target: Target, *, dead_letters: bool) -> list[str]:
    arns = []
    pairs = [(report.jobs, report.jobs_dlq, report.jobs_region, target.jobs_queue_name)] if target.use_jobs_queue else []
    pairs.append((report.events, report.events_dlq, report.region, target.events_queue_name))
    for main, dlq, region, name in pairs:
        arns.append(main.arn if main and main.arn else f"arn:{report.partition}:sqs:{region}:{report.account}:{name}")
        if dead_letters:
            arns.append(dlq.arn if dlq and dlq.arn else f"arn:{report.partition}:sqs:{region}:{report.account}:{name}-dlq")
    return arns


def _ses_arns(report: BootstrapReport, ses: SesSettings) -> tuple[str, str]:
    base = f"arn:{report.partition}:ses:{report.region}:{report.account}"
    identity = f"{base}:identity/{ses.sending_domain}" if ses.sending_domain else f"{base}:identity/*"
    return identity, f"{base}:configuration-set/{ses.configuration_set}"


def runtime_policy(report: BootstrapReport, target: Target) -> dict[str, Any]:
    """What ``postgate serve`` and ``postgate worker`` need, and nothing else."""
    identity, config_set = _ses_arns(report, target.ses)
    statements: list[dict[str, Any]] = [
        {"Sid": "SendThroughSes", "Effect": "Allow",
         "Action": ["ses:SendEmail", "ses:SendRawEmail", "ses:SendBulkEmail"],
         "Resource": [identity, config_set]},
        {"Sid": "ReadSendingQuota", "Effect": "Allow", "Action": ["ses:GetAccount", "ses:GetSendQuota"], "Resource": "*"},
        {"Sid": "UseQueues", "Effect": "Allow",
         "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                    "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
         "Resource": _queue_arns(report, target, dead_letters=False)},
    ]
    if target.ses.sns_endpoint and report.topic_arn:
        statements.append({"Sid": "ConfirmSnsSubscription", "Effect": "Allow",
                           "Action": ["sns:ConfirmSubscription"], "Resource": report.topic_arn})
    return {"Version": "2012-10-17", "Statement": statements}


def bootstrap_policy(report: BootstrapReport, target: Target) -> dict[str, Any]:
    """What ``postgate aws bootstrap`` and ``postgate doctor [--probe]`` need."""
    identity, config_set = _ses_arns(report, target.ses)
    topic = report.topic_arn or f"arn:{report.partition}:sns:{report.region}:{report.account}:{target.ses.topic_name}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "Queues", "Effect": "Allow",
         "Action": ["sqs:CreateQueue", "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes",
                    "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility"],
         "Resource": _queue_arns(report, target, dead_letters=True)},
        {"Sid": "Topic", "Effect": "Allow",
         "Action": ["sns:CreateTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic", "sns:GetSubscriptionAttributes",
                    "sns:SetSubscriptionAttributes", "sns:Publish"],
         "Resource": topic},
        {"Sid": "FindTopic", "Effect": "Allow", "Action": ["sns:ListTopics"], "Resource": "*"},
        {"Sid": "SesSetUp", "Effect": "Allow",
         "Action": ["ses:CreateEmailIdentity", "ses:GetEmailIdentity", "ses:GetIdentityDkimAttributes",
                    "ses:CreateConfigurationSet", "ses:GetConfigurationSet", "ses:DescribeConfigurationSet",
                    "ses:PutConfigurationSetTrackingOptions", "ses:CreateConfigurationSetEventDestination",
                    "ses:UpdateConfigurationSetEventDestination", "ses:GetConfigurationSetEventDestinations"],
         "Resource": [identity, config_set]},
        {"Sid": "SesAccount", "Effect": "Allow", "Action": ["ses:GetAccount", "ses:GetSendQuota"], "Resource": "*"},
    ]}


def dns_records(report: BootstrapReport, ses: SesSettings) -> list[tuple[str, str, str, str]]:
    """``(name, type, value, why)`` for every record the operator still has to publish."""
    records: list[tuple[str, str, str, str]] = []
    domain = ses.sending_domain
    if not domain:
        return records
    for token in report.dkim_tokens:
        records.append((f"{token}._domainkey.{domain}", "CNAME", f"{token}.dkim.amazonses.com", "Easy DKIM (verifies the domain)"))
    mail_from = ses.mail_from_domain or ((report.identity or {}).get("MailFromAttributes") or {}).get("MailFromDomain")
    if mail_from:
        records.append((mail_from, "MX", f"10 feedback-smtp.{ses.region}.amazonses.com", "custom MAIL FROM"))
        records.append((mail_from, "TXT", '"v=spf1 include:amazonses.com ~all"', "SPF for the MAIL FROM domain"))
    records.append((f"_dmarc.{domain}", "TXT", f'"v=DMARC1; p=none; rua=mailto:dmarc-reports@{domain}"',
                    "DMARC: start with p=none, move to quarantine once reports look clean"))
    if ses.tracking_redirect_domain:
        records.append((ses.tracking_redirect_domain, "CNAME", f"r.{ses.region}.awstrack.me", "custom open/click tracking domain"))
    return records


def render_report(report: BootstrapReport, target: Target) -> list[str]:
    """Everything bootstrap prints after the steps."""
    ses = target.ses
    out: list[str] = []
    if report.dry_run:
        out += ["", "Dry run: nothing was changed. Run without --dry-run to apply the plan."]
    else:
        toml, env = settings_snippet(report, target)
        out += ["", "Settings to paste into postgate.toml:", ""] + [f"  {line}" if line else "" for line in toml]
        out += ["", "or as environment variables:", ""] + [f"  {line}" for line in env]
    out += ["", "IAM policy for the running gateway and workers (docs/iam.md):", ""]
    out += ["  " + line for line in json.dumps(runtime_policy(report, target), indent=2).splitlines()]
    out += ["", "IAM policy for `postgate aws bootstrap` and `postgate doctor`:", ""]
    out += ["  " + line for line in json.dumps(bootstrap_policy(report, target), indent=2).splitlines()]
    out += ["", "DNS records still to publish:"]
    records = dns_records(report, ses)
    if not ses.sending_domain:
        out.append("  (none listed: set [plugins.ses] sending_domain to get the DKIM records)")
    else:
        if not report.dkim_tokens:
            out.append("  DKIM: SES returned no tokens yet; read them with "
                       f"`aws sesv2 get-email-identity --email-identity {ses.sending_domain}`")
        for name, kind, value, why in records:
            out.append(f"  {name}  {kind}  {value}    ; {why}")
        if not ses.mail_from_domain:
            out.append("  (optional) a custom MAIL FROM domain aligns SPF for DMARC: set mail_from_domain and "
                       f"`aws sesv2 put-email-identity-mail-from-attributes --email-identity {ses.sending_domain} "
                       "--mail-from-domain bounce." + ses.sending_domain + "`")
    out += ["", "Then: request production access if the account is in the sandbox (docs/aws-ses.md), "
            "and run `postgate doctor`."]
    return out
