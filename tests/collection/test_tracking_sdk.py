"""The official Segment Python SDK, unmodified, against our /v1 API on a live server."""

from __future__ import annotations

from typing import Any

import pytest
from segment.analytics import Client, request
from segment.analytics.request import APIError

from profiles.models import Event, Profile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _close_sdk_connections() -> Any:
    """The SDK keeps HTTP connections alive in a module-wide session; a live-server thread
    (and its database connection) would outlive the test, and the test database with it."""
    yield
    request._session.close()


@pytest.fixture
def backend(make_source: Any) -> tuple[Any, str]:
    return make_source("Backend", kind="api")


def _send_identify_track_page(client: Client) -> None:
    client.identify("u-sdk", {"email": "Grace@Example.org", "firstName": "Grace", "plan": "pro"})
    client.track("u-sdk", "Report Downloaded", {"format": "pdf"})
    client.page("u-sdk", category="Docs", name="Install", properties={"url": "https://x.org/i"})


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_the_sdk_in_sync_mode_lands_identify_track_and_page(
    live_server: Any, backend: tuple[Any, str], compress: bool
) -> None:
    source, write_key = backend
    client = Client(write_key=write_key, host=live_server.url, sync_mode=True, gzip=compress)

    _send_identify_track_page(client)

    profile = Profile.objects.get()
    assert (profile.email, profile.first_name, profile.traits) == (
        "grace@example.org",
        "Grace",
        {"plan": "pro"},
    )
    events = list(
        Event.objects.filter(profile=profile, source=source)
        .order_by("id")
        .values_list("type", "name", "properties")
    )
    assert events == [
        ("identify", "", {}),
        ("track", "Report Downloaded", {"format": "pdf"}),
        ("page", "Install", {"url": "https://x.org/i", "category": "Docs"}),
    ]
    library = Event.objects.filter(type="track").get().context["library"]
    assert library["name"] == "analytics-python"


def test_the_sdk_queue_flushes_one_batch(live_server: Any, backend: tuple[Any, str]) -> None:
    _, write_key = backend
    errors: list[Any] = []
    client = Client(
        write_key=write_key,
        host=live_server.url,
        on_error=lambda error, batch: errors.append(error),
        upload_interval=0.05,
    )

    _send_identify_track_page(client)
    client.flush()
    client.join()

    assert errors == []
    assert Profile.objects.count() == 1
    assert sorted(Event.objects.values_list("type", flat=True)) == ["identify", "page", "track"]


def test_the_sdk_sees_a_wrong_key_as_a_401(live_server: Any, backend: Any) -> None:
    client = Client(write_key="wk_wrong_key_000000", host=live_server.url, sync_mode=True)

    with pytest.raises(APIError) as raised:
        client.track("u-sdk", "Clicked")

    assert raised.value.status == 401
    assert Event.objects.count() == 0
