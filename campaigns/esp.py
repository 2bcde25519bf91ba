"""Email services' tracking webhooks, through django-anymail, into our delivery events.

Each service posts its own format to `/t/esp/<service>/tracking/`; anymail checks its
authentication (Mailgun: the HMAC signature with `MAILGUN_WEBHOOK_SIGNING_KEY`; Postmark
and Brevo: HTTP basic auth with `ANYMAIL_WEBHOOK_SECRET`), normalises the
events and sends its `tracking` signal; `tracking_received` turns each one into a
`DeliveryEvent`, recorded by the same code as VERP bounces and `/t/delivery-events/`.

A service whose credentials are not in the environment answers 401: nothing
unauthenticated is ever read. The email a report is about is found by the
`cdp_message_id` metadata the outbox attaches to every email it hands to an anymail
backend, else by the Message-ID the service reports.
"""

from __future__ import annotations

import logging
from typing import Any

from anymail.exceptions import AnymailError, AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, EventType
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from campaigns.services import DeliveryEvent, delivery_event_record
from campaigns.services.delivery_events import status_of

logger = logging.getLogger(__name__)

METADATA_KEY = "cdp_message_id"

# The service, its anymail view, and the setting without which its calls are not trusted.
SERVICES: dict[str, tuple[type[Any], str]] = {
    "mailgun": (MailgunTrackingWebhookView, "MAILGUN_WEBHOOK_SIGNING_KEY"),
    "postmark": (PostmarkTrackingWebhookView, "WEBHOOK_SECRET"),
    "brevo": (BrevoTrackingWebhookView, "WEBHOOK_SECRET"),
}

TYPES = {
    EventType.DELIVERED: "delivered",
    EventType.BOUNCED: "bounced",
    EventType.DEFERRED: "deferred",
    EventType.REJECTED: "rejected",
    EventType.COMPLAINED: "complained",
    EventType.OPENED: "opened",
    EventType.CLICKED: "clicked",
    EventType.UNSUBSCRIBED: "unsubscribed",
}

# Postmark's Type, Brevo's event: a bounce that may pass later.
SOFT_BOUNCES = frozenset({"SoftBounce", "soft_bounce"})
# Brevo tells apart the opens of a privacy proxy (Apple Mail's) from a person's.
PROXY_OPENS = frozenset({"unique_proxy_open", "proxy_open"})


def delivery_event_of(event: AnymailTrackingEvent, esp_name: str) -> DeliveryEvent | None:
    """Our delivery event for anymail's normalised one; None for types we do not record
    (queued, sent, subscribed, autoresponded, unknown…)."""
    kind = TYPES.get(event.event_type)
    if kind is None:
        return None
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    raw = event.esp_event if isinstance(event.esp_event, dict) else {}
    soft = kind == "bounced" and any(raw.get(field) in SOFT_BOUNCES for field in ("Type", "event"))
    return DeliveryEvent(
        type=kind,
        message_id=str(metadata.get(METADATA_KEY) or event.message_id or ""),
        hard=not soft,
        status=status_of(event.mta_response, event.description) or str(event.reject_reason or ""),
        user_agent=str(event.user_agent or "")[:500],
        url=str(event.click_url or ""),
        machine=_machine(esp_name, raw),
        source=esp_name.lower(),
    )


def _machine(esp_name: str, raw: dict[str, Any]) -> bool | None:
    """Brevo says which opens its proxy made (and gives no user agent): trust it. Others
    give the reader's user agent, judged as the pixel's is."""
    if esp_name.lower() in ("brevo", "sendinblue"):
        return raw.get("event") in PROXY_OPENS
    return None


def tracking_received(sender: Any, event: AnymailTrackingEvent, esp_name: str, **_: Any) -> None:
    """anymail's `tracking` signal: record what the service reported."""
    ours = delivery_event_of(event, esp_name)
    if ours is not None:
        delivery_event_record(ours)


def _configured(setting: str, service: str) -> bool:
    options = getattr(settings, "ANYMAIL", {}) or {}
    if setting == "WEBHOOK_SECRET":
        return bool(options.get("WEBHOOK_SECRET"))
    return bool(options.get(setting))


def _refused(detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=401)


def _tracking_view(service: str) -> Any:
    view_class, setting = SERVICES[service]

    @csrf_exempt
    @never_cache
    def view(request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return JsonResponse({"detail": _("Only POST is accepted.")}, status=405)
        if not _configured(setting, service):
            return _refused(_("This email service is not configured here."))
        try:
            response: HttpResponse = view_class.as_view()(request)
        except AnymailWebhookValidationFailure:
            return _refused(_("The signature or the credentials are missing or wrong."))
        except (AnymailError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.info("%s tracking webhook: a payload not understood (%s)", service, type(error))
            return JsonResponse(
                {"detail": _("The body is not an event of this email service.")}, status=400
            )
        return response

    view.__name__ = f"{service}_tracking"
    return view


esp_views = {service: _tracking_view(service) for service in SERVICES}
