"""Date triggers: a date in the person's data (+ N days, or every year) at a local time.

`{"type": "date", "field": "date_of_birth", "yearly": true, "days": 0, "time": "09:00"}`
enrols each person on the day their date (plus `days`) comes, at `time` in their time zone
(the profile's, else its country's, else the organisation's: campaigns/policy.py). The
date comes from a profile date field, a trait (`"trait": "renewal_on"`, text starting
YYYY-MM-DD) or the person's latest matching event (`"event": {"name": "Order Completed"}`).

Each tick asks, for every time zone, which local day's firing time has come (and not
more than CATCH_UP ago, nor before the journey was activated): people of the zones whose
time has come and whose date falls on that day are enrolled in one INSERT ... SELECT,
each row carrying its occasion (the local day it fired for). A unique index on
(journey, profile, occasion) makes a second tick, or a second beat, enrol nobody twice;
the one-running rule and the re-entry policy hold as for every trigger.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytz
from django.db.models import Case, DateField, Exists, OuterRef, Q, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Substr
from django.db.models.lookups import Exact, In

from campaigns import policy
from profiles.models import Event, Profile
from segments.compiler import event_filter

DATE_FIELDS = ("date_of_birth", "created_at", "first_seen_at", "last_seen_at")
CATCH_UP = timedelta(hours=12)  # a tick outage longer than this skips the day's occasion


@functools.lru_cache(maxsize=1)
def _zone_names() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@functools.lru_cache(maxsize=1)
def _country_zones() -> dict[str, str]:
    """Each country's zone as policy.recipient_zone picks it (the first listed)."""
    return {
        code: names[0]
        for code, names in pytz.country_timezones.items()
        if names and names[0] in _zone_names()  # else policy falls back to the organisation's
    }


