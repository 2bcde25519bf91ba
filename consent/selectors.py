"""Reads of the consent app: the current state is always derived from the ledger."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from django.db.models import Exists, Model, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from consent.errors import InvalidLink, ProfileNotFound, ProfileUnavailable
from consent.links import confirm_token_read
from consent.models import ConsentRecord, Purpose, PurposeVersion, Suppression

MAX_MERGE_HOPS = 10


def _without_newer(records: QuerySet[ConsentRecord]) -> QuerySet[ConsentRecord]:
    """Only the latest record of each (profile, purpose) among `records` (an anti-join)."""
    newer = ConsentRecord.objects.filter(
        profile_id=OuterRef("profile_id"), purpose_id=OuterRef("purpose_id"), id__gt=OuterRef("id")
    )
    return records.filter(~Exists(newer))


def consent_current(*, profile_id: int, purpose: Purpose) -> ConsentRecord | None:
    """The latest record of a profile for a purpose, or None: the ledger is the only state."""
    return (
        ConsentRecord.objects.filter(profile_id=profile_id, purpose_id=purpose.pk)
        .select_related("wording")
        .order_by("-id")
        .first()
    )


def consent_in_force(*, record: ConsentRecord | None, at: datetime | None = None) -> bool:
    """A record counts as consent when it is a grant that has not expired."""
    if record is None or record.status != ConsentRecord.Status.GRANTED:
        return False
    return record.expires_at is None or record.expires_at > (at or timezone.now())


@dataclass(frozen=True)
class PurposeState:
    """A purpose and the person's latest decision about it (None: never asked)."""

    purpose: Purpose
    record: ConsentRecord | None
    in_force: bool

    @property
    def status(self) -> str | None:
        return self.record.status if self.record else None

    @property
    def version(self) -> int | None:
        wording = self.record.wording if self.record else None
        return wording.version if wording else None

    @property
    def recorded_at(self) -> datetime | None:
        return self.record.recorded_at if self.record else None

    @property
    def expires_at(self) -> datetime | None:
        return self.record.expires_at if self.record else None

    @property
    def expired(self) -> bool:
        return bool(
            self.record is not None
            and self.record.status == ConsentRecord.Status.GRANTED
            and not self.in_force
        )


def consent_state_for_profile(*, profile_id: int, at: datetime | None = None) -> list[PurposeState]:
    """Every active purpose, and any other the person decided on, with the latest decision."""
    moment = at or timezone.now()
    latest = {
        record.purpose_id: record
        for record in _without_newer(ConsentRecord.objects.filter(profile_id=profile_id))
        .select_related("wording")
        .order_by()
    }
    purposes = purpose_list().filter(Q(is_active=True) | Q(pk__in=list(latest)))
    return [
        PurposeState(
            purpose=purpose,
            record=latest.get(purpose.pk),
            in_force=consent_in_force(record=latest.get(purpose.pk), at=moment),
        )
        for purpose in purposes
    ]


@dataclass(frozen=True)
class PurposeHistory:
    """A purpose, the person's state for it now, and every decision, newest first."""

    state: PurposeState
    records: list[ConsentRecord]


def consent_history_for_profile(*, profile_id: int) -> list[PurposeHistory]:
    """Per purpose: the current state and the whole ledger with its proof (the 360° page)."""
    records: dict[int, list[ConsentRecord]] = {}
    for record in (
        ConsentRecord.objects.filter(profile_id=profile_id)
        .select_related("source", "wording", "recorded_by")
        .order_by("-id")
    ):
        records.setdefault(record.purpose_id, []).append(record)
    return [
        PurposeHistory(state=state, records=records.get(state.purpose.pk, []))
        for state in consent_state_for_profile(profile_id=profile_id)
    ]


def contactable_records(*, purpose: Purpose, at: datetime | None = None) -> QuerySet:
    """Ledger rows that are a profile's latest decision for `purpose` and an unexpired grant.

    The profile's status is not checked: for composing inside a query that already keeps
    active profiles only, e.g. `Exists(contactable_records(...).filter(profile_id=OuterRef("pk")))`.
    """
    records = ConsentRecord.objects.filter(purpose_id=purpose.pk)
    newer = ConsentRecord.objects.filter(
        profile_id=OuterRef("profile_id"), purpose_id=purpose.pk, id__gt=OuterRef("id")
    )
    if at is not None:
        records = records.filter(recorded_at__lte=at)
        newer = newer.filter(recorded_at__lte=at)
    moment = at or timezone.now()
    return (
        records.filter(status=ConsentRecord.Status.GRANTED)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=moment))
        .filter(~Exists(newer))
        .order_by()
    )


