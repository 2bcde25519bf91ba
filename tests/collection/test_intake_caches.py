"""The intake's fast paths: cached forms and write keys (and their invalidation), the form
throttle, one query a request, one storability scan a request, imports without it."""

from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import core.rates
from collection.models import Form, ImportJob, IntakeBatch
from collection.services.forms import (
    FormRateLimited,
    form_cache_clear,
    form_lookup,
    form_save,
    form_submit,
)
from collection.services.imports import import_job_create, import_run_batch, import_start
from collection.services.intake import intake_accept, intake_drain
from core.rates import spend
from profiles.models import Event, Profile, Source
from profiles.services import source_rotate_key
from profiles.services.messages import Message
from tests.helpers import in_parallel, postgres_only

pytestmark = pytest.mark.django_db

FIELDS = [{"name": "email", "label": "Email", "target": "email", "type": "email"}]
COMPANY = {"name": "company", "label": "Company", "target": "company", "type": "text"}


@pytest.fixture(autouse=True)
def _own_cache(settings: Any) -> None:
    """Each test starts with an empty cache of its own."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"intake-caches-{uuid4()}",
        }
    }
    settings.CDP_INTAKE_MODE = "buffered"


@pytest.fixture
def signup(web_form: Source) -> Form:
    return form_save(form=Form(name="Sign-up", slug="signup", source=web_form, fields=FIELDS))


@pytest.fixture
def admin_client(client: Client) -> Client:
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(user)
    return client


def _submit(client: Client, slug: str = "signup", email: str = "ada@example.org") -> Any:
    return client.post(
        f"/api/forms/{slug}/submissions", {"email": email}, content_type="application/json"
    )


def _track(client: Client, key: str) -> Any:
    auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    return client.post(
        "/v1/track",
        json.dumps({"userId": "u-1", "event": "Clicked"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )


# --- Cached forms ----------------------------------------------------------------------


def test_a_form_held_in_memory_costs_one_statement_a_submission(
    client: Client, signup: Form
) -> None:
    assert _submit(client, email="first@example.org").status_code == 201

    with CaptureQueriesContext(connection) as queries:
        assert _submit(client, email="second@example.org").status_code == 201

    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    if connection.vendor == "postgresql":
        # The INSERT, which also checks the definition and spends the client's rate.
        assert len(statements) == 1
        assert "INSERT INTO collection_intakebatch" in statements[0]
        assert "core_rateallowance" in statements[0]
    else:  # the same steps one after the other, in one transaction
        assert len(statements) == 4
    assert IntakeBatch.objects.count() == 2


def test_switching_a_form_off_applies_to_the_next_submission(client: Client, signup: Form) -> None:
    assert _submit(client).status_code == 201  # the form is now cached

    signup.is_active = False
    form_save(form=signup)

    assert _submit(client).status_code == 404
    assert IntakeBatch.objects.count() == 1


def test_a_renamed_slug_is_found_at_once_and_the_old_one_is_gone(
    client: Client, signup: Form
) -> None:
    assert _submit(client).status_code == 201

    signup.slug = "join"
    form_save(form=signup)

    assert _submit(client).status_code == 404
    assert _submit(client, slug="join").status_code == 201


def test_an_unknown_slug_is_cached_as_missing_until_the_form_is_created(
    client: Client, web_form: Source, django_assert_num_queries: Any
) -> None:
    assert _submit(client, slug="later").status_code == 404
    with django_assert_num_queries(0):
        assert _submit(client, slug="later").status_code == 404

    form_save(form=Form(name="Later", slug="later", source=web_form, fields=FIELDS))

    assert _submit(client, slug="later").status_code == 201


def test_switching_the_source_off_in_admin_applies_to_its_forms_and_key_at_once(
    client: Client, admin_client: Client, signup: Form, make_source: Any
) -> None:
    source, key = make_source("API", kind="api")
    form_save(form=Form(name="API form", slug="api-form", source=source, fields=FIELDS))
    anonymous = Client()
    assert _submit(anonymous, slug="api-form").status_code == 201
    assert _track(anonymous, key).status_code == 200  # both now cached

    response = admin_client.post(
        f"/admin/profiles/source/{source.pk}/change/",
        {
            "name": source.name,
            "slug": source.slug,
            "kind": source.kind,
            "default_phone_region": "",
            "trust_rank": source.trust_rank,
            # is_active left out: the checkbox is unticked
        },
    )

    assert response.status_code == 302
    assert _submit(anonymous, slug="api-form").status_code == 404
    assert _track(anonymous, key).status_code == 401
    assert _submit(anonymous).status_code == 201  # another source's form is untouched


def test_a_form_deleted_in_admin_is_gone_at_once(
    client: Client, admin_client: Client, signup: Form
) -> None:
    anonymous = Client()
    assert _submit(anonymous).status_code == 201

    response = admin_client.post(f"/admin/collection/form/{signup.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert form_lookup(slug="signup") is None
    assert _submit(anonymous).status_code == 404


def test_a_form_changed_by_another_process_is_read_again_before_a_post_is_stored(
    client: Client, signup: Form
) -> None:
    assert _submit(client).status_code == 201  # this process now holds the definition
    # Another process makes the company field required: this process's memory is not told.
    Form.objects.filter(pk=signup.pk).update(
        fields=[*FIELDS, {**COMPANY, "required": True}], updated_at=timezone.now()
    )

    refused = _submit(client, email="bob@example.org")

    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"company": ["This field is required."]}
    assert IntakeBatch.objects.count() == 1


def test_a_form_switched_off_by_another_process_stores_nothing_and_spends_nothing(
    client: Client, signup: Form, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "form": "2/min"},
    }
    assert _submit(client).status_code == 201
    Form.objects.filter(pk=signup.pk).update(is_active=False, updated_at=timezone.now())

    assert _submit(client).status_code == 404

    Form.objects.filter(pk=signup.pk).update(is_active=True, updated_at=timezone.now())
    form_cache_clear(slugs=["signup"])  # what FORM_MEMORY_SECONDS later does by itself
    assert _submit(client).status_code == 201  # the 404 spent none of the two
    assert IntakeBatch.objects.count() == 2


def test_a_source_changed_by_another_process_is_read_again_for_its_forms(
    client: Client, signup: Form
) -> None:
    assert _submit(client).status_code == 201
    Source.objects.filter(pk=signup.source_id).update(
        allowed_origins=["https://www.example.org"], updated_at=timezone.now()
    )

    foreign = client.post(
        "/api/forms/signup/submissions",
        {"email": "eve@example.org"},
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example.net",
    )

    assert foreign.status_code == 403
    assert IntakeBatch.objects.count() == 1


# --- Cached write keys -----------------------------------------------------------------


def test_a_cached_key_costs_one_query_a_call(
    client: Client, make_source: Any, django_assert_num_queries: Any
) -> None:
    _, key = make_source("API")
    assert _track(client, key).status_code == 200

    with django_assert_num_queries(1):  # the IntakeBatch INSERT
        assert _track(client, key).status_code == 200


def test_a_rotated_key_stops_working_at_once_even_when_cached(
    client: Client, make_source: Any
) -> None:
    source, old = make_source("API")
    assert _track(client, old).status_code == 200

    new = source_rotate_key(source=source)

    assert _track(client, old).status_code == 401
    assert _track(client, new).status_code == 200


def test_a_wrong_key_with_a_cached_prefix_is_refused(client: Client, make_source: Any) -> None:
    _, key = make_source("API")
    assert _track(client, key).status_code == 200

    assert _track(client, key[:-1] + ("x" if key[-1] != "x" else "y")).status_code == 401


# --- Throttle --------------------------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_form_rate_allows_bursts_of_n_then_one_per_period_over_n(
    client: Client, signup: Form, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "form": "3/min"},
    }
    clock = _Clock()
    monkeypatch.setattr(core.rates, "clock", clock)

    burst = [_submit(client, email=f"p{n}@example.org").status_code for n in range(4)]
    clock.now += 19
    early = _submit(client, email="early@example.org")
    clock.now += 1
    refilled = _submit(client, email="refilled@example.org").status_code
    again = _submit(client, email="again@example.org")

    assert burst == [201, 201, 201, 429]
    assert early.status_code == 429
    assert int(early["Retry-After"]) == 1
    assert refilled == 201
    assert again.status_code == 429
    assert int(again["Retry-After"]) == 20
    assert IntakeBatch.objects.count() == 4


def test_invalid_and_honeypot_posts_spend_the_rate_too(
    client: Client, signup: Form, settings: Any
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "120/min", "form": "3/min"},
    }
    invalid = _submit(client, email="not an email")
    bot = client.post(
        "/api/forms/signup/submissions",
        {"email": "bot@example.org", "website": "http://spam.example"},
        content_type="application/json",
    )
    valid = _submit(client)
    over = _submit(client, email="over@example.org")

    assert [r.status_code for r in (invalid, bot, valid, over)] == [400, 201, 201, 429]
    assert IntakeBatch.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_from_one_client_never_exceed_its_allowance(signup: Form) -> None:
    outcomes: list[str] = []

    def post(n: int) -> None:
        for k in range(4):
            try:
                form_submit(
                    form=form_lookup(slug="signup"),
                    data={"email": f"p{n}-{k}@example.org"},
                    origin=None,
                    ip="198.51.100.7",
                    user_agent="",
                    rate=spend(scope="form", ident="198.51.100.7", rate="10/hour"),
                )
                outcomes.append("stored")
            except FormRateLimited:
                outcomes.append("refused")

    assert in_parallel(8, post) == []
    assert sorted(outcomes).count("stored") == 10
    assert len(outcomes) == 32
    assert IntakeBatch.objects.count() == 10


# --- One storability scan a request --------------------------------------------------


def test_a_nul_in_one_message_refuses_it_and_keeps_the_others(make_source: Any) -> None:
    source, _ = make_source("API")

    result = intake_accept(
        source=source,
        messages=[
            Message(type="track", anonymous_id="a-1", name="Kept"),
            Message(type="track", anonymous_id="a-2", name="Bad", properties={"x": "a\x00b"}),
            Message(type="track", anonymous_id="a-3", name="Kept too", traits={"k\ud800": 1}),
        ],
    )

    assert [r.status for r in result.results] == ["accepted", "error", "error"]
    assert result.results[1].errors == {
        "properties": ["contains a NUL character or an invalid Unicode sequence"]
    }
    assert result.results[2].errors == {
        "traits": ["contains a NUL character or an invalid Unicode sequence"]
    }
    (batch,) = IntakeBatch.objects.all()
    assert [m["name"] for m in json.loads(batch.messages)] == ["Kept"]


def test_a_text_that_only_looks_like_an_escaped_nul_is_stored_as_sent(
    make_source: Any,
) -> None:
    source, _ = make_source("API")
    text = "C:\\u0000 is not a NUL"

    result = intake_accept(
        source=source,
        messages=[Message(type="track", anonymous_id="a-1", name="Path", properties={"p": text})],
    )
    intake_drain()

    assert [r.status for r in result.results] == ["accepted"]
    assert Event.objects.get().properties["p"] == text


# --- Imports skip the storability scan ---------------------------------------------------


def test_an_imported_cell_with_a_nul_is_stored_without_it(
    trade_show_source: Source, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(
        [["Email", "Stand"], ["ada@example.org", "B12"], ["bo@example.org", "C\x007"]]
    )
    path = tmp_path / "leads.csv"
    path.write_bytes(buffer.getvalue().encode())
    with path.open("rb") as handle:
        job = import_job_create(
            source=trade_show_source,
            file=File(handle, name=path.name),
            columns={"Email": "email", "Stand": "traits.stand"},
        )

    import_start(job_id=job.pk, run_async=False)
    while import_run_batch(job_id=job.pk).has_more:
        pass

    job = ImportJob.objects.get(pk=job.pk)
    assert (job.status, job.processed_rows, job.error_rows) == ("done", 2, 0)
    assert sorted(p.traits.get("stand") for p in Profile.objects.all()) == ["B12", "C7"]


@pytest.fixture
def trade_show_source(make_source: Any) -> Source:
    source, _ = make_source("Salon", kind="trade_show", default_phone_region="FR")
    return source


@pytest.mark.parametrize("odd", ["\x00", "\ud800"])
def test_an_identifier_with_a_nul_or_lone_surrogate_is_stored_and_ingested_clean(
    make_source: Any, odd: str
) -> None:
    source, _ = make_source("API")

    result = intake_accept(
        source=source, messages=[Message(type="track", user_id=f"u{odd}-1", name="Clicked")]
    )

    assert [r.status for r in result.results] == ["accepted"]
    assert intake_drain() == {"ingested": 1, "failed": 0}
    assert Event.objects.get().name == "Clicked"
