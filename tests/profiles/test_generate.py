"""cdp_generate: synthetic people for benchmarks (COPY on PostgreSQL, bulk_create on SQLite)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Min, Q

from consent.models import ConsentRecord, Purpose
from consent.selectors import contactable_profile_ids
from profiles.errors import ProfilesError
from profiles.generate import vocab
from profiles.generate.write import copy_text
from profiles.models import Event, Identity, Profile, Source
from profiles.services.generate import profiles_generate

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


def _batch(first_id: int, last_id: int) -> list[tuple]:
    """What a generated batch says about its people, without their ids."""
    people = Profile.objects.filter(pk__gte=first_id, pk__lte=last_id).order_by("pk")
    return [
        (
            p.status, p.lifecycle_stage, re.sub(r"\.\d+@", "@", p.email), p.first_name,
            p.last_name, p.company, p.job_title, p.job_function, p.address_line, p.postcode,
            p.city, p.country, p.date_of_birth, p.language, p.timezone, p.traits,
            p.first_seen_at, p.last_seen_at, p.quality_score,
            p.merged_into_id - first_id if p.merged_into_id else None,
            [(e.type, e.name, e.properties, e.context, e.utm_source, e.occurred_at)
             for e in p.events.order_by("message_id")],
            [(c.purpose.code, c.status, c.method, c.wording_id, c.recorded_at, c.expires_at)
             for c in p.consent_records.order_by("pk")],
        )
        for p in people
    ]  # fmt: skip


def test_generates_exactly_what_was_asked_for() -> None:
    result = profiles_generate(profiles=300, events=2_000, seed=5, now=NOW)

    source = Source.objects.get(slug="generated")
    assert (result.profiles, result.events) == (300, 2_000)
    assert Profile.objects.count() == 300
    assert Event.objects.filter(source=source).count() == 2_000
    assert Identity.objects.filter(source=source).count() == result.identities
    assert ConsentRecord.objects.filter(source=source).count() == result.consent_records
    # Every profile but a tombstone has one identity: its email, or an anonymous id.
    alive = Profile.objects.exclude(status="merged")
    assert result.identities == alive.count()
    assert Identity.objects.filter(kind="email").count() == alive.exclude(email="").count()
    assert not Profile.objects.annotate(n=Count("identities")).filter(n__gt=1).exists()
    emails = Identity.objects.filter(kind="email").values_list("profile__email", "value")
    assert all(email == value for email, value in emails)
    assert set(Purpose.objects.values_list("code", flat=True)) == {
        "newsletter",
        "offers",
        "sms-reminders",
    }


def test_rows_respect_the_models_rules() -> None:
    profiles_generate(profiles=400, events=3_000, seed=11, now=NOW)

    tombstones = Profile.objects.filter(status="merged")
    assert tombstones.exists()
    assert not tombstones.filter(merged_into__isnull=True).exists()
    assert not tombstones.filter(merged_into__status="merged").exists()
    assert not tombstones.filter(
        Q(identities__isnull=False) | Q(events__isnull=False) | Q(consent_records__isnull=False)
    ).exists()
    assert not Profile.objects.exclude(status="merged").filter(merged_into__isnull=False).exists()
    assert not Profile.objects.exclude(email="").exclude(email__contains="@").exists()
    # Every event within the last year, and the latest one is the person's last_seen_at.
    times = Event.objects.aggregate(first=Min("occurred_at"), last=Max("occurred_at"))
    assert times["first"] >= NOW - timedelta(days=365)
    assert times["last"] <= NOW
    assert not Event.objects.filter(received_at__lt=F("occurred_at")).exists()
    latest = Profile.objects.annotate(latest=Max("events__occurred_at")).exclude(latest=None)
    assert all(p.latest == p.last_seen_at for p in latest)
    assert not Profile.objects.filter(first_seen_at__gt=F("last_seen_at")).exists()
    assert not Profile.objects.exclude(created_at=F("first_seen_at")).exists()
    assert Profile.objects.aggregate(first=Min("first_seen_at"))["first"] >= NOW - timedelta(
        days=730
    )
    # The ledger: forms prove their wording, expiries follow decisions.
    records = ConsentRecord.objects.all()
    assert not records.filter(method__in=["form", "double_opt_in"], wording=None).exists()
    assert not records.filter(expires_at__lte=F("recorded_at")).exists()
    assert set(records.values_list("status", flat=True)) == {
        "granted",
        "withdrawn",
        "pending_confirmation",
    }
    assert records.filter(status="granted", expires_at__lt=NOW).exists()  # some expired
    # Foreign keys point at real rows (PostgreSQL skips their triggers during the COPY).
    profiles = Profile.objects.values("pk")
    assert not Event.objects.exclude(profile_id__in=profiles).exists()
    assert not Identity.objects.exclude(profile_id__in=profiles).exists()
    assert not ConsentRecord.objects.exclude(profile_id__in=profiles).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the COPY path and its skipped foreign-key triggers exist only on PostgreSQL",
)
def test_foreign_key_checks_and_indexes_are_back_after_generating() -> None:
    tables = ["profiles_profile", "profiles_identity", "profiles_event", "consent_consentrecord"]
    indexes_before = _indexes(tables)

    profiles_generate(profiles=20, events=50, seed=1, now=NOW)

    assert _indexes(tables) == indexes_before
    assert "event_type_name_time_idx" in indexes_before
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        assert cursor.fetchone()[0] == "origin"
    source = Source.objects.get(slug="generated")
    with transaction.atomic():
        Event.objects.create(
            profile_id=10**9, source=source, type="track", name="x", message_id="orphan",
            occurred_at=NOW, received_at=NOW,
        )  # fmt: skip
        with pytest.raises(IntegrityError), connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)


def test_the_same_seed_gives_the_same_people_and_appending_clashes_with_nothing() -> None:
    first = profiles_generate(profiles=150, events=900, seed=7, now=NOW)
    ids = sorted(Profile.objects.values_list("pk", flat=True))
    again = profiles_generate(profiles=150, events=900, seed=7, now=NOW)
    other = profiles_generate(profiles=150, events=900, seed=8, now=NOW)

    all_ids = sorted(Profile.objects.values_list("pk", flat=True))
    second_ids, third_ids = all_ids[150:300], all_ids[300:]
    assert first.events == again.events == 900
    assert first.consent_records == again.consent_records
    assert Profile.objects.count() == 450
    assert Event.objects.count() == 2_700
    assert _batch(ids[0], ids[-1]) == _batch(second_ids[0], second_ids[-1])
    assert _batch(ids[0], ids[-1]) != _batch(third_ids[0], third_ids[-1])
    assert other.profiles == 150


def test_distributions_look_like_a_marketing_database() -> None:
    profiles_generate(profiles=2_000, events=10_000, seed=3, now=NOW)

    countries = dict(Profile.objects.values_list("country").annotate(n=Count("pk")))
    assert max(countries, key=countries.get) == "FR"
    assert {"FR", "DE", "GB", "US"} <= set(countries)
    functions = set(Profile.objects.values_list("job_function", flat=True))
    assert {"marketing", "sales", "it", ""} <= functions
    stages = set(Profile.objects.values_list("lifecycle_stage", flat=True))
    assert stages == {"anonymous", "lead", "prospect", "customer", "churned"}
    assert Profile.objects.filter(traits__industry="software").count() > 100
    names = set(Event.objects.values_list("name", flat=True))
    assert {"email_opened", "email_clicked", "whitepaper_download", "purchase"} <= names
    # A power law: the busiest person does far more than the average of 5.
    per_person = Event.objects.values("profile").annotate(n=Count("pk"))
    assert max(row["n"] for row in per_person) > 50
    newsletter = Purpose.objects.get(code="newsletter")
    contactable = contactable_profile_ids(purpose=newsletter, at=NOW).count()
    with_email = Profile.objects.exclude(email="").count()
    assert 0.45 < contactable / with_email < 0.7


def _indexes(tables: list[str]) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables]
        )
        return dict(cursor.fetchall())


def test_command_prints_what_it_made() -> None:
    out = StringIO()

    call_command(
        "cdp_generate", "--profiles", "60", "--events", "240", "--seed", "2",
        "--source-slug", "bench-people", "--no-progress", stdout=out,
    )  # fmt: skip

    assert Source.objects.filter(slug="bench-people").exists()
    assert Profile.objects.count() == 60
    assert Event.objects.count() == 240
    assert "Generated 60 profiles" in out.getvalue()
    assert "240 events" in out.getvalue()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--profiles", "-1"], "profiles: Must be 0 or more."),
        (["--profiles", "0", "--events", "5"], "events: Events need at least one profile."),
        (["--profiles", "5", "--source-slug", "not a slug"], "source_slug: Letters, digits"),
    ],
)
def test_command_refuses_bad_input_and_writes_nothing(arguments: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("cdp_generate", *arguments, "--no-progress", stdout=StringIO())

    assert not Profile.objects.exists()
    assert not Source.objects.exists()


def test_vocabulary_needs_no_copy_escaping() -> None:
    texts = [name for names in vocab.NAMES.values() for part in names for name in part]
    texts += [text for country in vocab.COUNTRIES for city in country[2] for text in city]
    texts += vocab.COMPANIES + vocab.FREE_MAIL_DOMAINS
    texts += [text for title in vocab.JOB_TITLES for text in title[:2]]
    texts += [text for streets in vocab.STREETS.values() for text in streets]
    texts += [name for table in (vocab.INDUSTRIES, vocab.PLANS, vocab.COMPANY_SIZES)
              for name, _ in table]  # fmt: skip

    assert [text for text in texts if copy_text(text) != text or '"' in text] == []


def test_service_names_the_bad_fields() -> None:
    with pytest.raises(ProfilesError) as caught:
        profiles_generate(profiles=-3, events=-1)

    assert caught.value.fields == {
        "profiles": ["Must be 0 or more."],
        "events": ["Must be 0 or more."],
    }
