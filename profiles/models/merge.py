"""Merges (with what undo needs) and the identity rules that keep people apart."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from profiles.models.core import Identity, Profile


class ProfileMerge(models.Model):
    """One merge: who or which rule, why, and a snapshot that undoes it exactly."""

    survivor = models.ForeignKey(
        Profile, on_delete=models.PROTECT, related_name="merges_won", verbose_name=_("survivor")
    )
    absorbed = models.ForeignKey(
        Profile, on_delete=models.PROTECT, related_name="merges_lost", verbose_name=_("absorbed")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The steward who merged; empty when a rule did."),
        verbose_name=_("actor"),
    )
    rule = models.CharField(
        max_length=100,
        blank=True,
        help_text=_("The rule that merged, if any."),
        verbose_name=_("rule"),
    )
    reason = models.CharField(max_length=500, blank=True, verbose_name=_("reason"))
    score = models.FloatField(null=True, blank=True, verbose_name=_("score"))
    snapshot = models.JSONField(
        default=dict,
        help_text=_("Ids of the rows moved and the values replaced: what undo needs."),
        verbose_name=_("snapshot"),
    )
    merged_at = models.DateTimeField(auto_now_add=True, verbose_name=_("merged at"))
    undone_at = models.DateTimeField(null=True, blank=True, verbose_name=_("undone at"))
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("undone by"),
    )

    class Meta:
        verbose_name = _("profile merge")
        verbose_name_plural = _("profile merges")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(survivor=models.F("absorbed")), name="merge_not_into_itself"
            ),
            # A profile is absorbed by at most one merge in force.
            models.UniqueConstraint(
                fields=["absorbed"],
                condition=Q(undone_at__isnull=True),
                name="merge_absorbed_once_in_force",
            ),
        ]
        indexes = [
            models.Index(fields=["survivor", "-id"], name="merge_survivor_idx"),
            models.Index(fields=["absorbed", "-id"], name="merge_absorbed_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.absorbed_id} into #{self.survivor_id}"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None


class IdentityRule(models.Model):
    """How one kind of identifier takes part in matching (as Segment Unify's limits)."""

    kind = models.CharField(
        max_length=16, choices=Identity.Kind.choices, unique=True, verbose_name=_("kind")
    )
    priority = models.PositiveSmallIntegerField(
        help_text=_("Lower matches first: a message lands on the profile of its best identifier."),
        verbose_name=_("priority"),
    )
    max_per_profile = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("At most this many identifiers of the kind on one profile; empty: no limit."),
        verbose_name=_("max per profile"),
    )
    shared_limit = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_(
            "A value claimed by more than this many profiles never matches again; empty: no limit."
        ),
        verbose_name=_("shared limit"),
    )

    class Meta:
        verbose_name = _("identity rule")
        verbose_name_plural = _("identity rules")
        ordering = ["priority"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_per_profile__isnull=True) | Q(max_per_profile__gte=1),
                name="identity_rule_max_at_least_one",
            ),
            models.CheckConstraint(
                condition=Q(shared_limit__isnull=True) | Q(shared_limit__gte=1),
                name="identity_rule_shared_at_least_one",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} (priority {self.priority})"


class BlockedIdentifier(models.Model):
    """A value that never matches: a pattern (generic mailbox, test number) or one hashed value."""

    class Reason(models.TextChoices):
        GENERIC = "generic", _("Generic address")
        TEST = "test", _("Test value")
        SHARED = "shared", _("Shared by many profiles")
        MANUAL = "manual", _("Blocked by a steward")
        # Not blocked: such a value still matches, but only a record that names the person.
        NAMES = "names", _("Seen with different names: a match needs the same name")

    kind = models.CharField(max_length=16, choices=Identity.Kind.choices, verbose_name=_("kind"))
    pattern = models.CharField(
        max_length=300,
        blank=True,
        help_text=_("A regular expression searched in the normalised value, e.g. ^(info|noreply)@"),
        verbose_name=_("pattern"),
    )
    value_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of one value (kind, namespace, value)."),
        verbose_name=_("value hash"),
    )
    reason = models.CharField(
        max_length=12, choices=Reason.choices, default=Reason.MANUAL, verbose_name=_("reason")
    )
    note = models.CharField(max_length=200, blank=True, verbose_name=_("note"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("blocked identifier")
        verbose_name_plural = _("blocked identifiers")
        constraints = [
            models.CheckConstraint(
                condition=(Q(pattern="") & ~Q(value_hash="")) | (~Q(pattern="") & Q(value_hash="")),
                name="blocked_identifier_pattern_xor_hash",
            ),
            models.UniqueConstraint(
                fields=["kind", "value_hash"],
                condition=~Q(value_hash=""),
                name="blocked_identifier_hash_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}: {self.pattern or self.value_hash[:12]}"


class IdentityConflict(models.Model):
    """An identifier that would have fused two profiles: a steward decides (steward queue)."""

    class Reason(models.TextChoices):
        OWNED_BY_OTHER = "owned_by_other", _("Belongs to another profile")
        DIFFERENT_IDENTIFIER = "different", _("Holds another identifier of a higher-priority kind")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        DISMISSED = "dismissed", _("Dismissed")

    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", verbose_name=_("profile")
    )
    other_profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", verbose_name=_("other profile")
    )
    kind = models.CharField(max_length=16, choices=Identity.Kind.choices, verbose_name=_("kind"))
    value_hash = models.CharField(max_length=64, verbose_name=_("value hash"))
    value_masked = models.CharField(
        max_length=80,
        help_text=_("Enough to recognise, not to read."),
        verbose_name=_("value masked"),
    )
    reason = models.CharField(max_length=16, choices=Reason.choices, verbose_name=_("reason"))
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("resolved by"),
    )
    merge = models.ForeignKey(
        ProfileMerge,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("merge"),
    )
    # How likely the two profiles are one person (the duplicate scorer), and its evidence.
    score = models.FloatField(null=True, blank=True, verbose_name=_("score"))
    features = models.JSONField(default=dict, blank=True, verbose_name=_("features"))

    class Meta:
        verbose_name = _("identity conflict")
        verbose_name_plural = _("identity conflicts")
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "other_profile", "kind", "value_hash"],
                name="identity_conflict_unique",
            ),
            models.CheckConstraint(
                condition=~Q(profile=models.F("other_profile")), name="identity_conflict_two"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-id"], name="identity_conflict_status_idx"),
            models.Index(fields=["status", "-score"], name="identity_conflict_score_idx"),
            models.Index(fields=["value_hash"], name="identity_conflict_hash_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value_masked}: #{self.profile_id} / #{self.other_profile_id}"
