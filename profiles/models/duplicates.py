"""Probable duplicates: blocking keys, scored candidate pairs, the steward's settings, scans."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from profiles.models.core import Profile


class MatchKey(models.Model):
    """A blocking key of an active profile: profiles sharing a (kind, key) get compared."""

    # No database constraint: a scan writes ~7 keys a profile, and deferred foreign-key
    # checks on them cost more than the keys themselves. Keys are deleted with their
    # profile (Django cascades) and when the profile stops being active (the scan).
    profile = models.ForeignKey(
        Profile,
        on_delete=models.CASCADE,
        related_name="+",
        db_constraint=False,
        verbose_name=_("profile"),
    )
    kind = models.CharField(max_length=12, verbose_name=_("kind"))
    key = models.CharField(max_length=64, verbose_name=_("key"))

    class Meta:
        verbose_name = _("match key")
        verbose_name_plural = _("match keys")
        indexes = [models.Index(fields=["kind", "key"], name="matchkey_kind_key_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.profile_id}"


class DuplicateCandidate(models.Model):
    """Two profiles that probably are one person, and what the steward (or the rule) decided.

    A decided pair is never reopened: "not the same person" is remembered for good.
    """

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        MERGED = "merged", _("Merged")
        AUTO_MERGED = "auto_merged", _("Merged automatically")
        NOT_SAME_PERSON = "not_same_person", _("Not the same person")

    profile_low = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", verbose_name=_("profile low")
    )
    profile_high = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", verbose_name=_("profile high")
    )
    score = models.FloatField(
        help_text=_("0-1: how likely the two are one person."), verbose_name=_("score")
    )
    features = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Similarity per field (-1: missing on a side)."),
        verbose_name=_("features"),
    )
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.OPEN, verbose_name=_("status")
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    found_at = models.DateTimeField(verbose_name=_("found at"))
    scored_at = models.DateTimeField(verbose_name=_("scored at"))

    class Meta:
        verbose_name = _("duplicate candidate")
        verbose_name_plural = _("duplicate candidates")
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

    id = models.PositiveSmallIntegerField(
        primary_key=True, default=SINGLETON, editable=False, verbose_name=_("id")
    )
    review_threshold = models.FloatField(
        default=0.5,
        help_text=_("Pairs scoring at least this (0-1) go to the review queue."),
        verbose_name=_("review threshold"),
    )
    auto_merge_threshold = models.FloatField(
        default=0.995,
        help_text=_("Pairs scoring at least this merge automatically, if enabled."),
        verbose_name=_("auto merge threshold"),
    )
    auto_merge_enabled = models.BooleanField(
        default=False,
        help_text=_("Merge pairs above the auto-merge threshold without review."),
        verbose_name=_("auto merge enabled"),
    )
    max_block_size = models.PositiveIntegerField(
        default=50,
        help_text=_(
            "A blocking key shared by more profiles than this is too common to compare on."
        ),
        verbose_name=_("max block size"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = verbose_name_plural = _("duplicate settings")
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
        CURSOR = "cursor", _("Incremental (cursor)")
        FULL = "full", _("Full scan")

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")

    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.RUNNING, verbose_name=_("status")
    )
    position = models.BigIntegerField(
        default=0,
        help_text=_("Full scan: last profile id done. Cursor: last audit id read."),
        verbose_name=_("position"),
    )
    holes = models.JSONField(
        default=list,
        blank=True,
        help_text=_("[[first id, last id, seen at]]"),
        verbose_name=_("holes"),
    )
    total = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("total"))
    profiles_scanned = models.PositiveBigIntegerField(default=0, verbose_name=_("profiles scanned"))
    pairs_compared = models.PositiveBigIntegerField(default=0, verbose_name=_("pairs compared"))
    candidates_found = models.PositiveBigIntegerField(default=0, verbose_name=_("candidates found"))
    auto_merged = models.PositiveIntegerField(default=0, verbose_name=_("auto merged"))
    started_at = models.DateTimeField(auto_now_add=True, verbose_name=_("started at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("duplicate scan")
        verbose_name_plural = _("duplicate scans")
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
