"""Segments (rule trees or static lists), membership history, size over time, personas."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Segment(models.Model):
    """A set of people: dynamic (a rule tree, refreshed) or static (a list kept by hand)."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", "Dynamic (rule)"
        STATIC = "static", "Static list"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.DYNAMIC)
    rule = models.JSONField(
        null=True, blank=True, help_text="The rule tree of a dynamic segment (see the README)."
    )
    refresh_every_minutes = models.PositiveIntegerField(
        default=60, help_text="How often beat recomputes the whole segment (dynamic only)."
    )
    is_active = models.BooleanField(default=True)
    member_count = models.PositiveIntegerField(default=0, editable=False)
    last_refreshed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="segment_memberships"
    )
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="sizes")
    at = models.DateTimeField()
    size = models.PositiveIntegerField()
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)
    full = models.BooleanField(default=True, help_text="A full refresh, not an incremental one.")

    class Meta:
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

    name = models.CharField(max_length=40, unique=True)
    position = models.BigIntegerField(default=0)
    gaps = models.JSONField(default=list, blank=True, help_text="[[low, high, first seen], ...]")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.position}"


class Persona(models.Model):
    """A named buyer persona, tied to the segment of the people it describes."""

    name = models.CharField(max_length=120, unique=True)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="personas")
    description = models.TextField(blank=True)
    goals = models.TextField(blank=True)
    pains = models.TextField(blank=True)
    messaging = models.TextField(blank=True, help_text="Messaging guidance: tone, proofs, offers.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
