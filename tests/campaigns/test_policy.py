"""Quiet hours and frequency caps over daylight-saving changes (property tests)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from campaigns.policy import Caps, QuietHours, cap_reached, quiet_until, recipient_zone

ZONES = st.sampled_from(
    ["Europe/Paris", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Santiago"]
)
# Around the 2026 and 2027 changes of both hemispheres, minute by minute.
ANY_MOMENT = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
# Within a day and a half of a change in Europe, North America, Australia or Chile.
CHANGES = [
    datetime(2026, 3, 8, 7, tzinfo=UTC),
    datetime(2026, 3, 29, 1, tzinfo=UTC),
    datetime(2026, 4, 4, 16, tzinfo=UTC),
    datetime(2026, 4, 5, 3, tzinfo=UTC),
    datetime(2026, 9, 6, 4, tzinfo=UTC),
    datetime(2026, 10, 3, 16, tzinfo=UTC),
    datetime(2026, 10, 25, 1, tzinfo=UTC),
    datetime(2026, 11, 1, 6, tzinfo=UTC),
]
NEAR_A_CHANGE = st.builds(
    lambda change, minutes: change + timedelta(minutes=minutes),
    st.sampled_from(CHANGES),
    st.integers(-36 * 60, 36 * 60),
)
MOMENTS = st.one_of(ANY_MOMENT, NEAR_A_CHANGE)
WINDOWS = st.tuples(
    st.integers(0, 23), st.sampled_from([0, 30]), st.integers(0, 23), st.sampled_from([0, 30])
).map(lambda t: QuietHours(time(t[0], t[1]), time(t[2], t[3])))


@given(now=MOMENTS, zone=ZONES, hours=WINDOWS)
def test_a_message_held_by_quiet_hours_goes_out_when_they_end(
    now: datetime, zone: str, hours: QuietHours
) -> None:
    tz = ZoneInfo(zone)
    until = quiet_until(now=now, zone=tz, hours=hours)
    if until is None:
        assert not hours.contains(now.astimezone(tz).time())
        return
    assert hours.contains(now.astimezone(tz).time())
    assert now < until <= now + timedelta(hours=26)
    assert not hours.contains(until.astimezone(tz).time())
    # Nothing earlier would do: a minute before the end is still quiet (or before `now`).
    earlier = until - timedelta(minutes=1)
    assert earlier < now or hours.contains(earlier.astimezone(tz).time())


@given(
    now=MOMENTS,
    offsets=st.lists(st.integers(0, 60 * 24 * 10), max_size=20),
    per_day=st.integers(1, 4),
    per_week=st.integers(1, 10),
)
def test_a_cap_admits_a_message_only_below_both_rolling_counts(
    now: datetime, offsets: list[int], per_day: int, per_week: int
) -> None:
    sent = [now - timedelta(minutes=m) for m in offsets]
    reached = cap_reached(sent_at=sent, now=now, caps=Caps(per_day=per_day, per_week=per_week))
    in_day = sum(1 for s in sent if s > now - timedelta(hours=24))
    in_week = sum(1 for s in sent if s > now - timedelta(hours=168))
    assert reached == (in_day >= per_day or in_week >= per_week)


def test_the_zone_is_the_profiles_else_its_countrys_else_the_organisations() -> None:
    assert recipient_zone(timezone="America/New_York", country="FR").key == "America/New_York"
    assert recipient_zone(timezone="", country="JP").key == "Asia/Tokyo"
    assert recipient_zone(timezone="Not/AZone", country="").key == "Europe/Paris"


def test_quiet_hours_end_at_the_first_instant_after_a_spring_forward_gap() -> None:
    # 01:00-02:30 in Paris on 29 March 2026: 02:30 does not exist that night.
    hours = QuietHours(time(1, 0), time(2, 30))
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET

    until = quiet_until(now=now, zone=ZoneInfo("Europe/Paris"), hours=hours)

    assert until == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)  # 03:00 CEST, the jump
