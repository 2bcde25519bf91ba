"""Models of the campaigns app: templates, broadcasts and the outbox (`messages`), and
journeys with their versions, enrolments and step log (`journeys`)."""

from campaigns.models.journeys import (
    Enrolment,
    EnrolmentStatus,
    Journey,
    JourneyStatus,
    JourneyVersion,
    Reentry,
    StepLog,
)
from campaigns.models.messages import (
    BlockedAddress,
    Broadcast,
    BroadcastStatus,
    Channel,
    Message,
    MessageKind,
    MessageStatus,
    Origin,
    SkipReason,
    Template,
    TemplateVersion,
    WebhookEndpoint,
)

__all__ = [
    "BlockedAddress",
    "Broadcast",
    "BroadcastStatus",
    "Channel",
    "Enrolment",
    "EnrolmentStatus",
    "Journey",
    "JourneyStatus",
    "JourneyVersion",
    "Message",
    "MessageKind",
    "MessageStatus",
    "Origin",
    "Reentry",
    "SkipReason",
    "StepLog",
    "Template",
    "TemplateVersion",
    "WebhookEndpoint",
]
