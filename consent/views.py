"""Public pages people reach from emails: confirm, unsubscribe, preferences.

Links carry signed tokens instead of a login. A GET never changes anything (mail
scanners follow links); a tampered, expired or superseded link answers a friendly page
with a 4xx status and changes nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from consent.errors import ConsentError, InvalidLink, ProfileUnavailable
from consent.links import (
    preferences_token_make,
    preferences_token_read,
    return_token_read,
    unsubscribe_token_read,
)
from consent.models import Purpose
from consent.proof import client_ip
from consent.selectors import (
    consent_confirmation_request,
    consent_current,
    consent_in_force,
    consent_profile_id,
    consent_profile_language,
    consent_state_for_profile,
)
from consent.services import (
    consent_confirm,
    consent_preferences_update,
    consent_unsubscribe,
    suppression_return_confirm,
)
from core.i18n import in_person_language

ONE_CLICK_KEY = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


def _user_agent(request: HttpRequest) -> str:
    return request.headers.get("User-Agent", "")


def _render_for(
    request: HttpRequest, profile_id: int, template: str, context: dict[str, object]
) -> HttpResponse:
    """A person's page in the person's language (their profile's, else their browser's)."""
    with in_person_language(stated=consent_profile_language(profile_id=profile_id)) as language:
        response = render(request, template, context)
    response.headers["Content-Language"] = language
    return response


def _link_error(request: HttpRequest, error: ConsentError) -> HttpResponse:
    return render(
        request,
        "consent/invalid_link.html",
        {"message": str(error), "code": error.code},
        status=error.status,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows the request and a button; POST records the grant with the click's proof."""
    try:
        if request.method == "POST":
            record, _ = consent_confirm(
                token=token, ip=client_ip(request), user_agent=_user_agent(request)
            )
            return _render_for(
                request, record.profile_id, "consent/confirmed.html", {"purpose": record.purpose}
            )
        pending = consent_confirmation_request(token=token)
        profile_id = consent_profile_id(profile_id=pending.profile_id)
    except ConsentError as error:
        return _link_error(request, error)
    current = consent_current(profile_id=profile_id, purpose=pending.purpose)
    if consent_in_force(record=current):
        return _render_for(
            request, profile_id, "consent/confirmed.html", {"purpose": pending.purpose}
        )
    return _render_for(
        request,
        profile_id,
        "consent/confirm.html",
        {"purpose": pending.purpose, "wording": pending.wording},
    )


# The RFC 8058 one-click POST comes from the mail provider, without a CSRF token; the
# signed token is what authorises the withdrawal.
@csrf_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET shows a button; POST withdraws (also as an RFC 8058 one-click POST)."""
    one_click = request.POST.get(ONE_CLICK_KEY) == ONE_CLICK_VALUE
    try:
        profile_id, purpose_id = unsubscribe_token_read(token=token)
        purpose = Purpose.objects.filter(pk=purpose_id).first()
        if purpose is None:
            raise InvalidLink(gettext("This link is not valid."))
        if request.method == "POST":
            consent_unsubscribe(
                token=token,
                ip=client_ip(request),
                user_agent=_user_agent(request),
                one_click=one_click,
            )
    except ProfileUnavailable:
        pass  # an erased person is contacted by nobody: the answer is the same
    except ConsentError as error:
        return _link_error(request, error)
    if request.method == "GET":
        return _render_for(request, profile_id, "consent/unsubscribe.html", {"purpose": purpose})
    if one_click:
        with in_person_language(stated=consent_profile_language(profile_id=profile_id)):
            text = gettext("Unsubscribed.")
        return HttpResponse(f"{text}\n", content_type="text/plain; charset=utf-8")
    # The same link may open the person's preference page, to see or undo the choice.
    preferences_path = reverse(
        "consent:preferences", kwargs={"token": preferences_token_make(profile_id=profile_id)}
    )
    return _render_for(
        request,
        profile_id,
        "consent/unsubscribed.html",
        {"purpose": purpose, "preferences_path": preferences_path},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    """Every purpose with the person's current choice; saving records what changed."""
    try:
        if request.method == "POST":
            shown = request.POST.getlist("shown")
            ticked = set(request.POST.getlist("granted"))
            versions: dict[str, int] = {}
            for code in shown:
                value = request.POST.get(f"version_{code}", "")
                if value.isdigit():
                    versions[code] = int(value)
            consent_preferences_update(
                token=token,
                choices={code: code in ticked for code in shown},
                shown_versions=versions,
                ip=client_ip(request),
                user_agent=_user_agent(request),
            )
            url = reverse("consent:preferences", kwargs={"token": token})
            return HttpResponseRedirect(f"{url}?saved=1", status=303)
        profile_id = consent_profile_id(profile_id=preferences_token_read(token=token))
    except ConsentError as error:
        return _link_error(request, error)
    rows = [
        # A box can be unticked while in force; ticked only on an active purpose with a text.
        {
            "state": state,
            "purpose": state.purpose,
            "editable": state.in_force
            or (state.purpose.is_active and state.purpose.current_version is not None),
        }
        for state in consent_state_for_profile(profile_id=profile_id)
    ]
    return _render_for(
        request,
        profile_id,
        "consent/preferences.html",
        {"rows": rows, "saved": request.GET.get("saved") == "1"},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def come_back(request: HttpRequest, token: str) -> HttpResponse:
    """An erased person asks to be known again: GET shows a button, POST (the click) lifts
    their suppression; they then sign up again like anyone."""
    try:
        if request.method == "POST":
            suppression_return_confirm(
                token=token, ip=client_ip(request), user_agent=_user_agent(request)
            )
            return render(request, "consent/returned.html")
        return_token_read(token=token)
    except ConsentError as error:
        return _link_error(request, error)
    return render(request, "consent/return.html")
