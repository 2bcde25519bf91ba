"""Erasure racing ingestion on PostgreSQL: a batch never writes to an erased profile."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import transaction

from consent.services import dsar_create, dsar_execute, dsar_verify, person_erase
from profiles.models import Event, FieldProvenance, Identity, Profile
from profiles.services import Message, ingest_messages
from tests.consent.gdpr_helpers import ADA, ingest_person
from tests.helpers import in_parallel, postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]


def _race(erase: Any, message: Message, source: Any) -> tuple[list[BaseException], Any]:
    """Erase in one thread; meanwhile a batch looks the person up, then waits for the lock."""
    erasing = threading.Event()
    outcome: list[Any] = []

    def work(n: int) -> None:
        if n == 0:
            with transaction.atomic():
                erase()
                erasing.set()
                # The batch finds the identifiers (not yet deleted for it), then waits
                # for the profile's row lock until this commits.
                time.sleep(1.0)
            return
        assert erasing.wait(timeout=30)
        outcome.append(ingest_messages(source=source, messages=[message]).results[0])

    errors = in_parallel(2, work)
    return errors, outcome[0] if outcome else None


def _assert_erased(profile_id: int) -> None:
    profile = Profile.objects.get(pk=profile_id)
    assert (profile.status, profile.email, profile.first_name) == ("erased", "", "")
    assert Identity.objects.filter(profile_id=profile_id).count() == 0
    assert Event.objects.filter(profile_id=profile_id).count() == 0
    assert FieldProvenance.objects.filter(profile_id=profile_id).count() == 0


def test_a_batch_that_waited_for_an_erasure_is_rejected_by_the_suppression(
    web_form: Any,
) -> None:
    person = ingest_person(web_form, message_id="m1")
    request = dsar_verify(
        request=dsar_create(kind="erasure", email=ADA["email"]), method="reply", actor=None
    )
    late = Message(
        type="identify",
        message_id="late",
        user_id="user-m1",
        traits={"email": ADA["email"], "firstName": "Ada"},
    )

    errors, result = _race(lambda: dsar_execute(request=request, actor=None), late, web_form)

    assert errors == []
    assert (result.status, list(result.errors)) == ("error", ["suppressed"])
    _assert_erased(person.pk)
    assert Profile.objects.count() == 1
    assert Event.objects.count() == 0


def test_a_batch_that_waited_for_an_unsuppressed_erasure_makes_a_fresh_profile(
    web_form: Any,
) -> None:
    person = ingest_person(web_form, message_id="m1")
    late = Message(
        type="identify", message_id="late", user_id="user-m1", traits={"firstName": "Ada"}
    )

    errors, result = _race(lambda: person_erase(profile_ids=[person.pk]), late, web_form)

    assert errors == []
    assert result.status == "ok"
    assert result.profile_id != person.pk
    _assert_erased(person.pk)
    fresh = Profile.objects.get(pk=result.profile_id)
    assert (fresh.status, fresh.first_name) == ("active", "Ada")
    assert list(Identity.objects.values_list("profile_id", "kind", "value")) == [
        (fresh.pk, "user_id", "user-m1")
    ]
