"""Admin for web forms: the definition is checked by the service, the HTML snippet shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from collection.admin.widgets import FormFieldsField
from collection.models import Form
from collection.services.forms import (
    form_cache_clear,
    form_html_snippet,
    form_save,
    form_validate_definition,
    purpose_choices,
)
from collection.services.sdk_snippets import browser_sdk_snippet
from core.errors import DomainError


class HttpsURLField(forms.URLField):
    """A thank-you URL typed without a scheme is an https one."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("assume_scheme", "https")
        super().__init__(**kwargs)


class FormAdminForm(forms.ModelForm):
    fields = FormFieldsField(
        label=_("Fields"),
        help_text=_(
            "One row a field. An email or phone field ties a submission to a person; a list "
            "of choices needs its choices."
        ),
    )
    consent_purposes = forms.MultipleChoiceField(
        label=_("Consent purposes"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("One checkbox each on the form, with the purpose's current wording."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["consent_purposes"]
        chosen = list(self.initial.get("consent_purposes") or [])
        offered = {code: name for code, name in purpose_choices()}
        # A purpose since deactivated stays listed while the form uses it, so it can be removed.
        field.choices = [
            *offered.items(),
            *((code, code) for code in chosen if code not in offered),
        ]  # type: ignore[attr-defined]  # a ChoiceField

    class Meta:
        model = Form
        fields = (
            "name",
            "slug",
            "source",
            "is_active",
            "fields",
            "consent_purposes",
            "thank_you_url",
            "honeypot_field",
        )
        field_classes = {"thank_you_url": HttpsURLField}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.errors:  # a field that did not parse (bad JSON) already says why
            return cleaned
        try:
            form_validate_definition(
                fields=cleaned.get("fields"),
                consent_purposes=cleaned.get("consent_purposes"),
                honeypot_field=cleaned.get("honeypot_field", ""),
            )
        except DomainError as exc:
            for name, messages in (exc.fields or {}).items():
                self.add_error(name, messages)
        return cleaned


@admin.register(Form)
class FormAdmin(admin.ModelAdmin):
    form = FormAdminForm
    list_display = ("name", "slug", "source", "is_active", "created_at")
    list_filter = ("is_active", "source")
    search_fields = ("name", "slug")
    list_select_related = ("source",)
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at",)
    fieldsets = (
        (None, {"fields": ("name", "slug", "source", "is_active", "created_at")}),
        (_("Definition"), {"fields": ("fields", "consent_purposes")}),
        (_("After posting"), {"fields": ("thank_you_url", "honeypot_field")}),
    )

    def save_model(self, request: HttpRequest, obj: Form, form: Any, change: bool) -> None:
        form_save(form=obj)

    def delete_model(self, request: HttpRequest, obj: Form) -> None:
        super().delete_model(request, obj)
        form_cache_clear(slugs=[obj.slug])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Form]) -> None:
        slugs = list(queryset.values_list("slug", flat=True))
        super().delete_queryset(request, queryset)
        form_cache_clear(slugs=slugs)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Form | None = None,
    ) -> HttpResponse:
        if obj is not None and obj.pk:
            snippet = form_html_snippet(form=obj, base_url=request.build_absolute_uri("/"))
            context["html_snippet"] = snippet
            context["html_snippet_rows"] = min(snippet.count("\n") + 1, 40)
            base_url = request.build_absolute_uri("/")
            context["sdk_snippets"] = [
                (name, browser_sdk_snippet(sdk=sdk, base_url=base_url))
                for sdk, name in (
                    ("segment", "Segment analytics.js"),
                    ("rudderstack", "RudderStack JavaScript SDK"),
                )
            ]
        return super().render_change_form(request, context, add, change, form_url, obj)
