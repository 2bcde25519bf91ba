"""What the profiles app holds about a person, for data-subject requests and retention.

Registered in `ProfilesConfig.ready()` with the consent app's registry. A person is a
surviving profile and every merged tombstone pointing at it.

Erasure keeps the profile rows (other apps' rows point at them) but blanks every
personal field and marks them erased; identities and field provenance are deleted;
events are folded into `EventAggregate` counts (day, type, name, source) and deleted;
audit rows stay (they name fields, never values); admin history entries lose their
description of the profile.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from consent.registry import Located, PersonData
from core.counts import counts_add
from profiles.fields import EVENT_FIELDS, PROFILE_FIELDS
from profiles.models import (
    DataQualityIssue,
    Event,
    EventAggregate,
    FieldProvenance,
    Identity,
    IdentityConflict,
    Profile,
    ProfileAudit,
    ProfileMerge,
)
from profiles.normalise import email_key, normalise_email, normalise_name, normalise_phone

MAX_MERGE_DEPTH = 10
# What an erased profile keeps: its id, status, stage and dates (no person in them).
BLANK_FIELDS: dict[str, Any] = {
    **{name: "" for name in PROFILE_FIELDS if name != "date_of_birth"},
    "job_function": "",
    "date_of_birth": None,
    "traits": {},
    "quality_score": None,
}
SUPPRESSED_KINDS = (Identity.Kind.EMAIL, Identity.Kind.PHONE)
RECTIFIABLE = frozenset(PROFILE_FIELDS) - {"date_of_birth"}


def person_profile_ids(profile_ids: Sequence[int]) -> list[int]:
    """The given profiles, the survivors they were merged into, and every tombstone of those."""
    found = set(profile_ids)
    for _depth in range(MAX_MERGE_DEPTH):
        survivors = set(
            Profile.objects.filter(pk__in=found, merged_into__isnull=False).values_list(
                "merged_into_id", flat=True
            )
        )
        absorbed = set(
            Profile.objects.filter(merged_into_id__in=found).values_list("pk", flat=True)
        )
        grown = found | survivors | absorbed
        if grown == found:
            break
        found = grown
    return sorted(found)


def profiles_locate(email: str, phone: str) -> Located:
    """The person behind an email and/or phone, and their normalised identifiers."""
    wanted: list[tuple[str, str]] = []
    normalised_email = normalise_email(email) if email else None
    if normalised_email is not None and normalised_email.ok:
        # The address as given (the profile's field) and the mailbox (its identity).
        wanted.append((Identity.Kind.EMAIL, normalised_email.value))
        if email_key(normalised_email.value) != normalised_email.value:
            wanted.append((Identity.Kind.EMAIL, email_key(normalised_email.value)))
    normalised_phone = normalise_phone(phone) if phone else None
    if normalised_phone is not None and normalised_phone.ok:
        wanted.append((Identity.Kind.PHONE, normalised_phone.value))
    if not wanted:
        return Located(profile_ids=[], identifiers=[])
    direct: set[int] = set()
    for kind, value in wanted:
        direct.update(
            Identity.objects.filter(kind=kind, namespace="", value=value).values_list(
                "profile_id", flat=True
            )
        )
        direct.update(Profile.objects.filter(**{kind: value}).values_list("pk", flat=True))
    ids = person_profile_ids(sorted(direct)) if direct else []
    held = Identity.objects.filter(profile_id__in=ids, kind__in=SUPPRESSED_KINDS).values_list(
        "kind", "value"
    )
    identifiers = sorted(set(wanted) | {(kind, value) for kind, value in held})
    return Located(profile_ids=ids, identifiers=identifiers)


def profiles_export(profile_ids: Sequence[int]) -> Mapping[str, Any]:
    ids = list(profile_ids)
    profiles = list(Profile.objects.filter(pk__in=ids).order_by("pk").values())
    return {
        "profiles": profiles,
        "identities": list(
            Identity.objects.filter(profile_id__in=ids)
            .order_by("pk")
            .values("profile_id", "kind", "namespace", "value", "source__slug", "created_at")
        ),
        "provenance": list(
            FieldProvenance.objects.filter(profile_id__in=ids)
            .order_by("pk")
            .values("profile_id", "field", "value", "source__slug", "observed_at")
        ),
        "events": list(
            Event.objects.filter(profile_id__in=ids)
            .order_by("occurred_at", "pk")
            .values("profile_id", "source__slug", *EVENT_FIELDS)
        ),
        "audit": list(
            ProfileAudit.objects.filter(profile_id__in=ids)
            .order_by("pk")
            .values("profile_id", "action", "fields", "source__slug", "at")
        ),
    }


def _fold_events(ids: list[int]) -> int:
    """Add the profiles' events to the anonymous daily counts, in one upsert."""
    groups = list(
        Event.objects.filter(profile_id__in=ids)
        .annotate(day=TruncDate("occurred_at"))
        .values("day", "type", "name", "source_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    return counts_add(
        model=EventAggregate,
        keys=("day", "type", "name", "source_id"),
        rows=[{**group, "count": group["n"]} for group in groups],
    )


def person_lock(profile_ids: Sequence[int]) -> list[int]:
    """Lock the person's profile rows (survivor and tombstones) in id order; their ids.

    The lock ingestion takes, in the same order: a batch writing to these people finishes
    first (and its rows are then erased) or waits for the erasure.
    """
    ids = person_profile_ids(profile_ids)
    list(Profile.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk"))
    return ids


def person_identifier_keys(profile_ids: Sequence[int]) -> set[tuple[str, str, str]]:
    """The (kind, namespace, value) of every identity of these profiles."""
    return set(
        Identity.objects.filter(profile_id__in=profile_ids).values_list(
            "kind", "namespace", "value"
        )
    )


def profiles_erase(profile_ids: Sequence[int]) -> int:
    ids = person_lock(profile_ids)
    folded = _fold_events(ids)
    Event.objects.filter(profile_id__in=ids).delete()
    identities, _ = Identity.objects.filter(profile_id__in=ids).delete()
    provenance, _ = FieldProvenance.objects.filter(profile_id__in=ids).delete()
    # Quality issues may carry a suggested address, conflicts a masked value, and merge
    # snapshots the field values a merge replaced (undo of an erased person is refused).
    DataQualityIssue.objects.filter(profile_id__in=ids).delete()
    IdentityConflict.objects.filter(Q(profile_id__in=ids) | Q(other_profile_id__in=ids)).delete()
    ProfileMerge.objects.filter(Q(survivor_id__in=ids) | Q(absorbed_id__in=ids)).update(
        snapshot={"erased": True}
    )
    profiles = Profile.objects.filter(pk__in=ids).update(
        status=Profile.Status.ERASED,
        merged_into=None,
        updated_at=timezone.now(),
        **BLANK_FIELDS,
    )
    ProfileAudit.objects.bulk_create(
        [ProfileAudit(profile_id=pk, action="erased", fields=sorted(BLANK_FIELDS)) for pk in ids]
    )
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Profile),
        object_id__in=[str(pk) for pk in ids],
    ).update(object_repr="(erased)", change_message="")
    return folded + identities + provenance + profiles


