"""CSV/XLSX imports: reusable column mappings and the jobs that apply them."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from profiles.models import Source


class ImportMapping(models.Model):
    """Which file column goes to which profile field or trait, saved per source and reused."""

    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, related_name="import_mappings", verbose_name=_("source")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    columns = models.JSONField(
        default=dict,
        help_text=_(
            '{"File column": "email" | "first_name" | ... | "traits.<key>" | "external_id"}'
        ),
        verbose_name=_("columns"),
    )
    options = models.JSONField(
        default=dict,
        blank=True,
        help_text=_('{"delimiter": ";", "encoding": "utf-8"}'),
        verbose_name=_("options"),
    )
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")
        constraints = [
            models.UniqueConstraint(fields=["source", "name"], name="import_mapping_source_name")
        ]

    def __str__(self) -> str:
        return f"{self.source} / {self.name}"


class ImportJob(models.Model):
    """One uploaded file, its progress and its row-level error report."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="import_jobs", verbose_name=_("source")
    )
    mapping = models.ForeignKey(
        ImportMapping,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        verbose_name=_("mapping"),
    )
    file = models.FileField(upload_to="imports/%Y/%m/", verbose_name=_("file"))
    original_name = models.CharField(max_length=255, blank=True, verbose_name=_("original name"))
    columns = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("The column mapping this job applies (a snapshot)."),
        verbose_name=_("columns"),
    )
    options = models.JSONField(default=dict, blank=True, verbose_name=_("options"))
    status = models.CharField(
        max_length=12, choices=Status.choices, default=Status.UPLOADED, verbose_name=_("status")
    )
    total_rows = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("total rows"))
    processed_rows = models.PositiveIntegerField(default=0, verbose_name=_("processed rows"))
    error_rows = models.PositiveIntegerField(default=0, verbose_name=_("error rows"))
    duplicate_rows = models.PositiveIntegerField(default=0, verbose_name=_("duplicate rows"))
    profiles_created = models.PositiveIntegerField(default=0, verbose_name=_("profiles created"))
    profiles_updated = models.PositiveIntegerField(default=0, verbose_name=_("profiles updated"))
    error_report = models.FileField(
        upload_to="imports/errors/%Y/%m/", blank=True, verbose_name=_("error report")
    )
    message = models.TextField(
        blank=True, help_text=_("Why a job failed as a whole."), verbose_name=_("message")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    lease_expires_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text=_(
            "A queued or running job's run holds it until then (renewed at each batch); "
            "past it, beat queues the job again."
        ),
        verbose_name=_("lease expires at"),
    )

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
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

    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="slices", verbose_name=_("job")
    )
    number = models.PositiveSmallIntegerField(verbose_name=_("number"))
    start_row = models.PositiveIntegerField(
        help_text=_("Its first data row (0 = the first)."), verbose_name=_("start row")
    )
    end_row = models.PositiveIntegerField(
        help_text=_("The data row after its last."), verbose_name=_("end row")
    )
    done_rows = models.PositiveIntegerField(
        default=0,
        help_text=_("Rows read so far (its own imported, the others' passed over)."),
        verbose_name=_("done rows"),
    )
    resume_byte = models.PositiveBigIntegerField(
        default=0,
        help_text=_(
            "Where the row after its position starts in the stored file; the next "
            "task run reads on from there (0: from the start, skipping the rows read)."
        ),
        verbose_name=_("resume byte"),
    )
    resume_row = models.PositiveIntegerField(
        default=0,
        help_text=_("The file's row number of the last row read."),
        verbose_name=_("resume row"),
    )
    error_report = models.FileField(
        upload_to="imports/errors/%Y/%m/", blank=True, verbose_name=_("error report")
    )

    class Meta:
        verbose_name = _("import slice")
        verbose_name_plural = _("import slices")
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
