"""Segments (rule trees or static lists), membership history, size over time, personas."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class Segment(models.Model):
    """A set of people: dynamic (a rule tree, refreshed) or static (a list kept by hand)."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Dynamic (rule)")
        STATIC = "static", _("Static list")

    name = models.CharField(max_length=200, unique=True, verbose_name=_("name"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    kind = models.CharField(
        max_length=8, choices=Kind.choices, default=Kind.DYNAMIC, verbose_name=_("kind")
    )
    rule = models.JSONField(
        null=True,
        blank=True,
        help_text=_("The rule tree of a dynamic segment (see the README)."),
        verbose_name=_("rule"),
    )
    refresh_every_minutes = models.PositiveIntegerField(
        default=60,
        help_text=_("How often beat recomputes the whole segment (dynamic only)."),
        verbose_name=_("refresh every minutes"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    member_count = models.PositiveIntegerField(
        default=0, editable=False, verbose_name=_("member count")
    )
    last_refreshed_at = models.DateTimeField(
        null=True, blank=True, editable=False, verbose_name=_("last refreshed at")
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
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="static") | Q(rule__isnull=False),
                name="segment_dynamic_has_rule",
            ),
            models.CheckConstraint(
                condition=Q(refresh_every_minutes__gte=1), name="segment_refresh_at_least_1_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One stay of a profile in a segment: entered_at, and exited_at once it left."""

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("segment")
    )
    profile = models.ForeignKey(
        "profiles.Profile",
        on_delete=models.CASCADE,
        related_name="segment_memberships",
        verbose_name=_("profile"),
    )
    entered_at = models.DateTimeField(verbose_name=_("entered at"))
    exited_at = models.DateTimeField(null=True, blank=True, verbose_name=_("exited at"))

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "profile"],
                condition=Q(exited_at__isnull=True),
                name="membership_one_current_per_segment",
            ),
        ]
        indexes = [
            models.Index(
                fields=["profile", "segment"],
                condition=Q(exited_at__isnull=True),
                name="membership_current_profile_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.profile_id} in {self.segment_id}"


class SegmentSize(models.Model):
    """The size of a segment after a refresh, with how many entered and left."""

    segment = models.ForeignKey(
        Segment, on_delete=models.CASCADE, related_name="sizes", verbose_name=_("segment")
    )
    at = models.DateTimeField(verbose_name=_("at"))
    size = models.PositiveIntegerField(verbose_name=_("size"))
    entered = models.PositiveIntegerField(default=0, verbose_name=_("entered"))
    exited = models.PositiveIntegerField(default=0, verbose_name=_("exited"))
    full = models.BooleanField(
        default=True, help_text=_("A full refresh, not an incremental one."), verbose_name=_("full")
    )
    backfilled = models.BooleanField(
        default=False,
        help_text=_(
            "Estimated at the segment's first refresh: how many of its members had been "
            "seen by then."
        ),
        verbose_name=_("backfilled"),
    )

    class Meta:
        verbose_name = _("segment size")
        verbose_name_plural = _("segment sizes")
        indexes = [models.Index(fields=["segment", "-at"], name="segmentsize_segment_at_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id}: {self.size} at {self.at:%Y-%m-%d %H:%M}"


class EventCursor(models.Model):
    """How far a reader of the event log got: the highest id seen and the gaps below it.

    Ids are taken when rows are inserted but become visible when their transaction
    commits, so a lower id can appear after a higher one. The gaps (ranges of ids not seen
    yet, with when they were first noticed) are read again until they fill or grow older
    than the overlap window.
    """

    name = models.CharField(max_length=40, unique=True, verbose_name=_("name"))
    position = models.BigIntegerField(default=0, verbose_name=_("position"))
    gaps = models.JSONField(
        default=list,
        blank=True,
        help_text=_("[[low, high, first seen], ...]"),
        verbose_name=_("gaps"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("event cursor")
        verbose_name_plural = _("event cursors")

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class Persona(models.Model):
    """A named buyer persona, tied to the segment of the people it describes."""

    name = models.CharField(max_length=120, unique=True, verbose_name=_("name"))
    segment = models.ForeignKey(
        Segment, on_delete=models.PROTECT, related_name="personas", verbose_name=_("segment")
    )
    description = models.TextField(blank=True, verbose_name=_("description"))
    goals = models.TextField(blank=True, verbose_name=_("goals"))
    pains = models.TextField(blank=True, verbose_name=_("pains"))
    messaging = models.TextField(
        blank=True,
        help_text=_("Messaging guidance: tone, proofs, offers."),
        verbose_name=_("messaging"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("persona")
        verbose_name_plural = _("personas")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
