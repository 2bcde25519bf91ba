"""The erasure guarantee: afterwards no column of any table holds the person (PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import connection

from consent.services import dsar_create, dsar_execute, dsar_verify
from profiles.models import Profile
from profiles.services import ingest_messages
from profiles.services.messages import Message
from tests.consent.gdpr_helpers import ADA, ingest_person
from tests.helpers import postgres_only

pytestmark = [pytest.mark.django_db, postgres_only]

NEEDLES = ("ada.lovelace@example.org", "+33612345678", "612345678", "Augusta", "Lovelace-Byron")


def tables_holding(needle: str) -> list[str]:
    """Every text, varchar, json and jsonb column of every table in the public schema."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'json', 'jsonb', 'character')"
        )
        columns = cursor.fetchall()
        found = []
        for table, column in columns:
            cursor.execute(
                f'SELECT 1 FROM "{table}" WHERE "{column}"::text ILIKE %s LIMIT 1',  # noqa: S608
                [f"%{needle}%"],
            )
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    return found


def test_after_an_erasure_no_table_holds_the_persons_email_phone_or_names(
    web_form: Any, crm: Any, newsletter: Any, staff_user: Any
) -> None:
    profile = ingest_person(web_form, message_id="m1")
    ingest_messages(
        source=crm,
        messages=[
            Message(
                type="identify",
                message_id="crm-1",
                external_id="C-77",
                traits={**ADA, "company": "Analytical Engines"},
                context={"consent": {"newsletter": True}, "ip": "203.0.113.9"},
            )
        ],
    )
    tombstone = Profile.objects.create(first_name="Augusta", email="ada.lovelace@example.org")
    Profile.objects.filter(pk=tombstone.pk).update(status="merged", merged_into=profile)
    LogEntry.objects.log_actions(
        user_id=staff_user.pk,
        queryset=[Profile.objects.get(pk=profile.pk)],
        action_flag=CHANGE,
        change_message="edited",
        single_object=True,
    )
    assert tables_holding("Augusta")  # the scan sees the person before
    request = dsar_verify(
        request=dsar_create(kind="erasure", email=ADA["email"]), method="email", actor=None
    )

    dsar_execute(request=request, actor=staff_user)

    assert {needle: tables_holding(needle) for needle in NEEDLES} == {
        needle: [] for needle in NEEDLES
    }


def test_erasure_also_clears_merge_snapshots_quality_issues_and_segment_history(
    web_form: Any, crm: Any, staff_user: Any
) -> None:
    from profiles.services import profile_merge
    from segments.services import segment_create, segment_refresh

    profile = ingest_person(web_form, message_id="m1")
    # A second record of her with a mistyped address: a quality issue suggests the fix.
    other = ingest_person(
        crm,
        message_id="m2",
        traits={"email": "augusta.lovelace@gmial.com", "firstName": "Augusta"},
        user_id="",
        anonymous_id="anon-2",
    )
    profile_merge(survivor_id=profile.pk, absorbed_id=other.pk, actor=staff_user, reason="same")
    segment = segment_create(name="Named people", rule={"field": "first_name", "op": "is_set"})
    segment_refresh(segment_id=segment.pk)
    assert tables_holding("gmial")  # the scan sees the merged record before
    request = dsar_verify(
        request=dsar_create(kind="erasure", email=ADA["email"]), method="email", actor=None
    )

    dsar_execute(request=request, actor=staff_user)

    needles = (*NEEDLES, "gmial", "augusta.lovelace")
    assert {needle: tables_holding(needle) for needle in needles} == {
        needle: [] for needle in needles
    }
