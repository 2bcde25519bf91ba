"""Templates and their versions, broadcasts, and the outbox of messages.

The outbox is the authority on what must be sent and what was: one row per (origin,
profile), where an origin is a broadcast now and a journey step later. Celery only
wakes workers up; a row's due time and lease are the timers.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Template(models.Model):
    """An email written by marketers; its content lives in immutable versions."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    default_language = models.CharField(
        _("default language"),
        max_length=8,
        default="en",
        help_text=_("The variant used when the person's language has none."),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("template")
        verbose_name_plural = _("templates")

    def __str__(self) -> str:
        return self.name


class TemplateVersion(models.Model):
    """One version of a template, never changed: a new text is a new version.

    `variants` maps a language ("en", "fr") to its subject, preheader, MJML body and plain
    text; `compiled` holds, per language, the HTML compiled once from MJML with CSS
    inlined, still carrying its Liquid tags (rendered per person at send time).
    """

    template = models.ForeignKey(
        Template, on_delete=models.CASCADE, related_name="versions", verbose_name=_("template")
    )
    version = models.PositiveIntegerField(verbose_name=_("version"))
    variants = models.JSONField(verbose_name=_("variants"))
    compiled = models.JSONField(editable=False, verbose_name=_("compiled"))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["template", "-version"]
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")
        constraints = [
            models.UniqueConstraint(
                fields=["template", "version"], name="campaigns_template_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(version__gte=1), name="campaigns_template_version_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.name} v{self.version}"


class MessageKind(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    TRANSACTIONAL = "transactional", _("Transactional")


class BroadcastStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    PAUSED = "paused", _("Paused")
    CANCELLED = "cancelled", _("Cancelled")


class Broadcast(models.Model):
    """A one-off send of a template to a segment's members for a purpose."""

    Status = BroadcastStatus
    Kind = MessageKind

    name = models.CharField(_("name"), max_length=200)
    segment = models.ForeignKey(
        "segments.Segment", on_delete=models.PROTECT, related_name="+", verbose_name=_("segment")
    )
    template = models.ForeignKey(
        Template, on_delete=models.PROTECT, related_name="broadcasts", verbose_name=_("template")
    )
    template_version = models.ForeignKey(
        TemplateVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        verbose_name=_("template version"),
    )
    purpose = models.ForeignKey(
        "consent.Purpose", on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    kind = models.CharField(
        _("kind"), max_length=16, choices=MessageKind.choices, default=MessageKind.MARKETING
    )
    status = models.CharField(
        _("status"), max_length=12, choices=BroadcastStatus.choices, default=BroadcastStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True)
    throttle_per_minute = models.PositiveIntegerField(
        _("messages a minute"), null=True, blank=True, help_text=_("Empty: as fast as possible.")
    )
    audience_size = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("audience size")
    )
    snapshot_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("snapshot at")
    )
    paused_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("paused at")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-id"]
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=BroadcastStatus.values), name="campaigns_broadcast_status"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=MessageKind.values), name="campaigns_broadcast_kind"
            ),
            models.CheckConstraint(
                condition=Q(status="draft") | Q(snapshot_at__isnull=False),
                name="campaigns_broadcast_sent_has_snapshot",
            ),
            models.CheckConstraint(
                condition=Q(throttle_per_minute__isnull=True) | Q(throttle_per_minute__gte=1),
                name="campaigns_broadcast_throttle_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    HELD = "held", _("Held (paused)")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    SKIPPED = "skipped", _("Skipped")


class SkipReason(models.TextChoices):
    NO_CONSENT = "no_consent", _("No consent in force")
    WITHDRAWN = "withdrawn", _("Consent withdrawn")
    SUPPRESSED = "suppressed", _("Address suppressed")
    UNDELIVERABLE = "undeliverable", _("Address bounced")
    RESTRICTED = "restricted", _("Processing restricted")
    ERASED = "erased", _("Person erased")
    MERGED = "merged", _("Profile merged")
    NO_ADDRESS = "no_address", _("No address")
    FREQUENCY_CAP = "frequency_cap", _("Frequency cap reached")
    CANCELLED = "cancelled", _("Cancelled")


class Origin(models.TextChoices):
    BROADCAST = "broadcast", _("Broadcast")
    JOURNEY_STEP = "journey_step", _("Journey step")


class WebhookEndpoint(models.Model):
    """A system the outbox calls with a signed JSON POST (an SMS gateway, a CRM, …).

    The signing secret is never stored: `secret_env` names the environment variable that
    holds it (empty: `CDP_WEBHOOK_SECRET`).
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(_("URL"), max_length=500)
    secret_env = models.CharField(
        _("secret variable"),
        max_length=100,
        blank=True,
        validators=[RegexValidator(r"^[A-Z][A-Z0-9_]*$", _("An environment variable's name."))],
        help_text=_("Environment variable holding the signing secret; empty: CDP_WEBHOOK_SECRET."),
    )
    timeout_seconds = models.PositiveSmallIntegerField(_("timeout (seconds)"), default=10)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        constraints = [
            models.CheckConstraint(
                condition=Q(timeout_seconds__gte=1) & Q(timeout_seconds__lte=60),
                name="campaigns_webhook_timeout_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class Message(models.Model):
    """One message owed to one person by one origin; the outbox row workers claim."""

    Status = MessageStatus
    Reason = SkipReason
    Kind = MessageKind
    Origin = Origin
    Channel = Channel

    origin_kind = models.CharField(
        max_length=16, choices=Origin.choices, verbose_name=_("origin kind")
    )
    origin_id = models.BigIntegerField(verbose_name=_("origin id"))
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("profile"),
    )
    channel = models.CharField(
        max_length=12, choices=Channel.choices, default=Channel.EMAIL, verbose_name=_("channel")
    )
    purpose = models.ForeignKey(
        "consent.Purpose", on_delete=models.PROTECT, related_name="+", verbose_name=_("purpose")
    )
    kind = models.CharField(max_length=16, choices=MessageKind.choices, verbose_name=_("kind"))
    template_version = models.ForeignKey(
        TemplateVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("template version"),
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="messages",
        verbose_name=_("endpoint"),
    )
    payload = models.JSONField(default=dict, blank=True, verbose_name=_("payload"))
    response_status = models.PositiveSmallIntegerField(
        null=True, blank=True, verbose_name=_("response status")
    )
    status = models.CharField(
        max_length=12, choices=MessageStatus.choices, default="queued", verbose_name=_("status")
    )
    skip_reason = models.CharField(
        max_length=16, choices=SkipReason.choices, blank=True, verbose_name=_("skip reason")
    )
    message_id = models.CharField(max_length=200, unique=True, verbose_name=_("message id"))
    due_at = models.DateTimeField(verbose_name=_("due at"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempts"))
    lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("lease until"))
    language = models.CharField(max_length=8, blank=True, verbose_name=_("language"))
    last_error = models.CharField(max_length=200, blank=True, verbose_name=_("last error"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    opened_at = models.DateTimeField(null=True, blank=True, verbose_name=_("opened at"))
    clicked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("clicked at"))
    machine_opened_at = models.DateTimeField(
        null=True, blank=True, verbose_name=_("machine opened at")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(
                fields=["origin_kind", "origin_id", "profile"],
                name="campaigns_message_once_per_origin",
            ),
            models.CheckConstraint(
                condition=Q(status__in=MessageStatus.values), name="campaigns_message_status"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=MessageKind.values), name="campaigns_message_kind"
            ),
            models.CheckConstraint(
                condition=Q(origin_kind__in=Origin.values), name="campaigns_message_origin"
            ),
            # An email is rendered from a template version; a webhook call goes to an endpoint.
            models.CheckConstraint(
                condition=(Q(channel="email") & Q(template_version__isnull=False))
                | (Q(channel="webhook") & Q(endpoint__isnull=False)),
                name="campaigns_message_channel_target",
            ),
            # A skipped message says why; no other status carries a reason.
            models.CheckConstraint(
                condition=(Q(status="skipped") & ~Q(skip_reason=""))
                | (~Q(status="skipped") & Q(skip_reason="")),
                name="campaigns_message_skip_has_reason",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_until__isnull=False),
                name="campaigns_message_sending_has_lease",
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="campaigns_message_sent_has_time",
            ),
        ]
        indexes = [
            # The claim: due rows still owed.
            models.Index(
                fields=["due_at"],
                condition=Q(status__in=["queued", "sending"]),
                name="campaigns_message_due_idx",
            ),
            # A person's messages, and the frequency caps.
            models.Index(fields=["profile", "sent_at"], name="campaigns_message_profile_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.origin_kind} {self.origin_id} → #{self.profile_id}"


class BlockedAddress(models.Model):
    """An address a channel must not use any more: a hard bounce or a complaint.

    Held as the same keyed HMAC as the suppression list (never in clear). Unlike a
    suppression (an erased person), it stops sending only, never the person's data.
    """

    class Reason(models.TextChoices):
        BOUNCE = "bounce", _("Hard bounce")
        COMPLAINT = "complaint", _("Complaint")

    channel = models.CharField(max_length=12, default="email", verbose_name=_("channel"))
    digest = models.CharField(
        max_length=64,
        help_text=_("HMAC-SHA256 of kind:normalised value."),
        verbose_name=_("digest"),
    )
    reason = models.CharField(max_length=12, choices=Reason.choices, verbose_name=_("reason"))
    detail = models.CharField(max_length=200, blank=True, verbose_name=_("detail"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("blocked address")
        verbose_name_plural = _("blocked addresses")
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "digest"], name="campaigns_blocked_address_unique"
            ),
            models.CheckConstraint(
                condition=Q(reason__in=["bounce", "complaint"]),
                name="campaigns_blocked_address_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.digest[:12]}…"
