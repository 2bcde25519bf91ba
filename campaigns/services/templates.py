"""Templates and their versions: every save is a new, checked, compiled version."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils.translation import gettext

from campaigns.errors import InvalidTemplate, NotFound
from campaigns.models import Template, TemplateVersion
from campaigns.rendering import LANGUAGES, variants_compile


@transaction.atomic
def template_create(
    *,
    name: str,
    variants: Any,
    description: str = "",
    default_language: str = "en",
    actor: Any = None,
) -> Template:
    """A template and its first version; refused whole if the content does not compile."""
    if default_language not in LANGUAGES:
        raise InvalidTemplate(
            gettext("Unknown language."), fields={"default_language": [gettext("Use en or fr.")]}
        )
    compiled = variants_compile(variants)
    if Template.objects.filter(name=name).exists():
        raise InvalidTemplate(
            gettext("A template with this name exists."),
            fields={"name": [gettext("A template with this name exists.")]},
        )
    try:
        with transaction.atomic():
            template = Template.objects.create(
                name=name, description=description, default_language=default_language
            )
    except IntegrityError as error:
        raise InvalidTemplate(
            gettext("A template with this name exists."),
            fields={"name": [gettext("A template with this name exists.")]},
        ) from error
    TemplateVersion.objects.create(
        template=template,
        version=1,
        variants=dict(variants),
        compiled=compiled,
        created_by=_user(actor),
    )
    return template


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


@transaction.atomic
def template_version_add(*, template_id: int, variants: Any, actor: Any = None) -> TemplateVersion:
    """A new version of a template (the template row is locked: numbers never collide)."""
    template = Template.objects.select_for_update().filter(pk=template_id).first()
    if template is None:
        raise NotFound(gettext("No template with this id."))
    compiled = variants_compile(variants)
    latest = template.versions.aggregate(n=Max("version"))["n"] or 0
    template.save(update_fields=["updated_at"])
    return TemplateVersion.objects.create(
        template=template,
        version=latest + 1,
        variants=dict(variants),
        compiled=compiled,
        created_by=_user(actor),
    )
