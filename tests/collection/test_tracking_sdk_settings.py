"""What the browser SDKs fetch and send besides the calls: settings, preflights, beacons."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from collection.models import Form
from collection.services.forms import form_save
from collection.services.sdk_snippets import browser_sdk_snippet
from profiles.models import Event, Source
from tests.collection.test_tracking_api import SITE, basic

pytestmark = pytest.mark.django_db


@pytest.fixture
def website(make_source: Any) -> tuple[Source, str]:
    return make_source("Website", kind="web_form", allowed_origins=[SITE])


@pytest.fixture(autouse=True)
def _sync_intake(settings: Any) -> None:
    settings.CDP_INTAKE_MODE = "sync"


def test_segment_settings_send_every_call_to_this_server(
    client: Client, website: tuple[Source, str]
) -> None:
    _, key = website

    response = client.get(f"/v1/projects/{key}/settings", HTTP_ORIGIN=SITE)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert response.json() == {
        "integrations": {
            "Segment.io": {
                "apiKey": key,
                "apiHost": "testserver/v1",
                "protocol": "http",
                "unbundledIntegrations": [],
                "addBundledMetadata": False,
                "maybeBundledConfigIds": {},
            }
        },
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def test_segment_settings_of_an_unknown_key_answer_401(client: Client) -> None:
    response = client.get("/v1/projects/wk_not-a-key-at-all/settings", HTTP_ORIGIN=SITE)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"
    assert "Access-Control-Allow-Origin" not in response


def test_segment_settings_refuse_an_origin_the_source_does_not_list(
    client: Client, website: tuple[Source, str]
) -> None:
    _, key = website

    response = client.get(f"/v1/projects/{key}/settings", HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response


def test_rudderstack_source_config_has_no_destination_and_no_reporting(
    client: Client, website: tuple[Source, str]
) -> None:
    source, key = website

    response = client.get(
        "/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey=" + key,
        HTTP_AUTHORIZATION=basic(key),
        HTTP_ORIGIN=SITE,
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert response.json() == {
        "isHosted": False,
        "source": {
            "id": source.write_key_prefix,
            "name": "Website",
            "enabled": True,
            "workspaceId": "cdp",
            "config": {
                "statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}}
            },
            "destinations": [],
        },
    }


def test_rudderstack_source_config_without_a_key_answers_401(client: Client) -> None:
    response = client.get("/sourceConfig/", HTTP_ORIGIN=SITE)

    assert response.status_code == 401


def test_a_settings_preflight_allows_get_and_the_sdk_headers(client: Client) -> None:
    response = client.options(
        "/sourceConfig/",
        HTTP_ORIGIN=SITE,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="accept,authorization",
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Methods"] == "GET, OPTIONS"
    assert "Authorization" in response["Access-Control-Allow-Headers"].split(", ")


def test_a_beacon_with_the_key_in_the_query_string_is_stored(
    client: Client, website: tuple[Source, str]
) -> None:
    source, key = website
    body = {
        "batch": [
            {"type": "track", "event": "Left", "anonymousId": "a-1", "messageId": "m-1"},
            {"type": "page", "name": "Home", "anonymousId": "a-1", "messageId": "m-2"},
        ],
        "sentAt": "2026-01-01T10:00:00.000Z",
    }

    response = client.post(
        f"/beacon/v1/batch?writeKey={key}",
        data=json.dumps(body),
        content_type="text/plain;charset=UTF-8",
        HTTP_ORIGIN=SITE,
    )

    assert response.status_code == 200
    assert sorted(
        Event.objects.filter(source=source).values_list("message_id", "type", "name")
    ) == [("m-1", "track", "Left"), ("m-2", "page", "Home")]


def test_a_beacon_from_an_origin_not_listed_stores_nothing(
    client: Client, website: tuple[Source, str]
) -> None:
    _, key = website
    body = {"batch": [{"type": "track", "event": "Left", "anonymousId": "a-1"}]}

    response = client.post(
        f"/beacon/v1/batch?writeKey={key}",
        data=json.dumps(body),
        content_type="text/plain",
        HTTP_ORIGIN="https://evil.example",
    )

    assert response.status_code == 403
    assert Event.objects.count() == 0


def test_a_text_plain_call_with_the_key_in_the_body_is_stored(
    client: Client, website: tuple[Source, str]
) -> None:
    source, key = website
    body = {"type": "track", "event": "Left", "anonymousId": "a-1", "messageId": "m-9",
            "writeKey": key}  # fmt: skip

    response = client.post(
        "/v1/t", data=json.dumps(body), content_type="text/plain", HTTP_ORIGIN=SITE
    )

    assert response.status_code == 200
    assert list(Event.objects.filter(source=source).values_list("message_id", flat=True)) == ["m-9"]


# --- the snippets the Forms admin shows -------------------------------------------------


def test_the_segment_snippet_loads_the_sites_copy_and_reads_its_settings_from_the_cdp() -> None:
    snippet = browser_sdk_snippet(sdk="segment", base_url="https://cdp.example.org/")

    assert snippet == (
        "<!-- /js/analytics-next.js: a copy of "
        "node_modules/@segment/analytics-next/dist/umd/index.js -->\n"
        '<script src="/js/analytics-next.js"></script>\n'
        "<script>\n"
        "  window.analytics = AnalyticsNext.AnalyticsBrowser.load(\n"
        '    {"writeKey": "WRITE_KEY", "cdnURL": "https://cdp.example.org"},\n'
        '    {"integrations": {"Segment.io": {"deliveryStrategy": '
        '{"config": {"keepalive": true}}}}}\n'
        "  );\n"
        "  analytics.page();\n"
        "</script>\n"
    )


def test_the_rudderstack_snippet_takes_its_configuration_and_data_plane_from_the_cdp() -> None:
    snippet = browser_sdk_snippet(sdk="rudderstack", base_url="https://cdp.example.org")

    assert (
        '  analytics.load("WRITE_KEY", "https://cdp.example.org", '
        '{"configUrl": "https://cdp.example.org"});\n'
    ) in snippet
    assert '<script src="/js/rudderstack.js"></script>' in snippet


def test_a_snippet_cannot_close_its_script_element() -> None:
    snippet = browser_sdk_snippet(sdk="segment", base_url="https://x.org/</script><b>")

    assert "</script><b>" not in snippet
    assert snippet.count("</script>") == 2


def test_the_form_admin_shows_both_sdk_snippets(admin_client: Any, make_source: Any) -> None:
    source, _ = make_source("Website", kind="web_form", allowed_origins=[SITE])
    form = form_save(
        form=Form(
            name="Sign-up",
            slug="signup",
            source=source,
            fields=[{"name": "email", "label": "Email", "target": "email", "type": "email"}],
        )
    )

    response = admin_client.get(reverse("admin:collection_form_change", args=[form.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    for sdk in ("segment", "rudderstack"):
        assert escape(browser_sdk_snippet(sdk=sdk, base_url="http://testserver/")) in page


def test_behind_a_tls_proxy_segment_settings_name_https(
    client: Client, website: tuple[Source, str], settings: Any
) -> None:
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    _, key = website

    response = client.get(
        f"/v1/projects/{key}/settings", HTTP_ORIGIN=SITE, HTTP_X_FORWARDED_PROTO="https"
    )

    assert response.json()["integrations"]["Segment.io"]["protocol"] == "https"


@pytest.mark.parametrize(
    "path",
    ["/sourceConfig/?writeKey=wk_abcdefgh%00ijkl", "/v1/projects/wk_abcdefgh%00ijkl/settings"],
)
def test_a_key_with_a_nul_character_answers_401(client: Client, path: str) -> None:
    response = client.get(path, HTTP_ORIGIN=SITE)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_write_key"
