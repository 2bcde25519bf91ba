"""Writes on journeys: create, new versions, activate, pause, resume, archive, delete; enrol.

A definition is validated before anything is written (400 with the offending step's path).
Editing a journey adds a version; enrolments keep walking the version they started on.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import DateField, Exists, Field, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.errors import InvalidJourney, JourneyState, NotFound
from campaigns.journeys.definition import definition_parse
from campaigns.journeys.engine import ENTRY
from campaigns.models import Enrolment, Journey, JourneyVersion
from consent.models import Purpose
from consent.selectors import purpose_current_wording
from profiles.models import Profile

ENROL_COLUMNS = (
    "journey",
    "version",
    "profile",
    "status",
    "step",
    "due_at",
    "visit",
    "variant",
    "source",
    "entered_at",
    "exit_reason",
    "converted_step",
    "occasion",
)


def _actor(actor: Any) -> Any:
    return actor if getattr(actor, "is_authenticated", False) else None


def _check(
    *,
    purpose_id: int,
    reentry: str,
    reentry_days: int | None,
    goal_event: str,
    goal_days: int | None,
) -> None:
    errors: dict[str, list[str]] = {}
    purpose = Purpose.objects.filter(pk=purpose_id).first()
    if purpose is None:
        errors["purpose"] = [_("No purpose with this id.")]
    elif purpose_current_wording(purpose=purpose) is None:
        errors["purpose"] = [_("This purpose has no wording: people never agreed to it.")]
    if reentry not in Journey.Reentry.values:
        errors["reentry"] = [_("Use never, after_exit or after_days.")]
    elif reentry == Journey.Reentry.AFTER_DAYS and not (reentry_days or 0) >= 1:
        errors["reentry_days"] = [_("Give the number of days (1 or more).")]
    if goal_event and not (goal_days or 0) >= 1:
        errors["goal_days"] = [_("Give the number of days the goal is counted (1 or more).")]
    if errors:
        raise InvalidJourney(_("This journey cannot be saved."), fields=errors)


@transaction.atomic
def journey_create(
    *,
    name: str,
    purpose_id: int,
    definition: Any,
    description: str = "",
    reentry: str = Journey.Reentry.NEVER,
    reentry_days: int | None = None,
    goal_event: str = "",
    goal_days: int | None = None,
    actor: Any = None,
) -> Journey:
    """A draft journey with its first version; refused (nothing written) if it cannot run."""
    _check(
        purpose_id=purpose_id,
        reentry=reentry,
        reentry_days=reentry_days,
        goal_event=goal_event,
        goal_days=goal_days,
    )
    definition_parse(definition)
    if Journey.objects.filter(name=name).exists():
        raise InvalidJourney(
            _("This journey cannot be saved."),
            fields={"name": [_("A journey with this name exists.")]},
        )
    journey = Journey.objects.create(
        name=name,
        description=description,
        purpose_id=purpose_id,
        reentry=reentry,
        reentry_days=reentry_days,
        goal_event=goal_event,
        goal_days=goal_days if goal_event else None,
        created_by=_actor(actor),
    )
    journey.version = JourneyVersion.objects.create(
        journey=journey, version=1, definition=definition, created_by=_actor(actor)
    )
    journey.save(update_fields=["version", "updated_at"])
    return journey


@transaction.atomic
def journey_update(
    *,
    journey_id: int,
    name: str,
    description: str,
    purpose_id: int,
    reentry: str,
    reentry_days: int | None,
    goal_event: str,
    goal_days: int | None,
) -> Journey:
    """Change a journey's name, purpose, re-entry policy or goal (not its steps: a version)."""
    journey = _locked(journey_id)
    _check(
        purpose_id=purpose_id,
        reentry=reentry,
        reentry_days=reentry_days,
        goal_event=goal_event,
        goal_days=goal_days,
    )
    if Journey.objects.filter(name=name).exclude(pk=journey.pk).exists():
        raise InvalidJourney(
            _("This journey cannot be saved."),
            fields={"name": [_("A journey with this name exists.")]},
        )
    Journey.objects.filter(pk=journey.pk).update(
        name=name,
        description=description,
        purpose_id=purpose_id,
        reentry=reentry,
        reentry_days=reentry_days,
        goal_event=goal_event,
        goal_days=goal_days if goal_event else None,
    )
    journey.refresh_from_db()
    return journey


def _locked(journey_id: int) -> Journey:
    journey = Journey.objects.select_for_update().filter(pk=journey_id).first()
    if journey is None:
        raise NotFound(_("No journey with this id."))
    return journey


@transaction.atomic
def journey_version_add(*, journey_id: int, definition: Any, actor: Any = None) -> JourneyVersion:
    """A new definition: new enrolments start on it, running ones finish on theirs."""
    journey = _locked(journey_id)
    if journey.status == Journey.Status.ARCHIVED:
        raise JourneyState(_("An archived journey cannot be edited."))
    definition_parse(definition)
    number = (journey.versions.order_by("-version").values_list("version", flat=True).first()) or 0
    version = JourneyVersion.objects.create(
        journey=journey, version=number + 1, definition=definition, created_by=_actor(actor)
    )
    journey.version = version
    journey.save(update_fields=["version", "updated_at"])
    return version