def profiles_restrict(profile_ids: Sequence[int], restricted: bool) -> int:
    """Restricted profiles stay stored but leave segments and sending (not `active`)."""
    before, after = (
        (Profile.Status.ACTIVE, Profile.Status.RESTRICTED)
        if restricted
        else (Profile.Status.RESTRICTED, Profile.Status.ACTIVE)
    )
    ids = list(
        Profile.objects.filter(pk__in=profile_ids, status=before).values_list("pk", flat=True)
    )
    Profile.objects.filter(pk__in=ids).update(status=after, updated_at=timezone.now())
    ProfileAudit.objects.bulk_create(
        [ProfileAudit(profile_id=pk, action=str(after), fields=["status"]) for pk in ids]
    )
    return len(ids)


def _rectified(name: str, raw: str) -> str:
    if name == "email":
        value = normalise_email(raw)
    elif name == "phone":
        value = normalise_phone(raw)
    elif name in ("first_name", "last_name"):
        return normalise_name(raw)
    else:
        return raw.strip()
    if not value.ok:
        raise ValueError(name)
    return value.value


def profiles_rectify(
    profile_ids: Sequence[int], changes: Mapping[str, Any], actor: Any
) -> list[str]:
    """Correct fields of the surviving profile; the old values' provenance is dropped."""
    from consent.errors import InvalidRequest

    unknown = sorted(set(changes) - RECTIFIABLE)
    if unknown:
        message = f"Not a correctable field: {', '.join(unknown)}."
        raise InvalidRequest(message, fields={"changes": [message]})
    values = {}
    for name, raw in changes.items():
        try:
            values[name] = _rectified(name, str(raw))
        except ValueError:
            message = f"Not a valid {name}."
            raise InvalidRequest(message, fields={"changes": [message]}) from None
    survivors = Profile.objects.filter(
        pk__in=profile_ids, status__in=[Profile.Status.ACTIVE, Profile.Status.RESTRICTED]
    ).order_by("pk")
    changed: set[str] = set()
    for profile in survivors.select_for_update():
        fields = [name for name, value in values.items() if getattr(profile, name) != value]
        for name in fields:
            setattr(profile, name, values[name])
        if fields:
            profile.save(update_fields=[*fields, "updated_at"])
            FieldProvenance.objects.filter(profile=profile, field__in=fields).delete()
            ProfileAudit.objects.create(
                profile=profile, action="rectified", fields=sorted(fields), actor=actor
            )
            changed.update(fields)
    return sorted(changed)


PROFILES_PERSON_DATA = PersonData(
    app="profiles",
    export=profiles_export,
    erase=profiles_erase,
    locate=profiles_locate,
    restrict=profiles_restrict,
    rectify=profiles_rectify,
    label=_("Profiles"),
    labels={
        "profiles": _("profiles"),
        "identities": _("identities"),
        "provenance": _("field sources"),
        "events": _("events"),
        "audit": _("audit entries"),
    },
)
