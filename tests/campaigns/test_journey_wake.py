"""New events wake the log's readers at once: a tracked event that lets a person into a
segment reaches the journey's send without waiting for beat's ticks."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from cdp_site.celery import app as celery_app
from collection.tasks import intake_drain_task
from profiles.models import Profile
from profiles.services import source_create
from segments.services import segment_create
from segments.services.cursor import segments_catch_up
from tests.campaigns.conftest import grant
from tests.campaigns.journeys import live_journey


@pytest.fixture
def eager_celery(settings: Any) -> None:
    """Tasks run where they are queued: the wake-ups' chain runs in this process. Through
    the Django setting, which Celery reads on each use and pytest-django puts back (a value
    set on the app's conf would stick and hide later tests' settings)."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert celery_app.conf.task_always_eager


def _post(client: Client, key: str, path: str, body: dict[str, Any]) -> None:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    response = client.post(
        path, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 200, response.content


@pytest.mark.django_db(transaction=True)
def test_a_tracked_event_reaches_the_journeys_send_through_the_wake_ups(
    client: Client,
    settings: Any,
    newsletter: Any,
    template: Any,
    smtp_sink: Any,
    eager_celery: None,
) -> None:
    settings.CDP_INTAKE_MODE = "buffered"
    _, key = source_create(name="Website", kind="api")
    _post(client, key, "/v1/identify", {"userId": "ada", "traits": {"email": "ada@example.org"}})
    intake_drain_task()
    ada = Profile.objects.get(email="ada@example.org")
    grant(ada, newsletter)
    segment = segment_create(
        name="Signalled", rule={"event": {"name": "Signal"}, "op": "at_least", "count": 1}
    )
    segments_catch_up()  # the segments' cursor is where the log ends
    journey = live_journey(
        {
            "trigger": {"type": "segment_entered", "segment": segment.pk},
            "start": "welcome",
            "steps": {
                "welcome": {"type": "send", "template": template.pk, "next": "done"},
                "done": {"type": "exit"},
            },
        },
        newsletter,
    )
    cache.delete_many(["wake:segments-catch-up", "wake:journeys-tick:intake"])
    cache.delete("wake:journeys-tick:segments")

    _post(client, key, "/v1/track", {"userId": "ada", "event": "Signal"})
    intake_drain_task()  # what the request schedules; the rest follows from the wake-ups

    assert [m["To"] for m in smtp_sink.messages] == ["ada@example.org"]
    assert journey.enrolments.get().status == "completed"