def _move(journey_id: int, *, allowed: Sequence[str], to: str, message: str) -> Journey:
    journey = _locked(journey_id)
    if journey.status not in allowed:
        raise JourneyState(message)
    journey.status = to
    fields = ["status", "updated_at"]
    if to == Journey.Status.ACTIVE and journey.activated_at is None:
        journey.activated_at = timezone.now()
        fields.append("activated_at")
    journey.save(update_fields=fields)
    return journey


@transaction.atomic
def journey_activate(*, journey_id: int) -> Journey:
    """Start enrolling (from triggers seen from now on) and advancing."""
    journey = Journey.objects.filter(pk=journey_id).select_related("version").first()
    if journey is not None and journey.version is not None:
        definition_parse(journey.version.definition)  # a segment or template may be gone
    return _move(
        journey_id,
        allowed=[Journey.Status.DRAFT],
        to=Journey.Status.ACTIVE,
        message=_("Only a draft journey can be activated."),
    )


@transaction.atomic
def journey_pause(*, journey_id: int) -> Journey:
    """Stop advancing and enrolling; enrolments wait where they are."""
    return _move(
        journey_id,
        allowed=[Journey.Status.ACTIVE],
        to=Journey.Status.PAUSED,
        message=_("Only an active journey can be paused."),
    )


@transaction.atomic
def journey_resume(*, journey_id: int) -> Journey:
    """Advance again: steps that fell due during the pause run at the next tick."""
    return _move(
        journey_id,
        allowed=[Journey.Status.PAUSED],
        to=Journey.Status.ACTIVE,
        message=_("Only a paused journey can be resumed."),
    )


@transaction.atomic
def journey_archive(*, journey_id: int) -> Journey:
    """End the journey: running enrolments exit (reason 'archived'), nobody enters again."""
    journey = _move(
        journey_id,
        allowed=[Journey.Status.DRAFT, Journey.Status.ACTIVE, Journey.Status.PAUSED],
        to=Journey.Status.ARCHIVED,
        message=_("This journey is already archived."),
    )
    Enrolment.objects.filter(journey=journey, status=Enrolment.Status.RUNNING).update(
        status=Enrolment.Status.EXITED,
        exit_reason="archived",
        finished_at=timezone.now(),
        due_at=None,
    )
    return journey


@transaction.atomic
def journey_delete(*, journey_id: int) -> None:
    """Only a draft that never ran can be deleted; a live journey is archived instead."""
    journey = _locked(journey_id)
    if journey.status != Journey.Status.DRAFT or journey.enrolments.exists():
        raise JourneyState(_("A journey that ran cannot be deleted, only archived."))
    Journey.objects.filter(pk=journey.pk).update(version=None)
    journey.delete()


def enrol_from(
    *,
    journey: Journey,
    profile_ids: QuerySet[Any] | None = None,
    where: Q | None = None,
    occasion: Any = None,
    source: str,
    now: datetime | None = None,
) -> int:
    """Enrol the active people among `profile_ids` (a query of ids) or matching `where`:
    one INSERT ... SELECT.

    The partial unique index keeps one running enrolment per person; the re-entry policy
    keeps out those who already walked the journey (never) or ended it recently. A date
    trigger passes each row's `occasion` (an expression), enrolled once per occasion.
    """
    now = now or timezone.now()
    assert journey.version_id is not None
    people = Profile.objects.filter(status=Profile.Status.ACTIVE)
    if profile_ids is not None:
        people = people.filter(pk__in=profile_ids)
    if where is not None:
        people = people.filter(where)
    earlier = Enrolment.objects.filter(journey_id=journey.pk, profile_id=OuterRef("pk"))
    if journey.reentry == Journey.Reentry.NEVER:
        people = people.filter(~Exists(earlier))
    elif journey.reentry == Journey.Reentry.AFTER_DAYS:
        since = now - timedelta(days=journey.reentry_days or 0)
        people = people.filter(~Exists(earlier.filter(finished_at__gt=since)))
    rows = people.order_by().values_list(
        Value(journey.pk),
        Value(journey.version_id),
        "pk",
        Value(Enrolment.Status.RUNNING),
        Value(ENTRY),
        Value(now),
        Value(0),
        Value(""),
        Value(source),
        Value(now),
        Value(""),
        Value(""),
        occasion if occasion is not None else Value(None, output_field=DateField()),
    )
    opts = Enrolment._meta
    columns = ", ".join(
        connection.ops.quote_name(cast(Field, opts.get_field(name)).column)
        for name in ENROL_COLUMNS
    )
    sql, params = rows.query.sql_with_params()
    table = connection.ops.quote_name(opts.db_table)
    if connection.vendor == "sqlite":
        statement = f"INSERT OR IGNORE INTO {table} ({columns}) {sql}"
    else:
        statement = f"INSERT INTO {table} ({columns}) {sql} ON CONFLICT DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        count = cursor.rowcount
    if count:
        from campaigns.tasks import journeys_advance_task

        transaction.on_commit(lambda: journeys_advance_task.delay())
    return count


@transaction.atomic
def journey_enrol(*, journey_id: int, profile_ids: Sequence[int], source: str = "api") -> int:
    """Enrol chosen people by hand (API or steward); those already in or kept out are skipped."""
    journey = _locked(journey_id)
    if journey.status != Journey.Status.ACTIVE:
        raise JourneyState(_("People can only be enrolled in an active journey."))
    ids = Profile.objects.filter(pk__in=[int(pk) for pk in profile_ids]).values("pk")
    return enrol_from(journey=journey, profile_ids=ids, source=source)
