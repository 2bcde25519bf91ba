"""Form widgets every app's admin may use: lists edited as repeated inputs, not raw JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

EXTRA_ROWS = 2  # blank rows shown under the values, so adding works without JavaScript


class RepeatedTextInput(forms.Widget):
    """A list of short texts as one text input each (all under the same name), plus blanks.

    "Add another" (core/repeated.js) adds a blank input; an emptied input drops its value.
    """

    template_name = "core/widgets/repeated_text.html"

    class Media:
        js = ("core/repeated.js",)

    def __init__(self, attrs: dict[str, Any] | None = None, *, placeholder: str = "") -> None:
        super().__init__(attrs)
        self.placeholder = placeholder

    def format_value(self, value: Any) -> list[str]:  # type: ignore[override]  # a list, not a string
        if isinstance(value, str):
            value = [value] if value else []
        return [str(item) for item in value or []]

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        values = [*self.format_value(value), *[""] * EXTRA_ROWS]
        attrs = dict(context["widget"]["attrs"])
        base_id = attrs.pop("id", "")
        # One id per input: the label points at the first.
        context["widget"]["rows"] = [
            (text, {**attrs, **({"id": f"{base_id}_{n}" if n else base_id} if base_id else {})})
            for n, text in enumerate(values)
        ]
        context["widget"]["placeholder"] = self.placeholder
        context["widget"]["add_label"] = _("Add another")
        return context

    def value_from_datadict(self, data: Mapping[str, Any], files: Any, name: str) -> list[str]:
        getlist = getattr(data, "getlist", None)
        raw = getlist(name) if getlist else data.get(name, [])
        if isinstance(raw, str):
            raw = [raw]
        return [text.strip() for text in raw if isinstance(text, str) and text.strip()]

    def value_omitted_from_data(self, data: Mapping[str, Any], files: Any, name: str) -> bool:
        return False  # no input left filled in is an empty list, not "unchanged"


class TextListField(forms.Field):
    """A list of texts edited with `RepeatedTextInput`; each item checked by `item_clean`."""

    widget = RepeatedTextInput

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        return [str(item) for item in value]

    def validate(self, value: list[str]) -> None:
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")

    def clean(self, value: Any) -> list[str]:
        items = super().clean(value)
        errors: list[forms.ValidationError] = []
        cleaned: list[str] = []
        for item in items:
            try:
                cleaned.append(self.item_clean(item))
            except forms.ValidationError as error:
                errors.extend(error.error_list)
        if errors:
            raise forms.ValidationError(errors)
        return list(dict.fromkeys(cleaned))

    def item_clean(self, item: str) -> str:
        return item

    def has_changed(self, initial: Any, data: Any) -> bool:
        return list(initial or []) != list(data or [])