def fire_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The first instant of `day` whose local time is `at` (at the jump if skipped)."""
    midnight = datetime.combine(day, time(0), tzinfo=zone).astimezone(ZoneInfo("UTC"))
    return policy.next_local_time(now=midnight - timedelta(seconds=1), zone=zone, at=at)


def _occasions(*, now: datetime, at: time, since: datetime | None) -> dict[date, list[str]]:
    """Zone names by the local day whose firing time has come in them (one day per zone)."""
    found: dict[date, list[str]] = {}
    for name in _zone_names():
        zone = _zone(name)
        today = now.astimezone(zone).date()
        for day in (today, today - timedelta(days=1)):
            instant = fire_instant(day, at, zone)
            if instant <= now and now - instant <= CATCH_UP and (since is None or instant >= since):
                found.setdefault(day, []).append(name)
                break
    return found


def _people_of_zones(names: list[str]) -> Q:
    """Profiles whose resolved time zone is one of `names` (policy.recipient_zone in SQL)."""
    chosen = set(names)
    valid = _zone_names()
    countries = _country_zones()
    no_zone = ~Q(timezone__in=valid)
    where = Q(timezone__in=sorted(chosen))
    mine = sorted(code for code, zone in countries.items() if zone in chosen)
    if mine:
        where |= no_zone & Q(country__in=mine + [code.lower() for code in mine])
    organisation = policy.recipient_zone(timezone="", country="")
    if str(organisation.key) in chosen:
        known = sorted(countries) + [code.lower() for code in countries]
        where |= no_zone & ~Q(country__in=known)
    return where


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    """A calendar day in the organisation's time zone, as instants (for date-times)."""
    zone = policy.recipient_zone(timezone="", country="")
    return (
        datetime.combine(day, time(0), tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
    )


def _dates_on(trigger: dict[str, Any], source: date) -> Q:
    """Profiles whose date is `source` (or its anniversary, for a yearly trigger)."""
    yearly = bool(trigger.get("yearly"))
    days = [source]
    if yearly and source.month == 2 and source.day == 28:
        try:
            date(source.year, 2, 29)
        except ValueError:
            days.append(date(2000, 2, 29))  # a 29 February comes on the 28th in other years
    if "trait" in trigger:
        value = KT(f"traits__{trigger['trait']}")
        if yearly:
            return Q(In(Substr(value, 6, 5), [_md(d) for d in days]))
        return Q(Exact(Substr(value, 1, 10), source.isoformat()))
    if "field" in trigger:
        name = trigger["field"]
        if name == "date_of_birth":
            if yearly:
                where = Q()
                for d in days:
                    where |= Q(date_of_birth__month=d.month, date_of_birth__day=d.day)
                return where
            return Q(date_of_birth=source)
        low, high = _day_bounds(source)
        return Q(**{f"{name}__gte": low, f"{name}__lt": high})
    spec = event_filter(trigger["event"], path="trigger.event")
    low, high = _day_bounds(source)
    that_day = Event.objects.filter(spec, occurred_at__gte=low, occurred_at__lt=high)
    later = Event.objects.filter(spec, profile_id=OuterRef("pk"), occurred_at__gte=high)
    return Q(pk__in=that_day.values("profile_id")) & ~Q(Exists(later))


def _md(day: date) -> str:
    return f"{day.month:02d}-{day.day:02d}"


def due_people(
    trigger: dict[str, Any], *, journey_id: int, now: datetime, since: datetime | None
) -> tuple[Q, Any] | None:
    """The people a date trigger enrols now and the occasion of each (an expression).

    None when no zone's firing time has come. Both go into one INSERT ... SELECT; those
    already enrolled for the occasion are left out before (the unique index would too).
    """
    from campaigns.models import Enrolment

    at = time.fromisoformat(trigger["time"])
    occasions = _occasions(now=now, at=at, since=since)
    if not occasions:
        return None
    offset = timedelta(days=int(trigger.get("days", 0)))
    where = Q(pk__in=[])
    whens = []
    for day, names in sorted(occasions.items()):
        taken = Enrolment.objects.filter(
            journey_id=journey_id, profile_id=OuterRef("pk"), occasion=day
        )
        mine = _people_of_zones(names) & _dates_on(trigger, day - offset) & ~Q(Exists(taken))
        where |= mine
        whens.append(When(mine, then=Value(day)))
    return where, Case(*whens, default=Value(None), output_field=DateField())


def next_occasion(
    trigger: dict[str, Any], *, profile: Profile, now: datetime
) -> tuple[datetime | None, date | None]:
    """When a date trigger would next enrol this person, and the date it reads (simulate)."""
    zone = policy.recipient_zone(timezone=profile.timezone, country=profile.country)
    source = person_date(trigger, profile)
    if source is None:
        return None, None
    at = time.fromisoformat(trigger["time"])
    offset = timedelta(days=int(trigger.get("days", 0)))
    today = now.astimezone(zone).date()
    if not trigger.get("yearly"):
        instant = fire_instant(source + offset, at, zone)
        return (instant if instant > now - CATCH_UP else None), source
    for year in (today.year - 1, today.year, today.year + 1):
        try:
            anniversary = source.replace(year=year)
        except ValueError:
            anniversary = date(year, 2, 28)
        instant = fire_instant(anniversary + offset, at, zone)
        if instant > now:
            return instant, source
    return None, source


def person_date(trigger: dict[str, Any], profile: Profile) -> date | None:
    """The date a date trigger reads for one person (None when missing or unreadable)."""
    if "trait" in trigger:
        raw = (profile.traits or {}).get(trigger["trait"])
        try:
            return date.fromisoformat(str(raw)[:10]) if raw else None
        except ValueError:
            return None
    if "field" in trigger:
        value = getattr(profile, trigger["field"])
        if isinstance(value, datetime):
            return value.astimezone(policy.recipient_zone(timezone="", country="")).date()
        return value if isinstance(value, date) else None
    latest = (
        Event.objects.filter(event_filter(trigger["event"], path="trigger.event"), profile=profile)
        .order_by("-occurred_at")
        .values_list("occurred_at", flat=True)
        .first()
    )
    if latest is None:
        return None
    return latest.astimezone(policy.recipient_zone(timezone="", country="")).date()


__all__ = ["CATCH_UP", "DATE_FIELDS", "due_people", "fire_instant", "next_occasion"]
