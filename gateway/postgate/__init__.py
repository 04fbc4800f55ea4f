"""Postgate: Mailgun's HTTP API in front of pluggable queues, providers and storage.

The public plugin API is what this module exports.
"""

from .app import Gateway, create_gateway
from .backends import Backend, Delivery, EventSink, EventSource, NoDeadLetters, OutcomeSink, Queue, Storage
from .domain import (
    And,
    Attachment,
    Batch,
    ChunkReport,
    DeadJob,
    DeliveryResult,
    Event,
    EventQuery,
    Job,
    Message,
    Not,
    Or,
    PreparedTemplate,
    Recipient,
    RecipientStatus,
    RecipientUpdate,
    RenderedMessage,
    ServedEvent,
    Suppression,
    SuppressionChange,
    Term,
)
from .codec import batch_message
from .errors import ApiError, BadRequest, NotFound
from .events import EventBuilder, EventBuilders
from .health import HealthCheck
from .inbound import InboundMail
from .operations import AccountStatus, BatchProgress, DomainCheck, OperationsSnapshot, Quota
from .hookspecs import hookimpl, hookspec
from .settings import ConfigError, Settings, load_settings
from .suppression_records import (
    InvalidSuppressionRecord,
    check_suppression_csv_size,
    checked_suppression_address,
    parse_suppression_record,
    suppression_csv_batches,
)

__version__ = "0.1.0"

__all__ = [
    "AccountStatus", "And", "ApiError", "Attachment", "Backend", "BadRequest", "Batch", "BatchProgress", "ChunkReport", "ConfigError", "DeadJob", "Delivery",
    "DeliveryResult", "DomainCheck", "Event", "EventQuery", "EventSink", "EventSource", "Gateway", "HealthCheck",
    "EventBuilder", "EventBuilders", "InboundMail", "InvalidSuppressionRecord", "Job", "Message", "PreparedTemplate", "NoDeadLetters", "Not", "NotFound", "Or", "OperationsSnapshot", "OutcomeSink", "Queue", "Quota",
    "Recipient", "RecipientStatus", "RecipientUpdate", "RenderedMessage", "ServedEvent", "Settings", "Storage", "Suppression",
    "SuppressionChange", "Term", "batch_message", "check_suppression_csv_size", "checked_suppression_address",
    "create_gateway", "hookimpl", "hookspec", "load_settings", "parse_suppression_record", "suppression_csv_batches",
]
