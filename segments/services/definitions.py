"""Creating, changing and deleting segments and personas; rules are validated first."""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from core.leases import job_lease_owe
from segments.compiler import compile_rule
from segments.errors import SegmentKindError, SegmentNotFound, SegmentsError
from segments.models import Persona, Segment
from segments.rules import segment_references

_EDITABLE = ("name", "description", "rule", "refresh_every_minutes", "is_active")


def _check(*, kind: str, rule: Any, refresh_every_minutes: int, segment_id: int | None) -> None:
    if kind not in Segment.Kind.values:
        raise SegmentsError(
            gettext("unknown segment kind"),
            fields={
                "kind": [gettext("one of %(value)s") % {"value": ", ".join(Segment.Kind.values)}]
            },
        )
    if kind == Segment.Kind.DYNAMIC:
        if rule is None:
            raise SegmentsError(
                gettext("a dynamic segment needs a rule"), fields={"rule": [gettext("is required")]}
            )
        compile_rule(rule, segment_id=segment_id)  # raises RuleError naming the path
    elif rule is not None:
        raise SegmentsError(
            gettext("a static list has no rule"), fields={"rule": [gettext("must be empty")]}
        )
    if not isinstance(refresh_every_minutes, int) or refresh_every_minutes < 1:
        raise SegmentsError(
            gettext("invalid refresh interval"),
            fields={"refresh_every_minutes": [gettext("at least 1")]},
        )


def segment_refresh_job(segment_id: int) -> str:
    """The job-lease name of a segment's requested refresh."""
    return f"segments.refresh:{segment_id}"


@transaction.atomic
def segment_refresh_request(*, segment_id: int) -> None:
    """Owe a full refresh of the segment (a job lease) and queue it after commit.

    A refresh asked for while one runs is run again once that one ends (it may have read
    the old rule); a refresh whose worker died is queued again by beat.
    """
    from segments.tasks import segment_refresh_task

    job_lease_owe(
        job=segment_refresh_job(segment_id),
        task="segments.tasks.segment_refresh_task",
        kwargs={"segment_id": segment_id},
    )
    transaction.on_commit(
        partial(segment_refresh_task.apply_async, kwargs={"segment_id": segment_id})
    )


def _refresh_after_commit(segment: Segment) -> None:
    if segment.kind == Segment.Kind.DYNAMIC and segment.is_active:
        segment_refresh_request(segment_id=segment.pk)


@transaction.atomic
def segment_create(
    *,
    name: str,
    rule: Any = None,
    kind: str = Segment.Kind.DYNAMIC,
    description: str = "",
    refresh_every_minutes: int = 60,
    is_active: bool = True,
    created_by: Any = None,
    refresh: bool = False,
) -> Segment:
    """Create a segment after validating its rule; nothing is saved when the rule is bad.

    `refresh`: compute its members in the background once committed.
    """
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise SegmentsError(
            gettext("a segment needs a name"), fields={"name": [gettext("1-200 characters")]}
        )
    _check(kind=kind, rule=rule, refresh_every_minutes=refresh_every_minutes, segment_id=None)
    try:
        with transaction.atomic():
            segment = Segment.objects.create(
                name=name,
                rule=rule,
                kind=kind,
                description=description,
                refresh_every_minutes=refresh_every_minutes,
                is_active=is_active,
                created_by=created_by if getattr(created_by, "pk", None) else None,
            )
    except IntegrityError as error:
        raise SegmentsError(
            gettext("a segment with this name exists"),
            fields={"name": [gettext("is already taken")]},
        ) from error
    if refresh:
        _refresh_after_commit(segment)
    return segment


@transaction.atomic
def segment_update(*, segment_id: int, refresh: bool = False, **changes: Any) -> Segment:
    """Change a segment; a new rule is validated (cycles through other segments refused)."""
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(gettext("No segment with this id."))
    unknown = sorted(set(changes) - set(_EDITABLE))
    if unknown:
        raise SegmentsError(
            gettext("unknown fields"),
            fields={key: [gettext("cannot be changed")] for key in unknown},
        )
    for key, value in changes.items():
        setattr(segment, key, value)
    segment.name = (segment.name or "").strip()
    if not segment.name or len(segment.name) > 200:
        raise SegmentsError(
            gettext("a segment needs a name"), fields={"name": [gettext("1-200 characters")]}
        )
    _check(
        kind=segment.kind,
        rule=segment.rule,
        refresh_every_minutes=segment.refresh_every_minutes,
        segment_id=segment.pk,
    )
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError as error:
        raise SegmentsError(
            gettext("a segment with this name exists"),
            fields={"name": [gettext("is already taken")]},
        ) from error
    if refresh or "rule" in changes:
        _refresh_after_commit(segment)
    return segment


@transaction.atomic
def segment_delete(*, segment_id: int) -> None:
    """Delete a segment that no other rule and no persona refers to (its history goes too)."""
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(gettext("No segment with this id."))
    users = [
        other.name
        for other in Segment.objects.exclude(pk=segment_id).filter(kind=Segment.Kind.DYNAMIC)
        if segment_id in segment_references(other.rule)
    ]
    if users:
        raise SegmentKindError(
            gettext("other segments refer to this one"),
            fields={"segment": [gettext("used by %(value)s") % {"value": ", ".join(users)}]},
        )
    if Persona.objects.filter(segment_id=segment_id).exists():
        raise SegmentKindError(
            gettext("personas are tied to this segment"),
            fields={"segment": [gettext("has personas")]},
        )
    segment.delete()


@transaction.atomic
def persona_create(
    *,
    name: str,
    segment_id: int,
    description: str = "",
    goals: str = "",
    pains: str = "",
    messaging: str = "",
) -> Persona:
    """Create a buyer persona tied to an existing segment."""
    if not Segment.objects.filter(pk=segment_id).exists():
        raise SegmentsError(
            gettext("unknown segment"), fields={"segment": [gettext("no segment with this id")]}
        )
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise SegmentsError(
            gettext("a persona needs a name"), fields={"name": [gettext("1-120 characters")]}
        )
    try:
        with transaction.atomic():
            return Persona.objects.create(
                name=name,
                segment_id=segment_id,
                description=description,
                goals=goals,
                pains=pains,
                messaging=messaging,
            )
    except IntegrityError as error:
        raise SegmentsError(
            gettext("a persona with this name exists"),
            fields={"name": [gettext("is already taken")]},
        ) from error
