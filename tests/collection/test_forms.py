import ipaddress
import json
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import pytest
from django.core.cache import cache
from django.urls import include, path, reverse
from django.utils.html import escape
from drf_spectacular.generators import SchemaGenerator
from hypothesis import given
from hypothesis import strategies as st

from collection.errors import CollectionError
from collection.models import Form
from collection.services.forms import (
    form_html_snippet,
    form_save,
    form_validate_definition,
)
from consent.proof import truncate_ip
from profiles.models import Event, Identity, Profile

pytestmark = pytest.mark.django_db

ORIGIN = "https://www.example.org"
URL = "/api/forms/signup/submissions"
URLENCODED = "application/x-www-form-urlencoded"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
SIGNUP_FIELDS = [
    {"name": "email", "label": "Email", "target": "email", "type": "email", "required": True},
    {"name": "first_name", "label": "First name", "target": "first_name", "type": "text"},
    {"name": "phone", "label": "Phone", "target": "phone", "type": "tel"},
    {"name": "country", "label": "Country", "target": "country", "type": "text"},
    {
        "name": "plan",
        "label": "Plan",
        "target": "traits.plan",
        "type": "select",
        "choices": ["free", "pro"],
    },
    {"name": "birthday", "label": "Birthday", "target": "date_of_birth", "type": "date"},
    {"name": "student", "label": "I am a student", "target": "traits.student", "type": "checkbox"},
]


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> None:
    """Throttle counts live in the cache: each test gets an empty cache of its own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"forms-{uuid4()}",
        }
    }


@pytest.fixture(autouse=True)
def _purposes(purposes: Any) -> None:
    """Forms may only ask for purposes that exist with a wording."""


@pytest.fixture
def signup(web_form: Any) -> Form:
    web_form.allowed_origins = [ORIGIN]
    web_form.save(update_fields=["allowed_origins"])
    return form_save(
        form=Form(
            name="Sign-up",
            slug="signup",
            source=web_form,
            fields=SIGNUP_FIELDS,
            consent_purposes=["newsletter", "partners"],
            thank_you_url="https://www.example.org/thanks",
        )
    )


def post_json(client: Any, data: Any, **extra: Any) -> Any:
    return client.post(URL, data, content_type="application/json", **extra)


def post_html(client: Any, data: dict[str, str], **extra: Any) -> Any:
    """What a browser sends for a plain <form method="post">."""
    headers = {"Accept": BROWSER_ACCEPT, **extra.pop("headers", {})}
    return client.post(URL, urlencode(data), content_type=URLENCODED, headers=headers, **extra)


def assert_nothing_written() -> None:
    assert (Profile.objects.count(), Identity.objects.count(), Event.objects.count()) == (0, 0, 0)


def invalid(fields: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "error": {
            "status": 400,
            "code": "invalid",
            "message": "Some fields are invalid.",
            "fields": fields,
        }
    }


# --- Submissions ------------------------------------------------------------------------


def test_a_json_post_stores_one_profile_and_one_form_event(client: Any, signup: Form) -> None:
    response = post_json(
        client,
        {
            "email": " Ada@Example.ORG ",
            "first_name": "ada",
            "phone": "06 12 34 56 78",
            "country": "fr",
            "plan": "pro",
            "birthday": "1990-12-10",
            "student": True,
            "consent_newsletter": True,
        },
    )

    assert response.status_code == 201
    assert response.json() == {"success": True}
    profile = Profile.objects.get()
    assert (
        profile.email,
        profile.first_name,
        profile.phone,
        profile.country,
        profile.date_of_birth,
    ) == ("ada@example.org", "Ada", "+33612345678", "FR", date(1990, 12, 10))
    assert profile.traits == {"plan": "pro", "student": True}
    event = Event.objects.get()
    assert (event.profile_id, event.source_id, event.type, event.name) == (
        profile.pk,
        signup.source_id,
        "form",
        "signup",
    )
    assert event.properties == {"form_id": signup.pk, "form_name": "Sign-up"}


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "fr"),
        ("de-DE,de;q=0.9,en;q=0.5,fr;q=0.8", "fr"),  # the preferred language we support
        ("en-GB", "en"),
        ("de-DE,es;q=0.9", ""),  # none we support: the organisation's default applies
        ("", ""),
    ],
)
def test_a_post_gives_a_person_without_a_language_their_browsers(
    client: Any, signup: Form, accept_language: str, language: str
) -> None:
    headers = {"Accept-Language": accept_language} if accept_language else {}

    response = post_json(client, {"email": "ada@example.org"}, headers=headers)

    assert response.status_code == 201
    assert Profile.objects.get().language == language


def test_a_post_keeps_the_language_a_profile_already_has(
    client: Any, signup: Form, web_form: Any
) -> None:
    from profiles.services import Message, ingest_messages

    ingest_messages(
        source=web_form,
        messages=[Message(type="identify", traits={"email": "ada@example.org", "language": "en"})],
    )

    response = post_json(
        client, {"email": "ada@example.org"}, headers={"Accept-Language": "fr-FR,fr"}
    )

    assert response.status_code == 201
    assert Profile.objects.get().language == "en"


def test_a_person_who_filled_a_form_in_french_reads_their_preferences_in_french(
    client: Any, signup: Form
) -> None:
    from urllib.parse import urlsplit

    from django.test import Client

    from consent.links import preferences_url

    post_json(client, {"email": "ada@example.org"}, headers={"Accept-Language": "fr-FR"})
    profile = Profile.objects.get()
    link = urlsplit(preferences_url(profile_id=profile.pk))

    # Later, from a mailbox opened in an English browser.
    page = Client().get(f"{link.path}?{link.query}", headers={"Accept-Language": "en-US"})

    assert page.status_code == 200
    assert page["Content-Language"] == "fr"
    assert "Vos choix" in page.content.decode()


def test_consent_ticks_and_their_proof_are_recorded_on_the_event(client: Any, signup: Form) -> None:
    client.post(
        URL,
        urlencode({"email": "ada@example.org", "consent_newsletter": "on"}),
        content_type=URLENCODED,
        headers={
            "User-Agent": "Mozilla/5.0 (X11; Linux) Test",
            "Referer": "https://www.example.org/join?utm_source=fair",
        },
        REMOTE_ADDR="203.0.113.77",
    )

    event = Event.objects.get()
    assert event.context == {
        "consent": {
            "newsletter": {"granted": True, "form": "signup"},
            "partners": {"granted": False, "form": "signup"},
        },
        "ip": "203.0.113.0",
        "userAgent": "Mozilla/5.0 (X11; Linux) Test",
        "page": {"url": "https://www.example.org/join?utm_source=fair"},
    }
    assert event.utm_source == "fair"


def test_an_ipv6_address_is_kept_only_to_its_48_bit_prefix(client: Any, signup: Form) -> None:
    post_json(client, {"email": "ada@example.org"}, REMOTE_ADDR="2001:db8:abcd:12:1:2:3:4")

    assert Event.objects.get().context["ip"] == "2001:db8:abcd::"


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_client(
    client: Any, signup: Form, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}

    post_json(
        client,
        {"email": "ada@example.org"},
        headers={"X-Forwarded-For": "192.0.2.1, 198.51.100.23"},
        REMOTE_ADDR="10.0.0.2",
    )

    assert Event.objects.get().context["ip"] == "198.51.100.0"


@pytest.mark.parametrize(
    ("raw", "truncated"),
    [
        ("192.0.2.201", "192.0.2.0"),
        ("::ffff:192.0.2.201", "192.0.2.0"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::"),
        ("not an address", ""),
        ("", ""),
    ],
)
def test_truncate_ip(raw: str, truncated: str) -> None:
    assert truncate_ip(raw) == truncated


def _ipv4_truncated(raw: str) -> str:
    try:
        address = ipaddress.IPv4Address(raw.strip())
    except ValueError:
        return ""
    return str(ipaddress.IPv4Network(f"{address}/24", strict=False).network_address)


@given(
    st.one_of(
        st.ip_addresses(v=4).map(str),
        st.text(alphabet="0123456789.\u0661 ", max_size=17),
        st.lists(st.integers(0, 300).map(str), min_size=3, max_size=5).map(".".join),
    )
)
def test_truncate_ip_agrees_with_the_standard_library(raw: str) -> None:
    """The IPv4 fast path accepts what the standard library does, with the same answer."""
    assert truncate_ip(raw) == _ipv4_truncated(raw)


def test_an_urlencoded_post_from_a_script_gets_json(client: Any, signup: Form) -> None:
    response = client.post(
        URL, urlencode({"email": "ada@example.org", "student": "on"}), content_type=URLENCODED
    )

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert Profile.objects.get().traits == {"student": True}


def test_a_multipart_post_from_a_script_gets_json(client: Any, signup: Form) -> None:
    response = client.post(URL, {"email": "ada@example.org", "first_name": "Ada"})

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert Profile.objects.get().first_name == "Ada"


def test_a_plain_html_post_is_redirected_to_the_thank_you_page(client: Any, signup: Form) -> None:
    response = post_html(client, {"email": "ada@example.org", "first_name": "Ada"})

    assert response.status_code == 303
    assert response["Location"] == "https://www.example.org/thanks"
    assert Profile.objects.get().email == "ada@example.org"
    assert Event.objects.count() == 1


def test_a_plain_html_post_without_a_thank_you_url_gets_a_thank_you_page(
    client: Any, signup: Form
) -> None:
    signup.thank_you_url = ""
    form_save(form=signup)

    response = post_html(client, {"email": "ada@example.org"})

    assert response.status_code == 200
    assert [t.name for t in response.templates] == [
        "collection/forms/thanks.html",
        "collection/forms/base.html",
    ]
    assert "<h1>Thank you</h1>" in response.content.decode()
    assert Event.objects.count() == 1


# --- Field errors -----------------------------------------------------------------------


def test_a_missing_required_field_is_refused_and_nothing_written(client: Any, signup: Form) -> None:
    response = post_json(client, {"first_name": "Ada", "consent_newsletter": True})

    assert response.status_code == 400
    assert response.json() == invalid({"email": ["This field is required."]})
    assert_nothing_written()


def test_typed_fields_are_checked_and_nothing_written(client: Any, signup: Form) -> None:
    response = post_json(
        client,
        {
            "email": "ada@",
            "first_name": ["Ada"],
            "phone": "12",
            "plan": "gold",
            "birthday": "31/02/2000",
            "student": ["yes"],
            "consent_partners": {"granted": True},
        },
    )

    assert response.status_code == 400
    assert response.json() == invalid(
        {
            "email": ["Enter a valid email address."],
            "first_name": ["Enter a single value."],
            "phone": ["Enter a valid phone number."],
            "plan": ["Select one of the choices."],
            "birthday": ["Enter a valid date."],
            "student": ["Enter true or false."],
            "consent_partners": ["Enter true or false."],
        }
    )
    assert_nothing_written()


def test_a_text_longer_than_500_characters_is_refused(client: Any, signup: Form) -> None:
    response = post_json(client, {"email": "ada@example.org", "first_name": "a" * 501})

    assert response.json() == invalid({"first_name": ["Enter at most 500 characters."]})
    assert_nothing_written()


def test_an_error_found_by_ingestion_is_keyed_by_the_form_field(client: Any, signup: Form) -> None:
    response = post_json(client, {"email": "ada@example.org", "first_name": "a" * 101})

    assert response.status_code == 400
    assert response.json() == invalid({"first_name": ["is longer than 100 characters"]})
    assert_nothing_written()


def test_an_unknown_country_is_kept_as_an_issue_and_the_sign_up_stored(
    client: Any, signup: Form
) -> None:
    response = post_json(client, {"email": "ada@example.org", "country": "Atlantis"})

    assert response.status_code == 201
    profile = Profile.objects.get()
    assert (profile.email, profile.country) == ("ada@example.org", "")
    assert list(profile.quality_issues.values_list("field", "code", "value")) == [
        ("country", "invalid_country", "Atlantis")
    ]


def test_a_form_with_email_or_phone_asks_for_one_of_them(client: Any, web_form: Any) -> None:
    form_save(
        form=Form(
            name="Call me back",
            slug="callback",
            source=web_form,
            fields=[
                {"name": "mail", "label": "Email", "target": "email", "type": "email"},
                {"name": "tel", "label": "Phone", "target": "phone", "type": "tel"},
                {"name": "name", "label": "Name", "target": "first_name", "type": "text"},
            ],
        )
    )

    response = client.post(
        "/api/forms/callback/submissions", {"name": "Ada"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == invalid(
        {
            "mail": ["Fill in at least one of: Email, Phone."],
            "tel": ["Fill in at least one of: Email, Phone."],
        }
    )
    assert_nothing_written()


def test_a_body_that_is_not_an_object_is_refused(client: Any, signup: Form) -> None:
    response = post_json(client, ["ada@example.org"])

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "status": 400,
            "code": "invalid",
            "message": "The body must be an object of field values.",
            "fields": {"non_field_errors": ["Send an object of field values."]},
        }
    }
    assert_nothing_written()


def test_malformed_json_is_refused(client: Any, signup: Form) -> None:
    response = client.post(URL, '{"email": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert_nothing_written()


def test_a_person_sees_each_error_next_to_its_label_with_a_link_back(
    client: Any, signup: Form
) -> None:
    response = post_html(
        client,
        {"email": "ada@", "plan": "gold"},
        headers={"Referer": "https://www.example.org/join"},
    )

    page = response.content.decode()
    assert response.status_code == 400
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert [t.name for t in response.templates] == [
        "collection/forms/errors.html",
        "collection/forms/base.html",
    ]
    assert "<h1>Please check the form</h1>" in page
    assert "<dt>Email</dt>\n      <dd>Enter a valid email address.</dd>" in page
    assert "<dt>Plan</dt>\n      <dd>Select one of the choices.</dd>" in page
    assert page.index("<dt>Email</dt>") < page.index("<dt>Plan</dt>")
    assert '<a href="https://www.example.org/join">Back to the form</a>' in page
    assert_nothing_written()


def test_the_error_page_links_back_only_to_a_web_address(client: Any, signup: Form) -> None:
    response = post_html(client, {"email": "ada@"}, headers={"Referer": "javascript:alert(1)"})

    page = response.content.decode()
    assert response.status_code == 400
    assert "javascript:" not in page
    assert "Use your browser's back button to return to the form." in page


# --- Bots, origins, rate limits, unknown forms --------------------------------------------


def test_a_filled_honeypot_is_answered_as_success_and_stores_nothing(
    client: Any, signup: Form
) -> None:
    response = post_json(client, {"email": "bot@example.org", "website": "http://spam.example"})

    assert response.status_code == 201
    assert response.json() == {"success": True}
    assert_nothing_written()


def test_a_browser_filling_the_honeypot_is_sent_to_the_thank_you_page(
    client: Any, signup: Form
) -> None:
    response = post_html(client, {"email": "bot@example.org", "website": "http://spam.example"})

    assert response.status_code == 303
    assert response["Location"] == "https://www.example.org/thanks"
    assert_nothing_written()


def test_a_foreign_origin_is_refused_and_nothing_written(client: Any, signup: Form) -> None:
    response = post_json(
        client, {"email": "ada@example.org"}, headers={"Origin": "https://evil.example"}
    )

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "status": 403,
            "code": "origin_not_allowed",
            "message": "This site may not post to this form.",
        }
    }
    assert "Access-Control-Allow-Origin" not in response
    assert_nothing_written()


def test_an_allowed_origin_gets_cors_headers(client: Any, signup: Form) -> None:
    response = post_json(client, {"email": "ada@example.org"}, headers={"Origin": ORIGIN})

    assert response.status_code == 201
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    # Messages follow the caller's Accept-Language (LocaleMiddleware), so caches key on it too.
    assert response["Vary"] == "Origin, Accept-Language"
    assert Event.objects.count() == 1


def test_an_allowed_origin_can_read_field_errors(client: Any, signup: Form) -> None:
    response = post_json(client, {"email": "ada@"}, headers={"Origin": ORIGIN})

    assert response.status_code == 400
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert response.json() == invalid({"email": ["Enter a valid email address."]})


def test_a_preflight_is_answered_with_the_allowed_methods(client: Any, signup: Form) -> None:
    response = client.options(
        URL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )

    assert response.status_code == 204
    assert {
        name: response[name]
        for name in (
            "Access-Control-Allow-Origin",
            "Access-Control-Allow-Methods",
            "Access-Control-Allow-Headers",
            "Access-Control-Max-Age",
        )
    } == {
        "Access-Control-Allow-Origin": ORIGIN,
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
        "Access-Control-Max-Age": "86400",
    }


def test_a_client_ip_past_the_form_rate_is_throttled_and_nothing_more_written(
    client: Any, signup: Form, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "form": "2/min"},
    }
    cache.clear()
    post_json(client, {"email": "one@example.org"})
    post_json(client, {"email": "two@example.org"})

    # A forged X-Forwarded-For does not buy a fresh allowance.
    third = post_json(
        client, {"email": "three@example.org"}, headers={"X-Forwarded-For": "198.51.100.1"}
    )
    other_ip = post_json(client, {"email": "four@example.org"}, REMOTE_ADDR="198.51.100.7")

    error = third.json()["error"]
    assert third.status_code == 429
    assert (error["status"], error["code"]) == (429, "throttled")
    assert error["message"].startswith("Request was throttled. Expected available in ")
    assert int(third["Retry-After"]) > 0
    assert other_ip.status_code == 201
    assert set(Profile.objects.values_list("email", flat=True)) == {
        "one@example.org",
        "two@example.org",
        "four@example.org",
    }


def test_a_preflight_costs_no_allowance(client: Any, signup: Form, settings: Any) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "form": "1/min"},
    }
    client.options(URL, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})

    response = post_json(client, {"email": "ada@example.org"}, headers={"Origin": ORIGIN})

    assert response.status_code == 201


def test_an_inactive_form_is_not_found_and_nothing_written(client: Any, signup: Form) -> None:
    signup.is_active = False
    form_save(form=signup)

    response = post_json(client, {"email": "ada@example.org"})

    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not found."}
    }
    assert_nothing_written()


def test_a_form_of_an_inactive_source_is_not_found(client: Any, signup: Form) -> None:
    signup.source.is_active = False
    signup.source.save(update_fields=["is_active"])

    response = post_json(client, {"email": "ada@example.org"})

    assert response.status_code == 404
    assert_nothing_written()


def test_an_unknown_form_is_not_found(client: Any, db: None) -> None:
    response = client.post(
        "/api/forms/nope/submissions", {"email": "ada@example.org"}, content_type="application/json"
    )

    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not found."}
    }
    assert_nothing_written()


def test_the_endpoint_is_described_in_the_openapi_schema() -> None:
    generator = SchemaGenerator(patterns=[path("api/forms/", include("collection.api.forms.urls"))])

    schema = generator.get_schema(request=None, public=True)

    operation = schema["paths"]["/api/forms/{slug}/submissions"]["post"]
    assert list(schema["paths"]["/api/forms/{slug}/submissions"]) == ["post"]
    assert operation["operationId"] == "forms_submit"
    assert set(operation["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    }
    assert set(operation["responses"]) == {"201", "303", "400", "403", "404", "429"}


# --- Definition and snippet ---------------------------------------------------------------

EMAIL = {"name": "email", "label": "Email", "target": "email", "type": "email"}


@pytest.mark.parametrize(
    ("fields", "consent_purposes", "errors"),
    [
        (
            [EMAIL, {"name": "x", "label": "X", "target": "emial", "type": "text"}],
            [],
            {
                "fields": [
                    "field 'x': unknown target 'emial'; use one of email, phone, first_name, "
                    "last_name, company, job_title, address_line, postcode, city, country, "
                    "date_of_birth, language, timezone or traits.<key>"
                ]
            },
        ),
        (
            [EMAIL, {**EMAIL, "target": "traits.other_email"}],
            [],
            {"fields": ["field 'email': the name is used twice"]},
        ),
        (
            [{**EMAIL, "type": "password"}],
            [],
            {
                "fields": [
                    "field 'email': unknown type 'password'; use one of email, tel, text, date, "
                    "checkbox, select"
                ]
            },
        ),
        (
            [{"name": "first", "label": "First name", "target": "first_name", "type": "text"}],
            [],
            {
                "fields": [
                    "add a field with the target email or phone, so a submission can be tied "
                    "to a person"
                ]
            },
        ),
        (
            [EMAIL, {"name": "plan", "label": "Plan", "target": "traits.plan", "type": "select"}],
            [],
            {"fields": ["field 'plan': a select needs a list of distinct, non-empty choices"]},
        ),
        (
            [EMAIL, {"name": "t", "label": "Title", "target": "traits.title", "type": "text"}],
            [],
            {"fields": ["field 't': trait 'title' is a profile field; use the target 'job_title'"]},
        ),
        (
            [{**EMAIL, "type": "text"}],
            [],
            {"fields": ["field 'email': target 'email' needs the type email"]},
        ),
        (
            [{**EMAIL, "requried": True}],
            [],
            {"fields": ["field 'email': unknown key 'requried'"]},
        ),
        (
            [{**EMAIL, "name": "website"}],
            [],
            {"fields": ["field 'website': the name is reserved"]},
        ),
        (
            [EMAIL],
            ["newsletter", "newsletter", "Bad Code"],
            {
                "consent_purposes": [
                    "'newsletter' is listed twice",
                    "'Bad Code' is not a purpose code (lower-case letters, digits, '_' or '-')",
                ]
            },
        ),
        (
            {"email": "email"},
            {},
            {
                "fields": ["must be a non-empty list of fields"],
                "consent_purposes": ["must be a list of purpose codes"],
            },
        ),
    ],
)
def test_an_invalid_definition_is_refused_with_field_messages(
    fields: Any, consent_purposes: Any, errors: dict[str, list[str]]
) -> None:
    with pytest.raises(CollectionError) as raised:
        form_validate_definition(
            fields=fields, consent_purposes=consent_purposes, honeypot_field="website"
        )

    assert raised.value.fields == errors


def test_the_signup_definition_is_valid() -> None:
    form_validate_definition(
        fields=SIGNUP_FIELDS, consent_purposes=["newsletter"], honeypot_field="website"
    )


def test_the_snippet_posts_every_field_consent_and_a_hidden_honeypot() -> None:
    form = Form(
        slug="mini",
        fields=[
            {**EMAIL, "required": True},
            {"name": "plan", "label": "Plan", "target": "traits.plan", "type": "select",
             "choices": ["free", "pro"]},
        ],
        consent_purposes=["newsletter"],
        honeypot_field="website",
    )  # fmt: skip

    snippet = form_html_snippet(form=form, base_url="https://cdp.example.org/")

    assert snippet == (
        '<form method="post" action="https://cdp.example.org/api/forms/mini/submissions"'
        ' accept-charset="utf-8">\n'
        "  <p>\n"
        '    <label for="cdp-mini-email">Email</label>\n'
        '    <input type="email" id="cdp-mini-email" name="email" autocomplete="email"'
        " required>\n"
        "  </p>\n"
        "  <p>\n"
        '    <label for="cdp-mini-plan">Plan</label>\n'
        '    <select id="cdp-mini-plan" name="plan">\n'
        '      <option value="">Choose…</option>\n'
        '      <option value="free">free</option>\n'
        '      <option value="pro">pro</option>\n'
        "    </select>\n"
        "  </p>\n"
        "  <p>\n"
        '    <input type="checkbox" id="cdp-mini-consent_newsletter" name="consent_newsletter">\n'
        '    <label for="cdp-mini-consent_newsletter">Send me the monthly newsletter.</label>\n'
        '    <input type="hidden" name="consent_wording_newsletter" value="1">\n'
        "  </p>\n"
        '  <div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;height:1px;'
        'overflow:hidden">\n'
        '    <label for="cdp-mini-website">Leave this field empty</label>\n'
        '    <input type="text" id="cdp-mini-website" name="website" tabindex="-1"'
        ' autocomplete="off">\n'
        "  </div>\n"
        '  <p><button type="submit">Send</button></p>\n'
        "</form>\n"
    )


def test_the_snippets_own_words_follow_the_stewards_language(signup: Form) -> None:
    from django.utils import translation

    with translation.override("fr"):
        french = form_html_snippet(form=signup, base_url="https://cdp.example.org")
    english = form_html_snippet(form=signup, base_url="https://cdp.example.org")

    assert '<button type="submit">Envoyer</button>' in french
    assert ">Laissez ce champ vide</label>" in french
    assert '<button type="submit">Send</button>' in english


def test_the_snippet_escapes_what_a_steward_typed() -> None:
    form = Form(
        slug="x",
        fields=[{"name": "email", "label": '<b>"Mail"</b>', "target": "email", "type": "email"}],
        honeypot_field="website",
    )

    snippet = form_html_snippet(form=form, base_url="https://cdp.example.org")

    assert '<label for="cdp-x-email">&lt;b&gt;&quot;Mail&quot;&lt;/b&gt;</label>' in snippet
    assert "<b>" not in snippet


# --- Admin ------------------------------------------------------------------------------


def test_the_admin_change_page_shows_the_html_snippet(admin_client: Any, signup: Form) -> None:
    response = admin_client.get(reverse("admin:collection_form_change", args=[signup.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert escape(form_html_snippet(form=signup, base_url="http://testserver/")) in page
    assert (
        "&lt;form method=&quot;post&quot; "
        "action=&quot;http://testserver/api/forms/signup/submissions&quot;" in page
    )


def fields_rows(fields: list[dict[str, Any]]) -> dict[str, str]:
    """The field editor's inputs as a browser posts them: one row a field, then a blank one."""
    data = {"fields-count": str(len(fields) + 1)}
    for row, field in enumerate(fields):
        target = field["target"]
        data |= {
            f"fields-{row}-name": field["name"],
            f"fields-{row}-label": field["label"],
            f"fields-{row}-type": field["type"],
            f"fields-{row}-target": "traits" if target.startswith("traits.") else target,
            f"fields-{row}-trait": target.removeprefix("traits.") if "." in target else "",
            f"fields-{row}-choices": ", ".join(field.get("choices", [])),
        }
        if field.get("required"):
            data[f"fields-{row}-required"] = "on"
    return data


