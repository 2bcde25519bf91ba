"""Shared fixtures: users, API clients, and helpers to talk to real processes."""

from __future__ import annotations

import copy
import os
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from rest_framework.test import APIClient

from core.tokens import api_token_create

# CI runs the suite on a loaded 2-core machine, twice at once with xdist: a slow draw is
# the machine, not the property. `.ci/run` sets CI=1; HYPOTHESIS_PROFILE picks one by name.
hypothesis_settings.register_profile(
    "ci", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
hypothesis_settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default")
)


@pytest.fixture(autouse=True)
def _fast_password_hasher(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def staff_user(db: None) -> Any:
    """A steward: staff rights come from the group, never from `is_staff` alone."""
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        username="ada", password="correct horse battery", is_staff=True
    )
    user.groups.add(Group.objects.get(name="steward"))
    return user


@pytest.fixture
def role_user(db: None) -> Any:
    """role_user("viewer" | "steward" | "admin") -> a staff user in that group."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    def make(role: str) -> Any:
        user = get_user_model().objects.create_user(
            username=f"{role}-user", password="pw", is_staff=True, email=f"{role}@cdp.test"
        )
        user.groups.add(Group.objects.get(name=role))
        return user

    return make


def _used_token(user: Any) -> str:
    """A token's key, marked as just used: query counts then measure the view, not the
    token's first-use write (`core.tokens.LAST_USED_RESOLUTION`)."""
    from django.utils import timezone

    from core.models import ApiToken

    token, key = api_token_create(user=user, name="tests")
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return key


@pytest.fixture
def role_client(role_user: Any) -> Any:
    """role_client(role) -> an API client authenticated as a user of that role."""
    from rest_framework.test import APIClient

    def make(role: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {_used_token(role_user(role))}")
        return client

    return make


@pytest.fixture
def api_client(staff_user: Any) -> APIClient:
    """A client authenticated with the staff user's API token."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {_used_token(staff_user)}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


def current_database_url() -> str:
    """The URL of the database the tests run on, for a child process to share it."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    auth = ""
    if conf.get("USER"):
        auth = quote(conf["USER"], safe="")
        if conf.get("PASSWORD"):
            auth += ":" + quote(conf["PASSWORD"], safe="")
        auth += "@"
    host = conf.get("HOST") or "localhost"
    port = f":{conf['PORT']}" if conf.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{conf['NAME']}"


@pytest.fixture
def make_source(db: None) -> Any:
    """make_source(name, kind=..., **options) -> (Source, write_key)."""
    from profiles.services import source_create

    def make(name: str, *, kind: str = "api", **options: Any) -> Any:
        return source_create(name=name, kind=kind, **options)

    return make


@pytest.fixture
def web_form(make_source: Any) -> Any:
    source, _ = make_source("Website sign-up", kind="web_form", default_phone_region="FR")
    return source


@pytest.fixture
def crm(make_source: Any) -> Any:
    source, _ = make_source("CRM export", kind="crm", trust_rank=90)
    return source


@pytest.fixture(autouse=True)
def _isolated_cache(settings: Any) -> None:
    """Each test gets its own cache key space.

    The cache (Redis, or files under var/) is shared by the xdist workers, whose databases
    number their rows differently, and outlives a test's rolled-back rows: a form or write
    key cached by one test must never be read by another.
    """
    caches = copy.deepcopy(settings.CACHES)
    caches["default"]["KEY_PREFIX"] = f"test-{os.getpid()}-{uuid.uuid4().hex[:12]}"
    settings.CACHES = caches


@pytest.fixture(autouse=True)
def _forms_forgotten() -> None:
    """Forms a process remembers (FORM_MEMORY_SECONDS) are those of an earlier test's database."""
    from collection.services import forms

    forms._forms.clear()


@pytest.fixture(autouse=True)
def _intake_sync(settings: Any) -> None:
    """Most tests read the database right after a request: run intake in the request.

    The buffered path (the production default) has its own tests, which switch back.
    """
    settings.CDP_INTAKE_MODE = "sync"


@pytest.fixture
def purposes(db: None) -> dict[str, Any]:
    """The consent purposes forms ask for in tests, each with a first wording."""
    from consent.models import Purpose
    from consent.services import purpose_wording_add

    made = {}
    for code, text in (
        ("newsletter", "Send me the monthly newsletter."),
        ("partners", "Send me offers from partners."),
    ):
        purpose = Purpose.objects.create(code=code, name=code.title(), channel="email")
        purpose_wording_add(purpose=purpose, text=text)
        made[code] = purpose
    return made


@pytest.fixture(autouse=True)
def _fresh_quality_rules() -> Any:
    """Each test reads the data-quality rules of its own database, not a cached copy."""
    from profiles.services.quality.config import quality_config_forget

    quality_config_forget()
    yield
    quality_config_forget()


@pytest.fixture
def smtp_sink(settings: Any) -> Any:
    """A real SMTP server (aiosmtpd) that Django's mail goes to; what it received."""
    from tests.mail import smtp_server

    with smtp_server(settings) as sink:
        yield sink
