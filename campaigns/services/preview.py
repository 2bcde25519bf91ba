"""Preview a template as one person, and send a steward a test copy."""

from __future__ import annotations

from typing import Any

from django.core.mail import EmailMultiAlternatives
from django.utils import translation
from django.utils.translation import gettext

from campaigns.errors import InvalidTemplate
from campaigns.models import Template
from campaigns.rendering import choose_language, render_compiled
from campaigns.selectors import template_latest_version
from campaigns.services.content import contexts_build
from consent.models import Purpose
from profiles.models import Profile


def template_preview(*, template: Template, profile: Profile, language: str = "") -> dict[str, Any]:
    """The latest version rendered for `profile` (links point at the first email purpose)."""
    version = template_latest_version(template_id=template.pk)
    if version is None:
        raise InvalidTemplate(
            gettext("The template has no version."), fields={"template": [gettext("No version.")]}
        )
    purpose = Purpose.objects.filter(channel="email").order_by("pk").first()
    context = contexts_build(profiles=[profile], purpose_id=purpose.pk if purpose else 0)[
        profile.pk
    ]
    chosen = choose_language(
        available=version.compiled,
        wanted=language or profile.language,
        default=template.default_language,
    )
    with translation.override(chosen):
        rendered = render_compiled(compiled=version.compiled[chosen], context=context)
    return {
        "language": chosen,
        "subject": rendered.subject,
        "preheader": rendered.preheader,
        "html": rendered.html,
        "text": rendered.text,
    }


def template_test_send(*, template: Template, profile: Profile, to: str) -> None:
    """Mail the preview to a steward's own address, marked as a test (no outbox row)."""
    shown = template_preview(template=template, profile=profile)
    email = EmailMultiAlternatives(
        subject=f"[TEST] {shown['subject']}", body=shown["text"], to=[to]
    )
    email.attach_alternative(shown["html"], "text/html")
    email.send()