def admin_form_data(web_form: Any, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "Newsletter",
        "slug": "newsletter",
        "source": str(web_form.pk),
        "is_active": "on",
        **fields_rows(fields),
        "consent_purposes": ["newsletter"],
        "thank_you_url": "https://www.example.org/thanks",
        "honeypot_field": "website",
    }


def test_the_admin_refuses_an_invalid_definition(admin_client: Any, web_form: Any) -> None:
    bad = [{"name": "email", "label": "Email", "target": "emial", "type": "email"}]

    response = admin_client.post(
        reverse("admin:collection_form_add"), admin_form_data(web_form, bad)
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "fields": [
            "field 'email': unknown target 'emial'; use one of email, phone, first_name, "
            "last_name, company, job_title, address_line, postcode, city, country, "
            "date_of_birth, language, timezone or traits.<key>",
            "add a field with the target email or phone, so a submission can be tied to a person",
        ]
    }
    assert Form.objects.count() == 0


def test_the_admin_saves_a_valid_definition(admin_client: Any, web_form: Any) -> None:
    response = admin_client.post(
        reverse("admin:collection_form_add"), admin_form_data(web_form, [EMAIL])
    )

    form = Form.objects.get()
    assert response.status_code == 302
    assert (form.slug, form.source_id, form.fields, form.consent_purposes) == (
        "newsletter",
        web_form.pk,
        [{**EMAIL, "required": False}],
        ["newsletter"],
    )


