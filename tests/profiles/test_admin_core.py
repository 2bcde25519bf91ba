import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.management import CommandError, call_command

from profiles.models import Profile, Source
from profiles.services import Message, ingest_messages, source_authenticate

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Any) -> Any:
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    client.force_login(user)
    return client


def _key_from_messages(response: Any) -> str:
    texts = " ".join(str(m) for m in get_messages(response.wsgi_request))
    return re.search(r"(wk_\S+)", texts).group(1)


def test_adding_a_source_in_admin_shows_a_working_key_once(admin_client: Any) -> None:
    response = admin_client.post(
        "/admin/profiles/source/add/",
        {
            "name": "Salon 2026",
            "slug": "salon-2026",
            "kind": "trade_show",
            "allowed_origins": ["https://www.example.org/", "shop.example.org"],
            "default_phone_region": "FR",
            "trust_rank": "40",
            "is_active": "on",
        },
    )

    key = _key_from_messages(response)
    assert response.status_code == 302
    assert source_authenticate(write_key=key, client="127.0.0.1").slug == "salon-2026"
    assert Source.objects.get().default_phone_region == "FR"
    assert Source.objects.get().allowed_origins == [
        "https://www.example.org",
        "https://shop.example.org",
    ]


def test_allowed_origins_are_edited_one_an_input_and_a_path_is_refused(
    admin_client: Any, make_source: Any
) -> None:
    source, _ = make_source("Site", kind="web_form", allowed_origins=["https://a.example.org"])
    url = f"/admin/profiles/source/{source.pk}/change/"
    data = {"name": "Site", "slug": source.slug, "kind": "web_form", "trust_rank": "50"}

    page = admin_client.get(url).content.decode()
    refused = admin_client.post(url, {**data, "allowed_origins": ["https://b.example.org/form"]})
    emptied = admin_client.post(url, {**data, "allowed_origins": ["", ""]})

    assert 'name="allowed_origins" value="https://a.example.org"' in page
    assert page.count('<input type="text" name="allowed_origins"') == 3  # value, 2 blanks
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["allowed_origins"] == [
        "https://b.example.org/form has a path: an origin is only https://host (and a port)"
    ]
    assert emptied.status_code == 302
    source.refresh_from_db()
    assert source.allowed_origins == []


def test_the_rotate_action_replaces_the_key(admin_client: Any, make_source: Any) -> None:
    source, old = make_source("CRM")

    response = admin_client.post(
        "/admin/profiles/source/",
        {
            "action": "rotate_write_keys",
            "_selected_action": [source.pk],
        },
    )

    new = _key_from_messages(response)
    assert source_authenticate(write_key=new, client="127.0.0.1").pk == source.pk
    with pytest.raises(Exception, match="revoked"):
        source_authenticate(write_key=old, client="127.0.0.1")


def test_the_360_page_shows_sources_of_each_value_and_the_timeline(
    admin_client: Any, web_form: Any, crm: Any
) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="identify", traits={"email": "ada@example.org", "lastName": "Lovelace"}),
            Message(type="track", traits={"email": "ada@example.org"}, name="Webinar Joined"),
        ],
    )
    ingest_messages(
        source=crm,
        messages=[
            Message(type="identify", traits={"email": "ada@example.org", "lastName": "King"}),
        ],
    )
    profile = Profile.objects.get()

    response = admin_client.get(f"/admin/profiles/profile/{profile.pk}/change/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Where each value came from" in html
    assert "Website sign-up" in html
    assert "CRM export" in html
    assert "Webinar Joined" in html
    assert profile.last_name == "King"


def test_the_admin_search_uses_email_phone_and_name(admin_client: Any, web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(type="identify", traits={"email": "ada@example.org", "lastName": "Lovelace"}),
            Message(type="identify", traits={"email": "alan@example.org", "lastName": "Turing"}),
        ],
    )

    response = admin_client.get("/admin/profiles/profile/", {"q": "turi"})

    assert b"alan@example.org" in response.content
    assert b"ada@example.org" not in response.content


@pytest.mark.parametrize(
    "query",
    [
        "amelie durand",
        "Durand Amélie",
        "AMÉLIE",
        "amel",
        "durand",
        "06 12 34 56 78",
        "0612345678",
        "+33 6 12 34 56 78",
        "a.durand@",
        "a.dur",
    ],
)
def test_the_admin_search_finds_a_person_as_a_steward_types_them(
    admin_client: Any, web_form: Any, query: str
) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                traits={
                    "email": "a.durand@example.fr",
                    "firstName": "Amélie",
                    "lastName": "Durand",
                    "phone": "06 12 34 56 78",
                },
            ),
            Message(
                type="identify",
                traits={"email": "emile@example.fr", "firstName": "Émile", "lastName": "Zola"},
            ),
        ],
    )

    response = admin_client.get("/admin/profiles/profile/", {"q": query})

    assert b"a.durand@example.fr" in response.content
    assert b"emile@example.fr" not in response.content


def test_the_name_keys_fold_accents_and_case_in_the_database(web_form: Any) -> None:
    ingest_messages(
        source=web_form,
        messages=[
            Message(
                type="identify",
                traits={"email": "e@example.fr", "firstName": "ÉLODIE", "lastName": "Lœuvre-Ça"},
            )
        ],
    )

    keys = Profile.objects.values_list("first_name_key", "last_name_key").get()

    assert keys == ("elodie", "louvre-ca")  # one character for one: œ → o


def test_cdp_source_create_prints_the_key_last() -> None:
    out = StringIO()

    call_command(
        "cdp_source_create", "--name", "Newsletter", "--kind", "email_platform", stdout=out
    )

    key = out.getvalue().strip().splitlines()[-1]
    assert source_authenticate(write_key=key, client="127.0.0.1").slug == "newsletter"


def test_cdp_source_create_refuses_a_taken_slug(make_source: Any) -> None:
    make_source("Newsletter")

    with pytest.raises(CommandError, match="exists already"):
        call_command(
            "cdp_source_create", "--name", "Newsletter", "--kind", "api", stdout=StringIO()
        )
    assert Source.objects.count() == 1