def contactable_profile_ids(*, purpose: Purpose, at: datetime | None = None) -> QuerySet:
    """Profile ids whose latest decision is an unexpired grant, and whose profile is active.

    One SQL statement (a NOT EXISTS anti-join) that composes inside other queries:
    `Profile.objects.filter(pk__in=contactable_profile_ids(purpose=p))`. With `at`, the
    ledger as it stood at that moment.
    """
    return (
        contactable_records(purpose=purpose, at=at)
        .filter(profile__status="active")
        .values_list("profile_id", flat=True)
    )


def purpose_list() -> QuerySet[Purpose]:
    """Purposes by name, each with its latest wording's number and text (one query)."""
    latest = PurposeVersion.objects.filter(purpose_id=OuterRef("pk")).order_by("-version")
    return Purpose.objects.annotate(
        current_version=Subquery(latest.values("version")[:1]),
        current_text=Subquery(latest.values("text")[:1]),
    ).order_by("name", "pk")


def purpose_current_wording(*, purpose: Purpose) -> PurposeVersion | None:
    """The wording people see now: the purpose's highest version."""
    return PurposeVersion.objects.filter(purpose_id=purpose.pk).order_by("-version").first()


def purpose_by_code(*, code: str) -> Purpose | None:
    """The purpose forms and the API call by this code, or None."""
    return Purpose.objects.filter(code=code).first()


def consent_records_list() -> QuerySet[ConsentRecord]:
    """The ledger, newest first, with what a listing shows joined in."""
    return ConsentRecord.objects.select_related("purpose", "wording", "recorded_by").order_by("-id")


def consent_profile_language(*, profile_id: int) -> str:
    """The language stated on a person's profile ("" when none): their pages and emails."""
    profile_model = cast("type[Model]", ConsentRecord._meta.get_field("profile").related_model)
    found = profile_model._default_manager.filter(pk=profile_id).values_list("language", flat=True)
    return found.first() or ""


def consent_profile_id(*, profile_id: int, lock: bool = False) -> int:
    """The profile a person's decisions go to (merges followed); an erased one is refused.

    With `lock`, the profile row is locked (FOR NO KEY UPDATE, inside a transaction): this
    serialises decisions about one person, and ingestion takes the same row lock first.
    """
    # The ledger's foreign key names the model: consent imports nothing from profiles.
    # (A class once the apps are loaded; django-stubs also allows the string "self".)
    profile_model = cast("type[Model]", ConsentRecord._meta.get_field("profile").related_model)
    profiles = profile_model._default_manager.all()
    if lock:
        profiles = profiles.select_for_update(no_key=True)
    current = profile_id
    for _ in range(MAX_MERGE_HOPS):
        row = profiles.filter(pk=current).values_list("status", "merged_into_id").first()
        if row is None:
            break
        status, merged_into = row
        if status == "merged" and merged_into:
            current = merged_into
            continue
        if status == "erased":
            raise ProfileUnavailable(
                gettext("This profile was erased."),
                fields={"profile": [gettext("This profile was erased.")]},
            )
        return current
    raise ProfileNotFound(
        gettext("No profile with this id."),
        fields={"profile": [gettext("No profile with this id.")]},
    )


def consent_confirmation_request(*, token: str) -> ConsentRecord:
    """The pending request a confirmation link is about; raises when the link is unusable."""
    record = (
        ConsentRecord.objects.select_related("purpose", "wording")
        .filter(
            pk=confirm_token_read(token=token), status=ConsentRecord.Status.PENDING_CONFIRMATION
        )
        .first()
    )
    if record is None:
        raise InvalidLink(gettext("This link is not valid."))
    return record


def purpose_wordings(*, codes: list[str]) -> dict[str, PurposeVersion | None]:
    """For each active purpose among `codes`: its current wording (None if it has none)."""
    purposes = {
        purpose.pk: purpose.code
        for purpose in Purpose.objects.filter(code__in=codes, is_active=True)
    }
    found: dict[str, PurposeVersion | None] = dict.fromkeys(purposes.values())
    for version in PurposeVersion.objects.filter(purpose_id__in=purposes).order_by("version"):
        found[purposes[version.purpose_id]] = version  # the highest version wins
    return found


def suppressed_digests(*, digests: Iterable[str]) -> set[str]:
    """Which of these identifier digests are suppressed now (one query)."""
    wanted = set(digests)
    if not wanted:
        return set()
    return set(
        Suppression.objects.filter(digest__in=wanted, lifted_at__isnull=True).values_list(
            "digest", flat=True
        )
    )