def test_the_admin_edits_fields_row_by_row_and_a_blank_row_removes_one(
    admin_client: Any, signup: Form
) -> None:
    page = admin_client.get(reverse("admin:collection_form_change", args=[signup.pk]))
    html = page.content.decode()
    data = {
        "name": signup.name,
        "slug": signup.slug,
        "source": str(signup.source_id),
        "is_active": "on",
        **fields_rows(SIGNUP_FIELDS),
        "consent_purposes": ["newsletter"],
        "thank_you_url": signup.thank_you_url,
        "honeypot_field": "website",
    }
    data |= {"fields-1-name": "", "fields-1-label": ""}  # the steward empties the 2nd row
    data |= {"fields-6-name": "stand", "fields-6-label": "Stand", "fields-6-type": "text"}
    data |= {"fields-6-target": "traits", "fields-6-trait": "stand", "fields-count": "7"}

    response = admin_client.post(reverse("admin:collection_form_change", args=[signup.pk]), data)

    assert 'name="fields-0-label" value="Email"' in html
    assert 'name="consent_purposes" value="partners"' in html
    assert "Add a field" in html
    assert response.status_code == 302
    signup.refresh_from_db()
    assert [field["name"] for field in signup.fields] == [
        "email",
        "phone",
        "country",
        "plan",
        "birthday",
        "stand",
    ]
    assert signup.fields[3]["choices"] == ["free", "pro"]
    assert signup.fields[5] == {
        "name": "stand",
        "label": "Stand",
        "type": "text",
        "target": "traits.stand",
        "required": False,
    }
    assert signup.consent_purposes == ["newsletter"]


