"""Every route × every role × every method answers as its declared policy says.

The routes come from the URL configuration itself: a new API route or admin page without
a policy below fails `test_every_route_has_a_policy`. Standard admin pages (changelist,
add, change, delete, history) follow the model permissions each group holds, and the
offer of the ModelAdmin itself (an action its admin refuses to a superuser is refused to
everyone); every other route declares, per method, the roles that may use it.

A refusal is 403 (401 for an anonymous API call, the login page for an anonymous admin
call). An allowed call may still be a 400, 404 or 405 (the probes send no valid body):
anything but a refusal or a server error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

ROLES = ("anonymous", "nogroup", "viewer", "steward", "admin")
PUBLIC = frozenset(ROLES)
STAFF = frozenset({"nogroup", "viewer", "steward", "admin"})
READ = frozenset({"viewer", "steward", "admin"})
WRITE = frozenset({"steward", "admin"})
ADMINS = frozenset({"admin"})
NOBODY: frozenset[str] = frozenset()

# The tracking API takes a source's write key, never a staff login.
WRITE_KEY = NOBODY

ADMIN_STANDARD = ("changelist", "add", "change", "delete", "history")


@dataclass(frozen=True)
class Policy:
    methods: dict[str, frozenset[str]]
    denied: frozenset[int] = frozenset({403})  # what an authenticated, refused role gets
    query: str = ""
    unavailable_ok: bool = False  # the health check answers 503 without a worker


def _p(
    denied: int = 403, query: str = "", unavailable_ok: bool = False, **methods: frozenset[str]
) -> Policy:
    return Policy(
        methods={m.upper(): roles for m, roles in methods.items()},
        denied=frozenset({denied}),
        query=query,
        unavailable_ok=unavailable_ok,
    )


# Routes by URL name (unnamed routes by their pattern).
POLICIES: dict[str, Policy] = {
    # Site
    "home": _p(get=PUBLIC),  # a redirect to the admin, which asks for a login
    "health": _p(get=PUBLIC, unavailable_ok=True),
    "api-root": _p(get=STAFF),
    "api-ping": _p(get=PUBLIC, post=PUBLIC),
    "api-schema": _p(get=PUBLIC),
    "api-docs": _p(get=PUBLIC),
    # Choosing a language (a cookie) is open to anyone, as on any public page.
    "set_language": _p(post=PUBLIC),
    # Public channels: forms take anyone (origin, honeypot and rate checks), /v1 a write key.
    "form-submit": _p(post=PUBLIC),
    "consent:confirm": _p(get=PUBLIC),
    "consent:unsubscribe": _p(get=PUBLIC, post=PUBLIC),
    "consent:preferences": _p(get=PUBLIC, post=PUBLIC),
    "consent:return": _p(get=PUBLIC, post=PUBLIC),
    **{
        name: _p(post=WRITE_KEY, denied=401)
        for name in (
            "tracking-identify",
            "tracking-track",
            "tracking-page",
            "tracking-screen",
            "tracking-group",
            "tracking-alias",
            "tracking-batch",
            "tracking-import",
        )
    },
    **{
        f"v1/{short}": _p(post=WRITE_KEY, denied=401)
        for short in (
            "identify/",
            "track/",
            "page/",
            "screen/",
            "group/",
            "alias/",
            "batch/",
            "import/",
            "i",
            "t",
            "p",
            "s",
            "g",
            "a",
            "b",
        )
    },
    # Browser SDKs: their settings and beacons take a write key, never a staff login.
    "tracking-segment-settings": _p(get=WRITE_KEY, denied=401),
    "tracking-beacon": _p(post=WRITE_KEY, denied=401),
    "tracking-rudderstack-config": _p(get=WRITE_KEY, denied=401),
    "sourceConfig": _p(get=WRITE_KEY, denied=401),
    # Email tracking: anyone holding a signed link (a bad token is a 404).
    "campaigns:open": _p(get=PUBLIC),
    "campaigns:click": _p(get=PUBLIC),
    # An email service's bounces and complaints: a shared secret's signature, never a login.
    "campaigns:delivery_events": _p(post=NOBODY, denied=401),
    # Email services' tracking webhooks (django-anymail): their signature or credentials.
    "campaigns:esp_mailgun": _p(post=NOBODY, denied=401),
    "campaigns:esp_postmark": _p(post=NOBODY, denied=401),
    "campaigns:esp_brevo": _p(post=NOBODY, denied=401),
    # Profiles API
    "profile-list": _p(get=READ),
    "profile-detail": _p(get=READ),
    "profile-merge": _p(post=WRITE),
    "profile-merge-preview": _p(get=WRITE),
    "profile-events": _p(get=READ),
    "source-list": _p(get=READ, post=WRITE),
    "source-detail": _p(get=READ),
    "source-rotate-key": _p(post=WRITE),
    "merge-list": _p(get=READ),
    "merge-detail": _p(get=READ),
    "merge-undo": _p(post=WRITE),
    # Segments API
    "segment-list": _p(get=READ, post=WRITE),
    "segment-detail": _p(get=READ, patch=WRITE, delete=WRITE),
    "segment-preview": _p(post=READ),
    "segment-refresh": _p(post=WRITE),
    "segment-sizes": _p(get=READ),
    "segment-members": _p(get=READ, post=WRITE, delete=WRITE),
    "segment-profile": _p(get=READ),
    "persona-list": _p(get=READ, post=WRITE),
    "persona-detail": _p(get=READ, patch=WRITE, delete=WRITE),
    # Consent API
    "consent-purpose-list": _p(get=READ),
    "consent-purpose-detail": _p(get=READ),
    "consent-record-list": _p(get=READ, post=WRITE),
    "consent-record-detail": _p(get=READ),
    "consent-profile": _p(get=READ),
    "consent-request-list": _p(get=READ, post=WRITE),
    "consent-request-detail": _p(get=READ),
    "consent-request-verify": _p(post=WRITE),
    "consent-request-extend": _p(post=WRITE),
    "consent-request-reject": _p(post=WRITE),
    "consent-request-execute": _p(post=WRITE),
    # Campaigns API
    "campaign-template-list": _p(get=READ, post=WRITE),
    "campaign-template-detail": _p(get=READ),
    "campaign-template-versions": _p(get=READ, post=WRITE),
    "campaign-template-preview": _p(post=WRITE),
    "campaign-broadcast-list": _p(get=READ, post=WRITE),
    "campaign-broadcast-detail": _p(get=READ),
    "campaign-broadcast-stats": _p(get=READ),
    **{
        f"campaign-broadcast-{action}": _p(post=WRITE)
        for action in ("schedule", "send", "pause", "resume", "cancel")
    },
    "campaign-profile-messages": _p(get=READ),
    "campaign-profile-enrolments": _p(get=READ),
    "campaign-journey-list": _p(get=READ, post=WRITE),
    "campaign-journey-detail": _p(get=READ, delete=WRITE),
    "campaign-journey-validate": _p(post=READ),
    "campaign-journey-simulate": _p(post=READ),
    "campaign-journey-stats": _p(get=READ),
    **{
        f"campaign-journey-{action}": _p(post=WRITE)
        for action in ("versions", "activate", "pause", "resume", "archive", "enrol")
    },
    # Reports API
    "report-list": _p(get=READ),
    "report-detail": _p(get=READ),
    # Admin site pages
    "admin:index": _p(get=STAFF),
    "admin:login": _p(get=PUBLIC),
    "admin:logout": _p(get=PUBLIC),
    "admin:password_change": _p(get=STAFF),
    "admin:password_change_done": _p(get=STAFF),
    "admin:jsi18n": _p(get=STAFF),
    "admin:autocomplete": _p(
        get=READ, query="app_label=segments&model_name=persona&field_name=segment"
    ),
    "admin:app_list": _p(get=READ, denied=404),
    "admin:admin/(?P<url>.*)$": _p(get=STAFF),
    "admin:view_on_site": _p(get=STAFF),
    "admin:auth_user_password_change": _p(get=ADMINS),
    # Admin pages of our own
    "admin:consent_consentrecord_record": _p(get=WRITE),
    "admin:profiles_profilemerge_undo": _p(post=WRITE),
    "admin:profiles_quality_overview": _p(get=WRITE),
    "admin:profiles_quality_run": _p(post=WRITE),
    "admin:collection_importjob_mapping": _p(get=WRITE),
    "admin:collection_importjob_preview": _p(get=WRITE),
    "admin:collection_importjob_start": _p(post=WRITE),
    "admin:collection_importjob_errors": _p(get=WRITE),
    "admin:segments_segment_preview": _p(post=READ),
    "admin:segments_segment_members": _p(get=READ, post=WRITE),
    "admin:segments_segment_export": _p(get=WRITE),
    "admin:campaigns_template_preview": _p(get=READ),
    "admin:campaigns_broadcast_confirm": _p(get=WRITE, post=WRITE),
    "admin:campaigns_broadcast_act": _p(post=WRITE),
    "admin:campaigns_journey_graph": _p(get=READ),
    "admin:campaigns_journey_act": _p(post=WRITE),
    "admin:reports_report_view": _p(get=READ),
}


@dataclass(frozen=True)
class Route:
    key: str
    pattern: str
    callback: Any


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> list[Route]:
    routes: list[Route] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes.extend(_walk(entry, prefix + str(entry.pattern), inner))
        elif isinstance(entry, URLPattern):
            pattern = prefix + str(entry.pattern)
            if "(?P<format>" in pattern:
                continue  # DRF's format suffix: the same view as its route
            key = f"{namespace}{entry.name}" if entry.name else f"{namespace}{pattern}"
            routes.append(Route(key=key, pattern=pattern, callback=entry.callback))
    return routes


ROUTES = _walk(get_resolver())


def _standard_admin(route: Route) -> tuple[Any, str] | None:
    """(model admin, page) of a standard admin page, else None."""
    if not route.key.startswith("admin:"):
        return None
    if route.key.endswith("/<path:object_id>/"):
        # The short form of a change page: a redirect to it, for staff only.
        return None
    for model, model_admin in admin.site._registry.items():
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        page = route.key.removeprefix(prefix)
        if page != route.key and page in ADMIN_STANDARD:
            return model_admin, page
    return None


def _implemented_methods(route: Route) -> set[str] | None:
    """HTTP methods a DRF view answers (None for plain Django views)."""
    view_class = getattr(route.callback, "cls", None)
    if view_class is None:
        return None
    served = set(view_class.http_method_names) - {"head", "options"}
    actions = getattr(route.callback, "actions", None) or {}
    if actions:
        return {method.upper() for method in actions if method in served}
    return {method.upper() for method in served if hasattr(view_class, method)}


def test_every_route_has_a_policy() -> None:
    undeclared = [r.pattern for r in ROUTES if _policy_of(r) is None and _standard_admin(r) is None]
    stale = set(POLICIES) - {r.key for r in ROUTES}

    assert undeclared == []
    assert stale == set()


def _policy_of(route: Route) -> Policy | None:
    if route.key.startswith("admin:") and route.key.endswith("/<path:object_id>/"):
        return _p(get=STAFF)
    return POLICIES.get(route.key)


@pytest.mark.parametrize(
    "route", [r for r in ROUTES if _implemented_methods(r)], ids=lambda r: r.key
)
def test_every_api_method_has_a_policy(route: Route) -> None:
    policy = _policy_of(route)

    assert policy is not None
    assert set(policy.methods) == _implemented_methods(route)


def _path(route: Route, ids: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group("name")
        return ids.get(name, "999999")

    path = re.sub(r"\(\?P<(?P<name>\w+)>[^)]*\)", value, route.pattern)
    path = re.sub(r"<(?:\w+:)?(?P<name>\w+)>", value, path)
    return "/" + path.replace("^", "").replace("$", "")


@pytest.fixture
def clients(db: None) -> dict[str, APIClient]:
    users = get_user_model().objects
    made: dict[str, APIClient] = {"anonymous": APIClient()}
    for role in ROLES[1:]:
        user = users.create_user(username=f"matrix-{role}", password="pw", is_staff=True)
        if role != "nogroup":
            user.groups.add(Group.objects.get(name=role))
        client = APIClient()
        client.force_login(user)
        made[role] = client
    return made


SLUGS = {
    "kind": "unknown",
    "app_label": "profiles",
    "url": "nothing-here/",
    "slug": "no-such-form",
    "token": "not-a-token",
}


@pytest.fixture
def ids(db: None, make_source: Any) -> dict[str, str]:
    """Real rows for the pages that look their object up before checking permissions."""
    from collection.models import ImportJob
    from profiles.models import Profile
    from profiles.services import profile_merge
    from segments.services import segment_create

    source, _ = make_source("Matrix", kind="import")
    survivor = Profile.objects.create(email="survivor@example.org")
    absorbed = Profile.objects.create(email="absorbed@example.org")
    merge = profile_merge(survivor_id=survivor.pk, absorbed_id=absorbed.pk, reason="matrix")
    job = ImportJob.objects.create(
        source=source, file=ContentFile(b"email\nada@example.org\n", name="matrix.csv")
    )
    segment = segment_create(name="Matrix", kind="static", rule=None)
    user = get_user_model().objects.create_user(username="matrix-other")
    return {
        "merge_id": str(merge.pk),
        "job_id": str(job.pk),
        "pk": str(segment.pk),
        "id": str(user.pk),
        **SLUGS,
    }


def _expected_standard(model_admin: Any, page: str, role: str) -> bool:
    """The group's model permission, and the admin's own offer of the action."""
    if role in ("anonymous", "nogroup"):
        return False
    superuser = get_user_model()(is_superuser=True, is_staff=True, is_active=True)
    request = RequestFactory().get("/")
    request.user = superuser
    checks = {
        "changelist": model_admin.has_view_or_change_permission,
        "change": model_admin.has_view_or_change_permission,
        "history": model_admin.has_view_or_change_permission,
        "add": model_admin.has_add_permission,
        "delete": model_admin.has_delete_permission,
    }
    if not checks[page](request):
        return False
    opts = model_admin.model._meta
    actions = {"add": ["add"], "delete": ["delete"]}.get(page, ["view", "change"])
    held = set(
        Group.objects.get(name=role).permissions.values_list("content_type__app_label", "codename")
    )
    return any((opts.app_label, f"{action}_{opts.model_name}") in held for action in actions)


def _to_login(response: Any) -> bool:
    return response.status_code == 302 and "/admin/login/" in response["Location"]


def _refused(route: Route, response: Any, role: str, policy: Policy) -> bool:
    if role == "anonymous":
        if route.key.startswith("admin:"):
            return _to_login(response)
        return response.status_code == 401
    return response.status_code in policy.denied and not _to_login(response)


def _allowed(response: Any, policy: Policy) -> bool:
    server_error = response.status_code >= 500 and not (
        policy.unavailable_ok and response.status_code == 503
    )
    return not server_error and response.status_code not in (401, 403) and not _to_login(response)


def _call(client: APIClient, method: str, path: str) -> Any:
    return getattr(client, method.lower())(path, {} if method != "GET" else None)


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.key)
def test_each_role_gets_what_the_policy_declares(
    route: Route, clients: dict[str, APIClient], request: pytest.FixtureRequest
) -> None:
    # Rows are made only for the pages that need one (it keeps the matrix fast).
    needs_rows = re.search(r"<(?:\w+:)?(merge_id|job_id|pk|id)>", route.pattern)
    ids = request.getfixturevalue("ids") if needs_rows else SLUGS
    standard = _standard_admin(route)
    if standard is not None:
        model_admin, page = standard
        pks = model_admin.model._default_manager.order_by("pk").values_list("pk", flat=True)
        first = pks.first()
        path = _path(route, {**ids, "object_id": str(first if first is not None else 999999)})
        allowed = frozenset(r for r in ROLES if _expected_standard(model_admin, page, r))
        # Django's history page redirects on a missing row before checking permissions.
        denied = {403, 302} if first is None and page == "history" else {403}
        policy = Policy(methods={"GET": allowed}, denied=frozenset(denied))
    else:
        declared = _policy_of(route)
        assert declared is not None, f"no policy for {route.pattern}"
        policy = declared
        path = _path(route, ids)
    if policy.query:
        path = f"{path}?{policy.query}"
    wrong = []
    for method, allowed_roles in policy.methods.items():
        for role in ROLES:
            response = _call(clients[role], method, path)
            ok = (
                _allowed(response, policy)
                if role in allowed_roles
                else _refused(route, response, role, policy)
            )
            if not ok:
                wrong.append((method, role, response.status_code))
    assert wrong == []
