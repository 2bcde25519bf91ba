"""CSV/XLSX imports: reusable column mappings and the jobs that apply them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from profiles.models import Source


class ImportMapping(models.Model):
    """Which file column goes to which profile field or trait, saved per source and reused."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="import_mappings")
    name = models.CharField(max_length=120)
    columns = models.JSONField(
        default=dict,
        help_text='{"File column": "email" | "first_name" | ... | "traits.<key>" | "external_id"}',
    )
    options = models.JSONField(
        default=dict, blank=True, help_text='{"delimiter": ";", "encoding": "utf-8"}'
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "name"], name="import_mapping_source_name")
        ]

    def __str__(self) -> str:
        return f"{self.source} / {self.name}"


class ImportJob(models.Model):
    """One uploaded file, its progress and its row-level error report."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Uploaded"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="import_jobs")
    mapping = models.ForeignKey(
        ImportMapping, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    columns = models.JSONField(
        default=dict, blank=True, help_text="The column mapping this job applies (a snapshot)."
    )
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    total_rows = models.PositiveIntegerField(null=True, blank=True)
    processed_rows = models.PositiveIntegerField(default=0)
    error_rows = models.PositiveIntegerField(default=0)
    duplicate_rows = models.PositiveIntegerField(default=0)
    profiles_created = models.PositiveIntegerField(default=0)
    profiles_updated = models.PositiveIntegerField(default=0)
    error_report = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)
    message = models.TextField(blank=True, help_text="Why a job failed as a whole.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="A queued or running job's run holds it until then (renewed at each batch); "
        "past it, beat queues the job again.",
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_rows__isnull=True)
                | Q(processed_rows__lte=models.F("total_rows")),
                name="import_processed_within_total",
            )
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk} {self.original_name}"

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == self.Status.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class ImportSlice(models.Model):
    """The rows of some of a job's people, that one worker imports while others run the rest.

    A slice reads rows start_row to end_row of the file and imports those whose person
    falls to it (`RowMapper.slice_of`): a person's rows all in one slice, in file order.
    Each slice moves its own position (rows read) under its own row lock, so workers never
    wait for each other's batches; the job's counters are the sums. Its error report lines
    are merged into the job's report, in row order, when the last slice is done.
    """

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="slices")
    number = models.PositiveSmallIntegerField()
    start_row = models.PositiveIntegerField(help_text="Its first data row (0 = the first).")
    end_row = models.PositiveIntegerField(help_text="The data row after its last.")
    done_rows = models.PositiveIntegerField(
        default=0, help_text="Rows read so far (its own imported, the others' passed over)."
    )
    resume_byte = models.PositiveBigIntegerField(
        default=0,
        help_text="Where the row after its position starts in the stored file; the next "
        "task run reads on from there (0: from the start, skipping the rows read).",
    )
    resume_row = models.PositiveIntegerField(
        default=0, help_text="The file's row number of the last row read."
    )
    error_report = models.FileField(upload_to="imports/errors/%Y/%m/", blank=True)

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="import_slice_job_number"),
            models.CheckConstraint(
                condition=Q(done_rows__lte=models.F("end_row") - models.F("start_row")),
                name="import_slice_done_within_range",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.job_id} slice {self.number}"

    @property
    def remaining_rows(self) -> int:
        return self.end_row - self.start_row - self.done_rows