def test_the_admin_lists_and_searches_forms(admin_client: Any, signup: Form) -> None:
    response = admin_client.get(reverse("admin:collection_form_changelist"), {"q": "sign"})

    assert response.status_code == 200
    assert [form.pk for form in response.context["cl"].result_list] == [signup.pk]


def test_a_form_may_only_ask_for_active_purposes_with_a_wording() -> None:
    from consent.models import Purpose

    Purpose.objects.create(code="sms", name="SMS", channel="sms")
    Purpose.objects.create(code="old", name="Old", channel="email", is_active=False)

    with pytest.raises(CollectionError) as refused:
        form_validate_definition(
            fields=SIGNUP_FIELDS, consent_purposes=["sms", "old", "nope"], honeypot_field="website"
        )

    assert refused.value.fields == {
        "consent_purposes": [
            "'nope' is not an active purpose (admin → Purposes)",
            "'old' is not an active purpose (admin → Purposes)",
            "'sms' has no wording yet: add one before using it on a form",
        ]
    }


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "ada@example.org", "consent_newsletter": true}',
        b'{"n": 123456789012345678901234567890}',  # past 64 bits: orjson refuses, DRF reads
        b'{"n": NaN}',
        b'{"s": "\\ud800"}',  # a lone surrogate, escaped
        b'{"s": "caf\xc3\xa9"}',
        b'{"s": "\xff"}',  # not UTF-8
        b'\xef\xbb\xbf{"a": 1}',  # a byte-order mark
        b'{"a": 1, "a": 2}',
        b"[1, 2]",
        b"{",
        b"",
    ],
)
def test_the_form_json_parser_answers_as_drf_does(body: bytes) -> None:
    from io import BytesIO

    from rest_framework.exceptions import ParseError
    from rest_framework.parsers import JSONParser

    from collection.api.forms.views import FormJSONParser

    def outcome(parser: JSONParser) -> object:
        try:
            return parser.parse(BytesIO(body), "application/json", {})
        except ParseError:
            return ParseError

    assert outcome(FormJSONParser()) == outcome(JSONParser())


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(_JSON_VALUES, st.booleans())
def test_the_form_json_parser_reads_any_json_as_drf_does(value: object, ascii_only: bool) -> None:
    from io import BytesIO

    from rest_framework.parsers import JSONParser

    from collection.api.forms.views import FormJSONParser

    body = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    try:
        expected = JSONParser().parse(BytesIO(body), "application/json", {})
    except Exception as exc:
        expected = type(exc)
    try:
        found = FormJSONParser().parse(BytesIO(body), "application/json", {})
    except Exception as exc:
        found = type(exc)
    assert found == expected
