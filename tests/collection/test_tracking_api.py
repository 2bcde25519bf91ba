"""The Segment-compatible tracking API (/v1/*) over HTTP, against the real database."""

from __future__ import annotations

import base64
import gzip
import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from collection.api.tracking.serializers import occurred_at
from profiles.models import Event, Identity, Profile, Source
from profiles.services import source_rotate_key
from tests.helpers import postgres_only

pytestmark = pytest.mark.django_db

SITE = "https://www.example.org"


@pytest.fixture
def website(make_source: Any) -> tuple[Source, str]:
    return make_source("Website", kind="web_form", allowed_origins=[SITE])


@pytest.fixture
def key(website: tuple[Source, str]) -> str:
    return website[1]


def basic(write_key: str) -> str:
    return "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()


def post(
    client: Client,
    path: str,
    body: Any,
    *,
    write_key: str | None = None,
    content_type: str = "application/json",
    **headers: Any,
) -> Any:
    """POST `body` (JSON-encoded unless bytes), with Basic auth when a key is given."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    if write_key is not None:
        headers["HTTP_AUTHORIZATION"] = basic(write_key)
    return client.post(path, data=data, content_type=content_type, **headers)


def error(status: int, code: str, message: str, fields: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if fields is not None:
        body["fields"] = fields
    return {"error": body}


# --- the six calls ------------------------------------------------------------------


def test_identify_with_basic_auth_creates_a_profile(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/identify",
        {
            "messageId": "id-1",
            "userId": "u-1",
            "traits": {"email": "Ada@Example.org", "firstName": "Ada", "plan": "pro"},
        },
        write_key=key,
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    profile = Profile.objects.get()
    assert (profile.email, profile.first_name, profile.traits) == (
        "ada@example.org",
        "Ada",
        {"plan": "pro"},
    )
    assert list(Event.objects.values_list("type", "message_id")) == [("identify", "id-1")]


@pytest.mark.parametrize(
    ("locale", "language"), [("fr-CA", "fr"), ("en-US", "en"), ("de-DE", ""), (42, "")]
)
def test_an_identify_gives_a_person_without_a_language_their_browsers(
    client: Client, key: str, locale: Any, language: str
) -> None:
    body = {
        "userId": "u-1",
        "traits": {"email": "ada@example.org"},
        "context": {"locale": locale},
    }

    response = post(client, "/v1/identify", body, write_key=key)

    assert response.status_code == 200
    assert Profile.objects.get().language == language


def test_an_identify_stating_a_language_keeps_it_over_the_browsers(
    client: Client, key: str
) -> None:
    body = {
        "userId": "u-1",
        "traits": {"email": "ada@example.org", "language": "en"},
        "context": {"locale": "fr-FR"},
    }

    post(client, "/v1/identify", body, write_key=key)

    assert Profile.objects.get().language == "en"


def test_track_with_the_write_key_in_the_body(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/track",
        {
            "writeKey": key,
            "anonymousId": "anon-1",
            "event": "Demo Requested",
            "properties": {"plan": "team", "seats": 5},
        },
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert (event.type, event.name, event.properties) == (
        "track",
        "Demo Requested",
        {"plan": "team", "seats": 5},
    )
    assert event.profile.lifecycle_stage == "anonymous"


def test_page_keeps_its_category_in_the_properties(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/page",
        {
            "anonymousId": "anon-2",
            "name": "Pricing",
            "category": "Docs",
            "properties": {"url": "https://www.example.org/pricing"},
        },
        write_key=key,
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert (event.type, event.name, event.properties) == (
        "page",
        "Pricing",
        {"url": "https://www.example.org/pricing", "category": "Docs"},
    )


def test_screen_is_stored_as_a_screen_event(client: Client, key: str) -> None:
    response = post(client, "/v1/screen", {"userId": "u-2", "name": "Settings"}, write_key=key)

    assert response.status_code == 200
    assert list(Event.objects.values_list("type", "name")) == [("screen", "Settings")]


def test_group_sets_the_company_and_keeps_the_group_in_properties(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/group",
        {
            "userId": "u-3",
            "groupId": "g-42",
            "traits": {"name": "Acme", "industry": "Rockets", "employees": 120},
        },
        write_key=key,
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert event.type == "group"
    assert event.properties == {
        "groupId": "g-42",
        "traits": {"name": "Acme", "industry": "Rockets", "employees": 120},
    }
    assert event.profile.company == "Acme"


def test_alias_joins_an_anonymous_history_to_the_user(client: Client, key: str) -> None:
    post(client, "/v1/page", {"anonymousId": "anon-3", "name": "Home"}, write_key=key)
    post(
        client,
        "/v1/identify",
        {"userId": "u-4", "traits": {"email": "u4@example.org"}},
        write_key=key,
    )

    response = post(client, "/v1/alias", {"previousId": "anon-3", "userId": "u-4"}, write_key=key)

    assert response.status_code == 200
    survivor = Profile.objects.get(status="active")
    assert Profile.objects.filter(status="merged", merged_into=survivor).count() == 1
    assert Event.objects.filter(profile=survivor).count() == 3
    assert Identity.objects.get(kind="anonymous_id").profile_id == survivor.pk


def test_alias_without_a_previous_id_is_refused(client: Client, key: str) -> None:
    response = post(client, "/v1/alias", {"userId": "u-5"}, write_key=key)

    assert response.status_code == 400
    assert response.json() == error(
        400, "invalid", "The message is invalid.", {"previousId": ["This field is required."]}
    )
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "path", ["/v1/identify/", "/v1/track/", "/v1/page/", "/v1/screen/", "/v1/group/"]
)
def test_a_trailing_slash_is_accepted(client: Client, key: str, path: str) -> None:
    body = {"userId": "u-6", "event": "Clicked", "groupId": "g-1"}

    response = post(client, path, body, write_key=key)

    assert response.status_code == 200
    assert Event.objects.count() == 1


# --- batch ------------------------------------------------------------------------


def test_a_batch_keeps_the_valid_calls_and_reports_each_invalid_one(
    client: Client, key: str
) -> None:
    batch = [
        {"type": "identify", "messageId": "b-0", "userId": "u-7", "traits": {"email": "b@x.org"}},
        {"type": "track", "messageId": "b-1", "userId": "u-7"},
        "not an object",
        {"type": "identify", "messageId": "b-3", "traits": {"email": "not-an-email"}},
        {"type": "teleport", "userId": "u-7"},
        {"type": "page", "messageId": "b-5", "userId": "u-7", "name": "Home"},
    ]

    response = post(client, "/v1/batch", {"batch": batch}, write_key=key)

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert [(r["index"], r["status"]) for r in body["results"]] == [
        (0, "ok"),
        (1, "error"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (5, "ok"),
    ]
    assert body["results"][0] == {"index": 0, "messageId": "b-0", "status": "ok"}
    assert body["results"][1] == {
        "index": 1,
        "messageId": "b-1",
        "status": "error",
        "errors": {"event": ["This field is required."]},
    }
    assert body["results"][2]["errors"] == {"message": ["must be an object"]}
    assert list(body["results"][3]["errors"]) == ["traits.email", "userId"]
    assert body["results"][4]["errors"] == {
        "type": ["must be one of identify, track, page, screen, group, alias"]
    }
    assert Profile.objects.count() == 1
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["b-0", "b-5"]


def test_a_batch_with_no_valid_call_answers_400_and_writes_nothing(
    client: Client, key: str
) -> None:
    response = post(
        client, "/v1/batch", {"batch": [{"type": "track", "userId": "u"}, 7]}, write_key=key
    )

    assert response.status_code == 400
    assert response.json() == error(
        400,
        "invalid",
        "No message of the batch is valid.",
        {
            "batch": [
                {"index": 0, "status": "error", "errors": {"event": ["This field is required."]}},
                {"index": 1, "status": "error", "errors": {"message": ["must be an object"]}},
            ]
        },
    )
    assert (Profile.objects.count(), Event.objects.count()) == (0, 0)


def test_an_empty_or_missing_batch_is_refused(client: Client, key: str) -> None:
    empty = post(client, "/v1/batch", {"batch": []}, write_key=key)
    missing = post(client, "/v1/batch", {"messages": []}, write_key=key)
    not_a_list = post(client, "/v1/batch", {"batch": {"type": "track"}}, write_key=key)

    assert empty.json()["error"]["fields"] == {"batch": ["This list may not be empty."]}
    assert missing.json()["error"]["fields"] == {"batch": ["This field is required."]}
    assert not_a_list.json()["error"]["fields"] == {
        "batch": ['Expected a list of items but got type "dict".']
    }
    assert [empty.status_code, missing.status_code, not_a_list.status_code] == [400, 400, 400]


def test_import_is_the_old_name_of_batch(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/import",
        {"batch": [{"type": "track", "messageId": "i-1", "userId": "u-8", "event": "Paid"}]},
        write_key=key,
    )

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "results": [{"index": 0, "messageId": "i-1", "status": "ok"}],
    }
    assert Event.objects.get().name == "Paid"


def test_a_batch_shares_its_context_with_every_call(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/batch",
        {
            "context": {"ip": "203.0.113.9", "locale": "fr-FR"},
            "batch": [
                {"type": "track", "userId": "u-9", "event": "A", "context": {"locale": "de-DE"}},
            ],
        },
        write_key=key,
    )

    assert response.status_code == 200
    assert Event.objects.get().context == {"ip": "203.0.113.9", "locale": "de-DE"}


def test_a_replayed_message_id_is_stored_once(client: Client, key: str) -> None:
    call = {"messageId": "same-1", "userId": "u-10", "event": "Signed Up"}

    first = post(client, "/v1/track", call, write_key=key)
    second = post(client, "/v1/track", call, write_key=key)
    batch = post(client, "/v1/batch", {"batch": [{"type": "track", **call}]}, write_key=key)

    assert (first.status_code, second.status_code, batch.status_code) == (200, 200, 200)
    assert batch.json()["results"] == [{"index": 0, "messageId": "same-1", "status": "duplicate"}]
    assert Event.objects.count() == 1


# --- context, UTM and time --------------------------------------------------------


def test_utm_and_the_whole_context_are_kept(client: Client, key: str) -> None:
    context = {
        "campaign": {"source": "newsletter", "medium": "email", "name": "spring", "term": "crm"},
        "page": {"url": "https://www.example.org/?utm_source=ignored", "title": "Home"},
        "userAgent": "Mozilla/5.0",
        "ip": "198.51.100.7",
        "consent": {"categoryPreferences": {"marketing": True, "analytics": False}},
    }

    response = post(
        client, "/v1/page", {"anonymousId": "anon-4", "context": context}, write_key=key
    )

    assert response.status_code == 200
    event = Event.objects.get()
    assert event.context == context
    assert (event.utm_source, event.utm_medium, event.utm_campaign, event.utm_term) == (
        "newsletter",
        "email",
        "spring",
        "crm",
    )


def test_an_explicit_timestamp_without_sent_at_is_kept() -> None:
    when = datetime(2025, 3, 1, 12, tzinfo=UTC)

    assert occurred_at(original=when, sent_at=None, received_at=timezone.now()) == when


def test_sent_at_corrects_the_device_clock_as_segment_does() -> None:
    received = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    # The device's clock runs two hours fast; the event happened 30 s before sending.
    sent = datetime(2026, 5, 1, 14, 0, 0, tzinfo=UTC)
    original = datetime(2026, 5, 1, 13, 59, 30, tzinfo=UTC)

    corrected = occurred_at(original=original, sent_at=sent, received_at=received)

    assert corrected == datetime(2026, 5, 1, 11, 59, 30, tzinfo=UTC)


def test_a_skewed_call_is_stored_at_the_corrected_time(client: Client, key: str) -> None:
    device_now = datetime(2031, 1, 1, tzinfo=UTC)
    before = timezone.now()

    response = post(
        client,
        "/v1/track",
        {
            "userId": "u-11",
            "event": "Opened",
            "originalTimestamp": (device_now - timedelta(minutes=10)).isoformat(),
            "sentAt": device_now.isoformat(),
        },
        write_key=key,
    )

    after = timezone.now()
    assert response.status_code == 200
    occurred = Event.objects.get().occurred_at
    assert before - timedelta(minutes=10) <= occurred <= after - timedelta(minutes=10)


def test_a_timestamp_with_any_offset_is_stored_in_utc(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/track",
        {"userId": "u", "event": "E", "timestamp": "2024-01-02T00:30:00+16:00"},
        write_key=key,
    )

    assert response.status_code == 200
    assert Event.objects.get().occurred_at == datetime(2024, 1, 1, 8, 30, tzinfo=UTC)


def test_a_timestamp_before_1900_is_refused(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/track",
        {"userId": "u", "event": "E", "timestamp": "0001-01-01T00:00:00Z"},
        write_key=key,
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"timestamp": ["must be after 1900-01-01"]}


def test_a_sent_at_too_far_from_the_timestamp_is_refused(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/track",
        {
            "userId": "u",
            "event": "E",
            "originalTimestamp": "1901-01-01T00:00:00Z",
            "sentAt": "9999-01-01T00:00:00Z",
        },
        write_key=key,
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "sentAt": ["is too far from the timestamp to correct the device clock"]
    }
    assert Event.objects.count() == 0


# --- authentication ---------------------------------------------------------------


def test_a_missing_write_key_answers_401(client: Client, website: Any) -> None:
    response = post(client, "/v1/track", {"userId": "u", "event": "E"})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Basic realm="tracking"'
    assert response.json() == error(
        401, "not_authenticated", "Authentication credentials were not provided."
    )


def test_an_unknown_write_key_answers_401(client: Client, website: Any) -> None:
    response = post(client, "/v1/track", {"event": "E"}, write_key="wk_not_a_real_key_at_all")

    assert response.status_code == 401
    assert response.json() == error(401, "invalid_write_key", "unknown or revoked write key")
    assert Event.objects.count() == 0


def test_a_rotated_key_stops_working_and_the_new_one_works(
    client: Client, website: tuple[Source, str]
) -> None:
    source, old_key = website
    new_key = source_rotate_key(source=source)
    call = {"userId": "u-12", "event": "E"}

    old = post(client, "/v1/track", call, write_key=old_key)
    old_in_body = post(client, "/v1/track", {**call, "writeKey": old_key})
    new = post(client, "/v1/track", call, write_key=new_key)

    assert (old.status_code, old_in_body.status_code, new.status_code) == (401, 401, 200)
    assert old.json()["error"]["code"] == "invalid_write_key"
    assert Event.objects.count() == 1


def test_an_inactive_source_answers_401(client: Client, website: tuple[Source, str]) -> None:
    source, write_key = website
    Source.objects.filter(pk=source.pk).update(is_active=False)

    response = post(client, "/v1/track", {"userId": "u", "event": "E"}, write_key=write_key)

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_a_malformed_basic_header_answers_401(client: Client, website: Any) -> None:
    response = client.post(
        "/v1/track", data=b"{}", content_type="application/json", HTTP_AUTHORIZATION="Basic !!"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"


def test_a_key_without_the_colon_still_works(client: Client, key: str) -> None:
    header = "Basic " + base64.b64encode(key.encode()).decode()

    response = client.post(
        "/v1/track",
        data=json.dumps({"userId": "u", "event": "E"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=header,
    )

    assert response.status_code == 200


# --- bodies -----------------------------------------------------------------------


def test_a_gzip_body_is_accepted(client: Client, key: str) -> None:
    body = gzip.compress(json.dumps({"userId": "u-13", "event": "Zipped"}).encode())

    response = post(client, "/v1/track", body, write_key=key, HTTP_CONTENT_ENCODING="gzip")

    assert response.status_code == 200
    assert Event.objects.get().name == "Zipped"


def test_a_gzip_bomb_is_refused_without_inflating_it(client: Client, key: str) -> None:
    bomb = gzip.compress(b'{"event": "' + b"a" * 50_000_000 + b'"}')

    response = post(client, "/v1/batch", bomb, write_key=key, HTTP_CONTENT_ENCODING="gzip")

    assert len(bomb) < 100_000
    assert response.status_code == 413
    assert response.json() == error(413, "payload_too_large", "The body is larger than 500 KB.")


def test_broken_gzip_answers_400(client: Client, key: str) -> None:
    truncated = gzip.compress(b'{"event": "E", "userId": "u"}')[:-6]

    broken = post(client, "/v1/track", b"not gzip", write_key=key, HTTP_CONTENT_ENCODING="gzip")
    cut = post(client, "/v1/track", truncated, write_key=key, HTTP_CONTENT_ENCODING="gzip")

    assert broken.json() == error(400, "parse_error", "The body is not valid gzip.")
    assert cut.json() == error(400, "parse_error", "The gzip body is truncated.")


def test_an_unknown_content_encoding_answers_415(client: Client, key: str) -> None:
    response = post(client, "/v1/track", b"{}", write_key=key, HTTP_CONTENT_ENCODING="br")

    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_a_call_over_32_kb_answers_413(client: Client, key: str) -> None:
    call = {"userId": "u", "event": "E", "properties": {"blob": "x" * 33_000}}

    response = post(client, "/v1/track", call, write_key=key)

    assert response.status_code == 413
    assert response.json() == error(413, "payload_too_large", "The body is larger than 32 KB.")
    assert Event.objects.count() == 0


def test_a_batch_over_500_kb_answers_413(client: Client, key: str) -> None:
    calls = [
        {"type": "track", "userId": "u", "event": "E", "properties": {"blob": "x" * 20_000}}
        for _ in range(26)
    ]

    response = post(client, "/v1/batch", {"batch": calls}, write_key=key)

    assert response.status_code == 413
    assert Event.objects.count() == 0


def test_a_call_over_32_kb_inside_a_batch_is_reported_alone(client: Client, key: str) -> None:
    calls = [
        {"type": "track", "userId": "u", "event": "Big", "properties": {"blob": "x" * 33_000}},
        {"type": "track", "userId": "u", "event": "Small"},
    ]

    response = post(client, "/v1/batch", {"batch": calls}, write_key=key)

    assert response.status_code == 200
    assert response.json()["results"][0] == {
        "index": 0,
        "status": "error",
        "errors": {"message": ["is larger than 32 KB"]},
    }
    assert list(Event.objects.values_list("name", flat=True)) == ["Small"]


def test_analytics_js_text_plain_bodies_are_accepted(client: Client, key: str) -> None:
    body = {"writeKey": key, "anonymousId": "anon-5", "event": "Clicked"}

    response = post(client, "/v1/track", body, content_type="text/plain;charset=UTF-8")

    assert response.status_code == 200
    assert Event.objects.count() == 1


def test_analytics_js_short_paths_are_accepted(client: Client, key: str) -> None:
    call = {"writeKey": key, "anonymousId": "anon-6", "event": "Clicked", "type": "track"}
    batch = {"writeKey": key, "batch": [{**call, "messageId": "js-2"}]}

    single = post(client, "/v1/t", call, content_type="text/plain")
    batched = post(client, "/v1/b", batch, content_type="text/plain")

    assert (single.status_code, batched.status_code) == (200, 200)
    assert Event.objects.filter(name="Clicked").count() == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"event": ', "The body is not valid JSON: Expecting value: line 1 column 11 (char 10)."),
        (b"[1, 2]", "The body must be a JSON object."),
        (b'"text"', "The body must be a JSON object."),
        (b"\xff\xfe{}", "The body is not valid UTF-8."),
        (b"   ", "The body is empty; send a JSON object."),
        (b'{"event": NaN}', "The body is not valid JSON: NaN is not valid JSON."),
        (b'{"n": 1e999}', "The body is not valid JSON: number out of range: 1e999."),
        (b'{"event": "a\\u0000b"}', "The body contains a NUL character or an unpaired surrogate."),
        (b'{"event": "\\ud800"}', "The body contains a NUL character or an unpaired surrogate."),
    ],
)
def test_a_malformed_body_answers_400_in_the_error_format(
    client: Client, key: str, body: bytes, message: str
) -> None:
    response = post(client, "/v1/track", body, write_key=key)

    assert response.status_code == 400
    assert response.json() == error(400, "parse_error", message)
    assert Event.objects.count() == 0


def test_deeply_nested_json_answers_400(client: Client, key: str) -> None:
    response = post(client, "/v1/track", b"[" * 30_000, write_key=key)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_wrong_types_answer_400_with_field_messages(client: Client, key: str) -> None:
    call = {
        "userId": {"id": 1},
        "anonymousId": True,
        "event": ["Clicked"],
        "properties": "plan=pro",
        "context": [1],
        "timestamp": "yesterday",
    }

    response = post(client, "/v1/track", call, write_key=key)

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "userId": ["must be a string or a number"],
        "anonymousId": ["must be a string or a number"],
        "event": ["Not a valid string."],
        "properties": ['Expected a dictionary of items but got type "str".'],
        "context": ['Expected a dictionary of items but got type "list".'],
        "timestamp": [
            "Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
        ],
    }
    assert Event.objects.count() == 0


def test_a_call_the_service_finds_invalid_answers_400(client: Client, key: str) -> None:
    response = post(client, "/v1/identify", {"traits": {"email": "nope"}}, write_key=key)

    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["traits.email", "userId"]
    assert Profile.objects.count() == 0


@pytest.mark.parametrize(
    ("trait", "limit"), [("postcode", 20), ("city", 100), ("language", 16), ("timezone", 64)]
)
def test_a_trait_longer_than_its_profile_field_is_refused(
    client: Client, key: str, trait: str, limit: int
) -> None:
    response = post(
        client, "/v1/identify", {"userId": "u-14", "traits": {trait: "9" * 150}}, write_key=key
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        f"traits.{trait}": [f"is longer than {limit} characters"]
    }
    assert Profile.objects.count() == 0


def test_numbers_are_accepted_as_ids(client: Client, key: str) -> None:
    response = post(client, "/v1/identify", {"userId": 12345}, write_key=key)

    assert response.status_code == 200
    assert Identity.objects.get().value == "12345"


# --- browsers: origins and preflight ----------------------------------------------


def test_an_allowed_origin_gets_cors_headers(client: Client, key: str) -> None:
    response = post(
        client, "/v1/track", {"userId": "u", "event": "E"}, write_key=key, HTTP_ORIGIN=SITE
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    # Messages follow the caller's Accept-Language (LocaleMiddleware), so caches key on it too.
    assert response["Vary"] == "Origin, Accept-Language"


def test_an_origin_not_allowed_answers_403_and_writes_nothing(client: Client, key: str) -> None:
    response = post(
        client,
        "/v1/track",
        {"userId": "u", "event": "E"},
        write_key=key,
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert response.json() == error(
        403, "origin_not_allowed", "This origin may not post to this source."
    )
    assert "Access-Control-Allow-Origin" not in response
    assert Event.objects.count() == 0


def test_a_server_without_origin_may_post(client: Client, key: str) -> None:
    response = post(client, "/v1/track", {"userId": "u", "event": "E"}, write_key=key)

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


def test_a_preflight_is_answered_without_a_key(client: Client) -> None:
    response = client.options(
        "/v1/batch",
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == SITE
    assert response["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert response["Access-Control-Allow-Headers"] == (
        "Authorization, Content-Type, Content-Encoding, Accept, X-Retry-Count, AnonymousId, "
        "SentAt, Rsa-Recovered, Rsa-Retry-Attempt, Rsa-Since-Last-Attempt, "
        "Rsa-Since-First-Attempt, Rsa-Retry-Reason"
    )


def test_no_session_or_csrf_is_involved(key: str) -> None:
    strict = Client(enforce_csrf_checks=True)

    response = post(strict, "/v1/track", {"userId": "u", "event": "E"}, write_key=key)

    assert response.status_code == 200


def test_get_is_not_allowed(client: Client, key: str) -> None:
    response = client.get("/v1/track", HTTP_AUTHORIZATION=basic(key))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


# --- documentation ----------------------------------------------------------------


def test_the_openapi_schema_describes_the_tracking_api(client: Client) -> None:
    response = client.get("/api/schema/", {"format": "json"})

    schema = response.json()
    v1 = sorted(path for path in schema["paths"] if path.startswith("/v1/"))
    assert v1 == [
        "/v1/alias",
        "/v1/batch",
        "/v1/group",
        "/v1/identify",
        "/v1/import",
        "/v1/page",
        "/v1/projects/{write_key}/settings",
        "/v1/screen",
        "/v1/track",
    ]
    assert {"/beacon/v1/batch", "/sourceConfig/"} <= set(schema["paths"])
    track = schema["paths"]["/v1/track"]["post"]
    assert track["security"] == [{"writeKey": []}]
    assert set(track["requestBody"]["content"]) == {"application/json", "text/plain"}
    assert set(track["responses"]) == {"200", "400", "401", "403", "413", "415"}
    assert schema["components"]["securitySchemes"]["writeKey"]["scheme"] == "basic"


# --- races over real HTTP (PostgreSQL) ----------------------------------------------


def _in_parallel(count: int, work: Any) -> list[Any]:
    """Run work(n) in `count` threads released together; return what each returned."""
    barrier = threading.Barrier(count)
    answers: list[Any] = [None] * count

    def run(n: int) -> None:
        barrier.wait()
        answers[n] = work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_requests_with_the_same_new_email_create_one_profile(
    live_server: Any, website: tuple[Source, str]
) -> None:
    _, write_key = website

    def work(n: int) -> int:
        return requests.post(
            f"{live_server.url}/v1/identify",
            json={"messageId": f"race-{n}", "traits": {"email": "race@example.org"}},
            headers={"Authorization": basic(write_key)},
            timeout=30,
        ).status_code

    statuses = _in_parallel(8, work)

    assert statuses == [200] * 8
    assert Profile.objects.count() == 1
    assert Identity.objects.filter(kind="email", value="race@example.org").count() == 1
    assert Event.objects.filter(profile=Profile.objects.get()).count() == 8


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_parallel_replays_of_one_batch_store_each_call_once(
    live_server: Any, website: tuple[Source, str]
) -> None:
    _, write_key = website
    batch = {
        "batch": [
            {"type": "track", "messageId": "r-1", "anonymousId": "anon-r", "event": "A"},
            {"type": "track", "messageId": "r-2", "anonymousId": "anon-r", "event": "B"},
        ]
    }

    def work(n: int) -> int:
        return requests.post(
            f"{live_server.url}/v1/batch",
            json=batch,
            headers={"Authorization": basic(write_key)},
            timeout=30,
        ).status_code

    statuses = _in_parallel(6, work)

    assert statuses == [200] * 6
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["r-1", "r-2"]
    assert Profile.objects.count() == 1
