"""Web forms defined by stewards; each submission goes through the ingestion pipeline."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from profiles.models import Source


class Form(models.Model):
    """A form with fields mapped to profile fields or traits, posted to /api/forms/<slug>/."""

    name = models.CharField(max_length=120, verbose_name=_("name"))
    slug = models.SlugField(max_length=60, unique=True, verbose_name=_("slug"))
    source = models.ForeignKey(
        Source, on_delete=models.PROTECT, related_name="forms", verbose_name=_("source")
    )
    fields = models.JSONField(
        default=list,
        help_text=(
            _(
                'List of {"name", "label", "target", "type", "required"}; target is a profile '
                'field (email, phone, first_name, ...) or "traits.<key>".'
            )
        ),
        verbose_name=_("fields"),
    )
    consent_purposes = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Codes of the consent purposes the form asks for (one checkbox each)."),
        verbose_name=_("consent purposes"),
    )
    thank_you_url = models.URLField(
        blank=True,
        help_text=_("Where a browser is sent after a plain HTML post."),
        verbose_name=_("thank you url"),
    )
    honeypot_field = models.CharField(
        max_length=40,
        default="website",
        help_text=_("A hidden field people leave empty; bots don't."),
        verbose_name=_("honeypot field"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    # Every save moves it; a form post checks it in its INSERT (collection.services.forms).
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
