"""Concurrent decisions about one person: the profile row lock makes exactly one new."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest
from django.db import connection

from consent.models import ConsentRecord, Purpose
from consent.services import consent_record
from profiles.models import Profile
from tests.helpers import postgres_only

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

THREADS = 4


def _at_once(work: Any) -> list[Any]:
    """Run `work` in THREADS threads released together; their results (or errors)."""
    barrier = threading.Barrier(THREADS)
    results: list[Any] = [None] * THREADS

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as error:  # reported by the test's asserts
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_simultaneous_identical_grants_append_one_record(ada: Profile, newsletter: Purpose) -> None:
    results = _at_once(
        lambda: consent_record(
            profile_id=ada.pk,
            purpose=newsletter,
            status="granted",
            method="form",
            proof={"form": "signup"},
        )
    )

    assert sorted(created for _, created in results) == [False, False, False, True]
    assert ConsentRecord.objects.filter(profile=ada, purpose=newsletter).count() == 1


def test_simultaneous_opposite_decisions_leave_a_consistent_ledger(
    ada: Profile, newsletter: Purpose
) -> None:
    statuses = iter(["granted", "withdrawn", "granted", "withdrawn"])
    lock = threading.Lock()

    def decide() -> tuple[ConsentRecord, bool]:
        with lock:
            status = next(statuses)
        return consent_record(
            profile_id=ada.pk, purpose=newsletter, status=status, method="api", proof={"a": 1}
        )

    results = _at_once(decide)

    rows = list(
        ConsentRecord.objects.filter(profile=ada).order_by("id").values_list("status", flat=True)
    )
    assert all(isinstance(result, tuple) for result in results)
    # Serialised: no two neighbours repeat, and each created record is in the ledger once.
    assert all(before != after for before, after in itertools.pairwise(rows))
    assert len(rows) == sum(created for _, created in results)
