"""Web forms defined by stewards; each submission goes through the ingestion pipeline."""

from __future__ import annotations

from django.db import models

from profiles.models import Source


class Form(models.Model):
    """A form with fields mapped to profile fields or traits, posted to /api/forms/<slug>/."""

    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="forms")
    fields = models.JSONField(
        default=list,
        help_text=(
            'List of {"name", "label", "target", "type", "required"}; target is a profile '
            'field (email, phone, first_name, ...) or "traits.<key>".'
        ),
    )
    consent_purposes = models.JSONField(
        default=list,
        blank=True,
        help_text="Codes of the consent purposes the form asks for (one checkbox each).",
    )
    thank_you_url = models.URLField(
        blank=True, help_text="Where a browser is sent after a plain HTML post."
    )
    honeypot_field = models.CharField(
        max_length=40, default="website", help_text="A hidden field people leave empty; bots don't."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Every save moves it; a form post checks it in its INSERT (collection.services.forms).
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
