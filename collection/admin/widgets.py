"""A form's fields edited as a table of inputs (one row a field), not as raw JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from collection.services.forms import FIELD_TYPES
from core.widgets import EXTRA_ROWS
from profiles.fields import PROFILE_FIELDS
from profiles.models import Profile

TRAIT = "traits."
TYPE_LABELS = {
    "email": _("Email"),
    "tel": _("Phone"),
    "text": _("Text"),
    "date": _("Date"),
    "checkbox": _("Checkbox"),
    "select": _("List of choices"),
}
assert set(TYPE_LABELS) == set(FIELD_TYPES)
KEYS = ("name", "label", "type", "target", "trait", "required", "choices")


class FormFieldsWidget(forms.Widget):
    """Rows of name, label, type, target (a profile field or a custom trait), required and
    choices; inputs are named `<name>-<row>-<key>`, `<name>-count` says how many rows."""

    template_name = "collection/widgets/form_fields.html"

    class Media:
        js = ("core/repeated.js",)

    def format_value(self, value: Any) -> list[dict[str, Any]]:  # type: ignore[override]  # rows, not a string
        rows = []
        for field in value if isinstance(value, list) else []:
            if not isinstance(field, Mapping):
                continue
            target = str(field.get("target") or "")
            choices = field.get("choices")
            rows.append(
                {
                    "name": field.get("name", ""),
                    "label": field.get("label", ""),
                    "type": field.get("type", "text"),
                    "target": "traits" if target.startswith(TRAIT) else target,
                    "trait": target.removeprefix(TRAIT) if target.startswith(TRAIT) else "",
                    "required": bool(field.get("required")),
                    "choices": ", ".join(choices) if isinstance(choices, list) else "",
                }
            )
        return rows

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        blank = {"name": "", "label": "", "type": "text", "target": "", "trait": "", "choices": ""}
        rows = [*self.format_value(value), *[dict(blank) for _ in range(EXTRA_ROWS)]]
        context["widget"].update(
            {
                "rows": rows,
                "count": len(rows),
                "types": list(TYPE_LABELS.items()),
                "targets": [
                    (field, Profile._meta.get_field(field).verbose_name) for field in PROFILE_FIELDS
                ],
            }
        )
        return context

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> Any:
        try:
            count = min(int(data.get(f"{name}-count", 0)), 200)
        except (TypeError, ValueError):
            count = 0
        fields: list[dict[str, Any]] = []
        for row in range(count):
            raw = {key: str(data.get(f"{name}-{row}-{key}", "")).strip() for key in KEYS}
            if not (raw["name"] or raw["label"]):
                continue  # a blank row
            target = TRAIT + raw["trait"] if raw["target"] == "traits" else raw["target"]
            field: dict[str, Any] = {
                "name": raw["name"],
                "label": raw["label"],
                "type": raw["type"],
                "target": target,
                "required": raw["required"] in ("on", "true", "1"),
            }
            if raw["type"] == "select" or raw["choices"]:
                field["choices"] = [c.strip() for c in raw["choices"].split(",") if c.strip()]
            fields.append(field)
        return fields

    def value_omitted_from_data(self, data: Mapping[str, Any], files: Any, name: str) -> bool:
        return f"{name}-count" not in data


class FormFieldsField(forms.Field):
    """The list of a form's field definitions; the service checks it (form_validate_definition)."""

    widget = FormFieldsWidget

    def to_python(self, value: Any) -> list[dict[str, Any]]:
        return list(value) if isinstance(value, list) else []

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != list(data or [])
