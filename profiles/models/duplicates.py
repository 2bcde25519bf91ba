"""Probable duplicates: blocking keys, scored candidate pairs, the steward's settings, scans."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from profiles.models.core import Profile


class MatchKey(models.Model):
    """A blocking key of an active profile: profiles sharing a (kind, key) get compared."""

    # No database constraint: a scan writes ~7 keys a profile, and deferred foreign-key
    # checks on them cost more than the keys themselves. Keys are deleted with their
    # profile (Django cascades) and when the profile stops being active (the scan).
    profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    kind = models.CharField(max_length=12)
    key = models.CharField(max_length=64)

    class Meta:
        indexes = [models.Index(fields=["kind", "key"], name="matchkey_kind_key_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.profile_id}"


class DuplicateCandidate(models.Model):
    """Two profiles that probably are one person, and what the steward (or the rule) decided.

    A decided pair is never reopened: "not the same person" is remembered for good.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MERGED = "merged", "Merged"
        AUTO_MERGED = "auto_merged", "Merged automatically"
        NOT_SAME_PERSON = "not_same_person", "Not the same person"

    profile_low = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    profile_high = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField(help_text="0-1: how likely the two are one person.")
    features = models.JSONField(
        default=dict, blank=True, help_text="Similarity per field (-1: missing on a side)."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    found_at = models.DateTimeField()
    scored_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["profile_low", "profile_high"], name="duplicate_pair_unique"
            ),
            models.CheckConstraint(
                condition=Q(profile_low__lt=F("profile_high")), name="duplicate_pair_ordered"
            ),
            models.CheckConstraint(
                condition=Q(score__gte=0, score__lte=1), name="duplicate_score_0_1"
            ),
            models.CheckConstraint(
                condition=Q(status="open", decided_at__isnull=True)
                | (~Q(status="open") & Q(decided_at__isnull=False)),
                name="duplicate_decided_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "-score"], name="duplicate_status_score_idx"),
            models.Index(fields=["profile_high"], name="duplicate_profile_high_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.profile_low_id} ~ #{self.profile_high_id} ({self.score:.3f})"


class DuplicateSettings(models.Model):
    """The steward's thresholds (one row): above review a pair is queued, above auto merged."""

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON, editable=False)
    review_threshold = models.FloatField(
        default=0.5, help_text="Pairs scoring at least this (0-1) go to the review queue."
    )
    auto_merge_threshold = models.FloatField(
        default=0.995, help_text="Pairs scoring at least this merge automatically, if enabled."
    )
    auto_merge_enabled = models.BooleanField(
        default=False, help_text="Merge pairs above the auto-merge threshold without review."
    )
    max_block_size = models.PositiveIntegerField(
        default=50,
        help_text="A blocking key shared by more profiles than this is too common to compare on.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "duplicate settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="duplicate_settings_singleton"),
            models.CheckConstraint(
                condition=Q(review_threshold__gt=0)
                & Q(review_threshold__lte=F("auto_merge_threshold"))
                & Q(auto_merge_threshold__lte=1),
                name="duplicate_thresholds_ordered",
            ),
            models.CheckConstraint(
                condition=Q(max_block_size__gte=2), name="duplicate_block_size_min_2"
            ),
        ]

    def __str__(self) -> str:
        return "Duplicate settings"


class DuplicateScan(models.Model):
    """One scan for duplicates (incremental after ingestion, or full) and its progress.

    The incremental scans share one cursor row (kind "cursor"): the last profile-audit id
    read and the id ranges still missing below it (rows of transactions that had not
    committed yet: ids are not commit-ordered), looked at again until they expire.
    """

    class Kind(models.TextChoices):
        CURSOR = "cursor", "Incremental (cursor)"
        FULL = "full", "Full scan"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    position = models.BigIntegerField(
        default=0, help_text="Full scan: last profile id done. Cursor: last audit id read."
    )
    holes = models.JSONField(default=list, blank=True, help_text="[[first id, last id, seen at]]")
    total = models.PositiveIntegerField(null=True, blank=True)
    profiles_scanned = models.PositiveBigIntegerField(default=0)
    pairs_compared = models.PositiveBigIntegerField(default=0)
    candidates_found = models.PositiveBigIntegerField(default=0)
    auto_merged = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(kind="cursor"), name="duplicate_scan_one_cursor"
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(kind="full", status="running"),
                name="duplicate_scan_one_full_running",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def progress_percent(self) -> int | None:
        if self.kind != self.Kind.FULL or not self.total:
            return None
        return min(100, round(100 * self.profiles_scanned / self.total))
