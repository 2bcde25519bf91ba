"""Right time: quiet hours in the recipient's time zone and frequency caps per channel.

One policy for every sender (broadcasts, journeys) and every channel (email, webhooks to
an SMS gateway or another system), each channel with its own caps and, if set, its own
quiet hours. Transactional messages ignore both; marketing messages wait for quiet hours
to end and are skipped once a person has received the channel's cap in the last 24
hours or 7 days (rolling windows: a daylight-saving change neither lengthens nor
shortens them).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytz
from django.conf import settings

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in local time, when marketing waits: start ≤ t < end (may span midnight)."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """'21:00-08:00' → QuietHours; '' or 'off' → None (no quiet hours)."""
        if text.strip().lower() in ("", "off", "none"):
            return None
        first, _, second = text.partition("-")
        return cls(time.fromisoformat(first.strip()), time.fromisoformat(second.strip()))

    def contains(self, moment: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class Caps:
    per_day: int | None
    per_week: int | None


def quiet_hours(channel: str = "email") -> QuietHours | None:
    """The channel's quiet hours (`CDP_CHANNEL_QUIET_HOURS`), else `CDP_QUIET_HOURS`."""
    own = getattr(settings, "CDP_CHANNEL_QUIET_HOURS", {}).get(channel)
    text = own if own is not None else getattr(settings, "CDP_QUIET_HOURS", "21:00-08:00")
    return QuietHours.parse(text)


def channel_caps(channel: str) -> Caps:
    caps = getattr(settings, "CDP_FREQUENCY_CAPS", {}).get(channel, {})
    return Caps(per_day=caps.get("day"), per_week=caps.get("week"))


@functools.lru_cache(maxsize=512)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def recipient_zone(*, timezone: str, country: str) -> ZoneInfo:
    """The profile's time zone, else its country's (the first listed), else the organisation's."""
    zone = _zone(timezone)
    if zone is None and country:
        names = pytz.country_timezones.get(country.upper(), [])
        zone = _zone(names[0]) if names else None
    if zone is None:
        zone = _zone(getattr(settings, "CDP_ORGANISATION_TIME_ZONE", "Europe/Paris"))
    return zone or ZoneInfo("UTC")


def quiet_until(*, now: datetime, zone: ZoneInfo, hours: QuietHours | None) -> datetime | None:
    """When quiet hours end if `now` falls in them (an aware UTC time), else None.

    The end is the first instant whose local time is at or past the window's end; when a
    daylight-saving jump skips that wall-clock time, the first instant after the jump.
    """
    if hours is None:
        return None
    local = now.astimezone(zone)
    if not hours.contains(local.time()):
        return None
    day = local.date()
    if hours.start > hours.end and local.time() >= hours.start:
        day = day + timedelta(days=1)
    for _ in range(3):
        end = _first_instant_at(datetime.combine(day, hours.end), zone)
        if end > now:
            return end
        day = day + timedelta(days=1)
    return now + DAY  # unreachable for a sane window; never a time in the past


def _first_instant_at(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first UTC instant whose local time in `zone` is at or past the naive `wall` time.

    Usually the wall time itself; when a spring-forward gap skips it, the jump's instant.
    """
    utc = ZoneInfo("UTC")
    before = wall.replace(tzinfo=zone, fold=0).astimezone(utc)
    after = wall.replace(tzinfo=zone, fold=1).astimezone(utc)
    if before.astimezone(zone).replace(tzinfo=None) == wall:
        return min(before, after)  # an autumn repeat: the first of the two
    low, high = min(before, after), max(before, after)
    while high - low > timedelta(seconds=1):  # the jump lies between: bisect to the second
        middle = low + (high - low) / 2
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            high = middle
        else:
            low = middle
    return high.replace(microsecond=0) + (timedelta(seconds=1) if high.microsecond else timedelta())


def cap_reached(*, sent_at: Iterable[datetime], now: datetime, caps: Caps) -> bool:
    """Whether one more message now would exceed a cap, given the person's recent sends."""
    day = week = 0
    for moment in sent_at:
        if moment > now - WEEK:
            week += 1
            if moment > now - DAY:
                day += 1
    return (caps.per_day is not None and day >= caps.per_day) or (
        caps.per_week is not None and week >= caps.per_week
    )


def next_local_time(
    *, now: datetime, zone: ZoneInfo, at: time, weekdays: Iterable[int] = range(7)
) -> datetime:
    """The first instant after `now` whose local time in `zone` is `at` on one of `weekdays`
    (0 is Monday); a wall time skipped by a daylight-saving jump comes at the jump."""
    days = set(weekdays)
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in days:
            continue
        instant = _first_instant_at(datetime.combine(day, at), zone)
        if instant > now:
            return instant
    return now + WEEK  # unreachable with at least one weekday
