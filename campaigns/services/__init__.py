"""Writes of the campaigns app. Import from here: `from campaigns.services import ...`."""

from campaigns.services.bounces import bounce_record
from campaigns.services.broadcasts import (
    broadcast_cancel,
    broadcast_create,
    broadcast_estimate,
    broadcast_pause,
    broadcast_resume,
    broadcast_schedule,
)
from campaigns.services.delivery_events import DeliveryEvent, delivery_event_record
from campaigns.services.outbox import outbox_claim, outbox_send_claimed, outbox_send_due
from campaigns.services.templates import template_create, template_version_add
from campaigns.services.tracking import tracking_click, tracking_open
from campaigns.services.webhooks import webhook_enqueue

__all__ = [
    "DeliveryEvent",
    "bounce_record",
    "broadcast_cancel",
    "broadcast_create",
    "broadcast_estimate",
    "broadcast_pause",
    "broadcast_resume",
    "broadcast_schedule",
    "delivery_event_record",
    "outbox_claim",
    "outbox_send_claimed",
    "outbox_send_due",
    "template_create",
    "template_version_add",
    "tracking_click",
    "tracking_open",
    "webhook_enqueue",
]
