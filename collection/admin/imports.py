"""Admin for imports: upload a file, map its columns, preview the first rows, start, follow."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from collection.models import ImportJob, ImportMapping
from collection.services.imports import (
    DELIMITERS,
    ENCODINGS,
    TARGET_LABELS,
    columns_errors,
    columns_propose,
    consent_codes,
    import_job_configure,
    import_job_create,
    import_mapping_save,
    import_preview,
    import_requeue,
    import_start,
    max_bytes,
    trait_key_for,
)
from consent.services import access_log_add, may_unmask
from core.errors import DomainError
from profiles.models import DataQualityIssue, Source

TEMPLATES = "admin/collection/importjob"
PREVIEW_ROWS = 20
SAMPLE_ROWS = 3
TRAIT = "traits"
TARGET_CHOICES = [
    ("", _("— skip this column —")),
    *TARGET_LABELS.items(),
    (TRAIT, _("Custom trait, key:")),
]
# A tab travels as "tab": browsers may not keep a bare tab in an option's value.
_DELIMITER_LABELS = {
    ",": _("Comma ,"),
    ";": _("Semicolon ;"),
    "tab": _("Tab"),
    "|": _("Pipe |"),
}
DELIMITER_CHOICES = [
    ("", _("Detect")),
    *((key, _DELIMITER_LABELS[key]) for key in (d.replace("\t", "tab") for d in DELIMITERS)),
]
ENCODING_CHOICES = [("", _("Detect")), *((e, e) for e in ENCODINGS)]


class UploadForm(forms.Form):
    source = forms.ModelChoiceField(
        queryset=Source.objects.filter(is_active=True), label=_("Source")
    )
    file = forms.FileField(label=_("File"))
    mapping = forms.ModelChoiceField(
        queryset=ImportMapping.objects.select_related("source").order_by("source__name", "name"),
        required=False,
        empty_label=_("Propose the source's last mapping"),
        help_text=_("A saved mapping of the same source."),
        label=_("Mapping"),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = gettext(
            "CSV (comma, semicolon, tab or pipe) or Excel .xlsx, up to %(value)s MB; "
            "the first row names the columns."
        ) % {"value": max_bytes() // (1024 * 1024)}

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        mapping, source = data.get("mapping"), data.get("source")
        if mapping is not None and source is not None and mapping.source_id != source.pk:
            self.add_error("mapping", gettext("This mapping belongs to another source."))
        return data


def _form_options(options: dict[str, Any]) -> dict[str, str]:
    """Reading options as the forms carry them."""
    return {
        "delimiter": str(options.get("delimiter") or "").replace("\t", "tab"),
        "encoding": str(options.get("encoding") or ""),
    }


def _service_options(data: dict[str, Any]) -> dict[str, str]:
    """Reading options from a form, as the services take them ("" means detect)."""
    return {
        "delimiter": str(data.get("delimiter") or "").replace("tab", "\t"),
        "encoding": str(data.get("encoding") or ""),
    }


class ReadingForm(forms.Form):
    """Reading options and a saved mapping to start from; changing them reloads the page."""

    prefix = "read"

    delimiter = forms.ChoiceField(choices=DELIMITER_CHOICES, required=False, label=_("Delimiter"))
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, label=_("Encoding"))
    mapping = forms.ModelChoiceField(
        queryset=ImportMapping.objects.none(), required=False, label=_("Mapping")
    )

    def __init__(self, *args: Any, source: Source, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["mapping"]
        field.queryset = ImportMapping.objects.filter(source=source).order_by("name")  # type: ignore[attr-defined]  # a ModelChoiceField; the form field is typed Field
        field.empty_label = gettext("Current mapping and suggestions")  # type: ignore[attr-defined]  # idem

    def options(self) -> dict[str, str]:
        return _service_options(self.cleaned_data) if self.is_valid() else {}


class MappingForm(forms.Form):
    """One target select (and trait key) per file column, and a name to save the mapping as."""

    delimiter = forms.ChoiceField(
        choices=DELIMITER_CHOICES, required=False, widget=forms.HiddenInput
    )
    encoding = forms.ChoiceField(choices=ENCODING_CHOICES, required=False, widget=forms.HiddenInput)
    save_as = forms.CharField(
        required=False,
        max_length=120,
        label=_("Save this mapping as"),
        help_text=_("Optional; the next file of this source will be proposed this mapping."),
    )

    def __init__(
        self, *args: Any, header: list[str], proposal: dict[str, str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.header = header
        # Consent columns: two targets per active purpose (ledger decisions with proof).
        codes = sorted(consent_codes())
        choices = [
            *TARGET_CHOICES[:-1],
            *(
                (
                    f"consent.{code}",
                    _("Consent to %(purpose)s (yes grants; no or empty: not given)")
                    % {"purpose": code},
                )
                for code in codes
            ),
            *(
                (
                    f"consent_or_withdrawal.{code}",
                    _("Consent to %(purpose)s (yes grants; no withdraws)") % {"purpose": code},
                )
                for code in codes
            ),
            TARGET_CHOICES[-1],
        ]
        for index, column in enumerate(header):
            target = proposal.get(column, "")
            is_trait = target.startswith(f"{TRAIT}.")
            self.fields[f"target_{index}"] = forms.ChoiceField(
                choices=choices, required=False, initial=TRAIT if is_trait else target
            )
            self.fields[f"trait_{index}"] = forms.CharField(
                required=False,
                max_length=100,
                initial=target[len(TRAIT) + 1 :] if is_trait else trait_key_for(column),
            )

    def columns(self) -> dict[str, str]:
        out = {}
        for index, column in enumerate(self.header):
            target = self.cleaned_data.get(f"target_{index}", "")
            if target == TRAIT:
                target = f"{TRAIT}.{self.cleaned_data.get(f'trait_{index}', '').strip()}"
            out[column] = target
        return out

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        for column, texts in columns_errors(self.columns()).items():
            if column in self.header:
                self.add_error(f"target_{self.header.index(column)}", texts)
            else:
                self.add_error(None, texts)
        return data

    def rows(self) -> list[tuple[str, forms.BoundField, forms.BoundField]]:
        return [
            (column, self[f"target_{index}"], self[f"trait_{index}"])
            for index, column in enumerate(self.header)
        ]


def _issues_link(job: ImportJob) -> dict[str, Any]:
    """The data-quality issues a finished job's rows raised: its source's, while it ran."""
    if job.started_at is None or job.finished_at is None:
        return {}
    since, until = job.started_at - timedelta(seconds=1), job.finished_at + timedelta(seconds=1)
    count = DataQualityIssue.objects.filter(
        source_id=job.source_id, detected_at__range=(since, until)
    ).count()
    window = {
        "source__id__exact": job.source_id,
        "detected_at__gte": since.isoformat(),
        "detected_at__lte": until.isoformat(),
    }
    url = reverse("admin:profiles_dataqualityissue_changelist") + "?" + urlencode(window)
    return {"issues_url": url, "issue_count": count}


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "source", "status", "progress", "created_by", "created_at", "errors")
    list_filter = ("status", "source")
    list_select_related = ("source", "created_by")
    search_fields = ("original_name",)
    date_hierarchy = "created_at"
    show_full_result_count = False
    actions = ("start_selected", "resume_selected")
    fields = (
        "source",
        "original_name",
        "mapping",
        "status",
        "progress",
        "errors",
        "columns",
        "options",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields

    # Jobs change only through the import flow's services, never through a model form.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("Progress"))
    def progress(self, job: ImportJob) -> SafeString:
        return render_to_string(f"{TEMPLATES}/progress.html", {"job": job})

    @admin.display(description=_("Error report"))
    def errors(self, job: ImportJob) -> str:
        if not job.error_report:
            return "—"
        url = reverse("admin:collection_importjob_errors", args=[job.pk])
        rows = f"{job.error_rows} row{'' if job.error_rows == 1 else 's'}"
        return format_html('<a href="{}">Download ({} with errors)</a>', url, rows)

    # --- URLs ------------------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:job_id>/mapping/",
                wrap(self.mapping_view),
                name="collection_importjob_mapping",
            ),
            path(
                "<int:job_id>/preview/",
                wrap(self.preview_view),
                name="collection_importjob_preview",
            ),
            path(
                "<int:job_id>/start/",
                wrap(require_POST(self.start_view)),
                name="collection_importjob_start",
            ),
            path(
                "<int:job_id>/errors/", wrap(self.errors_view), name="collection_importjob_errors"
            ),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, job_id: int, *, run: bool = False) -> ImportJob:
        # Checked before the look-up: a refusal says nothing of the job. Previews and
        # error reports hold the file's rows: only those who may see personal data.
        allowed = self.has_add_permission(request) if run else may_unmask(request.user)
        if not (allowed and self.has_view_permission(request)):
            raise PermissionDenied
        return get_object_or_404(ImportJob.objects.select_related("source"), pk=job_id)

    def _context(self, request: HttpRequest, job: ImportJob, title: str) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "job": job,
            "title": title,
            "change_url": reverse("admin:collection_importjob_change", args=[job.pk]),
            "mapping_url": reverse("admin:collection_importjob_mapping", args=[job.pk]),
            "preview_url": reverse("admin:collection_importjob_preview", args=[job.pk]),
            "start_url": reverse("admin:collection_importjob_start", args=[job.pk]),
        }

    def _not_uploaded(self, request: HttpRequest, job: ImportJob) -> HttpResponse:
        messages.info(
            request,
            gettext("%(job)s is %(value)s; its mapping is fixed.")
            % {"job": job, "value": job.get_status_display().lower()},
        )
        return HttpResponseRedirect(reverse("admin:collection_importjob_change", args=[job.pk]))

    # --- Views -------------------------------------------------------------------------------

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Upload a file for a source; the job's mapping page comes next."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            job = import_job_create(
                source=form.cleaned_data["source"],
                file=upload,
                original_name=upload.name,
                created_by=request.user,
                mapping=form.cleaned_data["mapping"],
            )
            if job.status == ImportJob.Status.FAILED:
                return HttpResponseRedirect(
                    reverse("admin:collection_importjob_change", args=[job.pk])
                )
            return HttpResponseRedirect(
                reverse("admin:collection_importjob_mapping", args=[job.pk])
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext(gettext("Upload a file to import")),
            "form": form,
            **(extra_context or {}),
        }
        return TemplateResponse(request, f"{TEMPLATES}/upload.html", context)

    def mapping_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """Choose a target per file column, pre-filled from a saved mapping and suggestions."""
        job = self._job(request, job_id, run=True)
        if job.status != ImportJob.Status.UPLOADED:
            return self._not_uploaded(request, job)
        data = request.GET or {f"read-{k}": v for k, v in _form_options(job.options).items()}
        reading = ReadingForm(data, source=job.source)
        options = reading.options() or dict(job.options)
        chosen = reading.cleaned_data.get("mapping") if reading.is_valid() else None
        if chosen is not None:
            # A saved mapping brings its reading options unless the steward picked others.
            options = {key: options.get(key) or chosen.options.get(key, "") for key in options}
        sample = import_preview(job_id=job.pk, limit=SAMPLE_ROWS, columns={}, options=options)
        if chosen is not None:
            known: dict[str, str] | None = chosen.columns
        else:
            known = job.columns or None
        proposal = columns_propose(source=job.source, header=sample.header, columns=known)
        initial = {**_form_options(options), "save_as": chosen.name if chosen else ""}
        form = MappingForm(
            request.POST or None, initial=initial, header=sample.header, proposal=proposal
        )
        if request.method == "POST" and form.is_valid():
            try:
                import_job_configure(
                    job_id=job.pk,
                    columns=form.columns(),
                    options=_service_options(form.cleaned_data),
                    save_as=form.cleaned_data["save_as"],
                )
            except DomainError as exc:
                form.add_error(
                    None, [f"{key}: {value}" for key, value in (exc.fields or {}).items()]
                )
            else:
                if form.cleaned_data["save_as"]:
                    messages.success(
                        request,
                        gettext("Mapping %(value)s saved.")
                        % {"value": repr(form.cleaned_data["save_as"])},
                    )
                return HttpResponseRedirect(
                    reverse("admin:collection_importjob_preview", args=[job.pk])
                )
        samples = {
            column: [row.values[index] for row in sample.rows if row.values[index]]
            for index, column in enumerate(sample.header)
        }
        context = {
            **self._context(
                request,
                job,
                gettext("Map the columns of %(original_name)s")
                % {"original_name": job.original_name},
            ),
            "reading": reading,
            "form": form,
            "rows": [
                (column, samples[column], target, trait) for column, target, trait in form.rows()
            ],
            "problems": sample.problems if not sample.header else [],
            "detected": sample.options,
        }
        return TemplateResponse(request, f"{TEMPLATES}/mapping.html", context)

    def preview_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """A dry run of the first rows with their errors, and the Start button."""
        job = self._job(request, job_id)
        preview = import_preview(job_id=job.pk, limit=PREVIEW_ROWS)
        # The file's first rows as read: personal data of people not ingested yet, audited.
        access_log_add(
            user=request.user, action="view", what="admin:import-preview", profile_id=None
        )
        mapped = [column for column in preview.header if preview.columns.get(column)]
        positions = [preview.header.index(column) for column in mapped]
        rows = [
            {
                "number": row.number,
                "cells": [
                    (
                        row.values[index],
                        row.stored.get(preview.header[index], ""),
                        row.errors.get(preview.header[index], []),
                        row.issues.get(preview.header[index], []),
                    )
                    for index in positions
                ],
                "row_errors": row.errors.get("", []),
                "has_errors": bool(row.errors),
                "issue_count": sum(len(texts) for texts in row.issues.values()),
            }
            for row in preview.rows
        ]
        context = {
            **self._context(request, job, f"Preview of {job.original_name}"),
            "preview": preview,
            "columns": [(column, preview.columns[column]) for column in mapped],
            "rows": rows,
            "can_start": job.status == ImportJob.Status.UPLOADED
            and not preview.problems
            and self.has_add_permission(request),
        }
        return TemplateResponse(request, f"{TEMPLATES}/preview.html", context)

    def start_view(self, request: HttpRequest, job_id: int) -> HttpResponse:
        """Start the import; a job-level problem fails it at once with its reason."""
        job = self._job(request, job_id, run=True)
        try:
            job = import_start(job_id=job.pk)
        except DomainError as exc:
            messages.error(request, str(exc))
        else:
            if job.status == ImportJob.Status.FAILED:
                messages.error(request, gettext("The import could not start; the reason is below."))
            else:
                messages.success(
                    request,
                    gettext("%(job)s is queued: %(total_rows)s rows to import.")
                    % {"job": job, "total_rows": job.total_rows},
                )
        return HttpResponseRedirect(reverse("admin:collection_importjob_change", args=[job.pk]))

    def errors_view(self, request: HttpRequest, job_id: int) -> FileResponse:
        """The row-level error report as a CSV download."""
        job = self._job(request, job_id)
        if not job.error_report:
            raise Http404(gettext("This import has no error report."))
        access_log_add(
            user=request.user, action="export", what="admin:import-errors", profile_id=None
        )
        return FileResponse(
            job.error_report.open("rb"),
            as_attachment=True,
            filename=f"import-{job.pk}-errors.csv",
            content_type="text/csv; charset=utf-8",
        )

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        job = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if job is not None:
            extra.update(
                {
                    "job": job,
                    "refresh_seconds": 3 if job.status in ("queued", "running") else 0,
                    "can_run": self.has_add_permission(request),
                    "mapping_url": reverse("admin:collection_importjob_mapping", args=[job.pk]),
                    "preview_url": reverse("admin:collection_importjob_preview", args=[job.pk]),
                    "start_url": reverse("admin:collection_importjob_start", args=[job.pk]),
                    **_issues_link(job),
                }
            )
        return super().change_view(request, object_id, form_url, extra)

    # --- Actions -----------------------------------------------------------------------------

    @admin.action(description=_("Start the selected uploaded imports"), permissions=["add"])
    def start_selected(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        for job_id in queryset.filter(status=ImportJob.Status.UPLOADED).values_list(
            "pk", flat=True
        ):
            job = import_start(job_id=job_id)
            if job.status == ImportJob.Status.FAILED:
                messages.error(request, f"{job}: {job.message}")
            else:
                messages.success(request, gettext("%(job)s is queued.") % {"job": job})

    @admin.action(description=_("Resume the selected stalled imports"), permissions=["add"])
    def resume_selected(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        resumed = sum(import_requeue(job_id=pk) for pk in queryset.values_list("pk", flat=True))
        messages.info(
            request, gettext("%(resumed)s import(s) queued again.") % {"resumed": resumed}
        )


class ImportMappingForm(forms.ModelForm):
    class Meta:
        model = ImportMapping
        fields = ("source", "name", "columns", "options")

    def clean_columns(self) -> dict[str, str]:
        columns = self.cleaned_data["columns"]
        errors = columns_errors(columns)
        if errors:
            raise forms.ValidationError(
                [f"{column}: {text}" for column, texts in errors.items() for text in texts]
            )
        return columns


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    form = ImportMappingForm
    list_display = ("name", "source", "updated_at", "jobs_link")
    list_filter = ("source",)
    list_select_related = ("source",)
    search_fields = ("name",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # The name and source are what the upsert finds a mapping by.
        return ("source", "name") if obj is not None else ()

    @admin.display(description=_("Imports"))
    def jobs_link(self, mapping: ImportMapping) -> str:
        url = (
            reverse("admin:collection_importjob_changelist")
            + "?"
            + urlencode({"mapping__id__exact": mapping.pk})
        )
        return format_html('<a href="{}">Imports using it</a>', url)

    def save_model(
        self, request: HttpRequest, obj: ImportMapping, form: forms.ModelForm, change: bool
    ) -> None:
        saved = import_mapping_save(
            source=obj.source, name=obj.name, columns=obj.columns, options=obj.options
        )
        obj.pk = saved.pk
