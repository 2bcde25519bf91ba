"""Double opt-in: pending until the person clicks the signed, expiring link in the email."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from django.core import signing

from consent.errors import InvalidDecision
from consent.links import CONFIRM_SALT
from consent.models import ConsentRecord, Purpose
from consent.selectors import consent_current
from profiles.models import Profile
from tests.consent.helpers import decide

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https://cdp\.example\.org(/consent/confirm/[^/\s]+/)")


def _request_confirmation(
    profile: Profile, purpose: Purpose, capture: Any, **options: Any
) -> ConsentRecord:
    options.setdefault("method", "form")
    options.setdefault("proof", {"form": "signup", "ip": "203.0.113.0"})
    with capture(execute=True):
        record, _ = decide(profile, purpose, email="ada@example.org", **options)
    return record


def _old_token(record_id: int, *, days: int) -> str:
    """A confirmation token signed `days` days ago."""

    class Backdated(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - days * 86_400)

    return Backdated(salt=CONFIRM_SALT).sign_object({"r": record_id})


def test_a_form_grant_waits_for_the_email_confirmation(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    client: Any,
) -> None:
    pending = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)

    assert (pending.status, pending.method, pending.wording.version) == (
        "pending_confirmation",
        "form",
        1,
    )
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert (mail.to, mail.subject) == (["ada@example.org"], "Please confirm: Confirmed news")
    assert "Send me news once I confirm my address." in mail.body
    path = LINK.search(mail.body).group(1)

    page = client.get(path)
    assert page.status_code == 200
    assert b"Yes, I confirm" in page.content
    assert consent_current(profile_id=ada.pk, purpose=confirmed_news) == pending

    done = client.post(path, HTTP_USER_AGENT="Mail/1.0", REMOTE_ADDR="198.51.100.23")

    assert done.status_code == 200
    granted = consent_current(profile_id=ada.pk, purpose=confirmed_news)
    assert (granted.status, granted.method, granted.wording_id) == (
        "granted",
        "double_opt_in",
        pending.wording_id,
    )
    assert {key: granted.proof[key] for key in ("ip", "user_agent", "confirms")} == {
        "ip": "198.51.100.0",
        "user_agent": "Mail/1.0",
        "confirms": pending.pk,
    }
    assert "time" in granted.proof


def test_a_second_click_adds_nothing(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    client: Any,
) -> None:
    _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)
    path = LINK.search(mailoutbox[0].body).group(1)
    client.post(path)

    again = client.post(path)

    assert again.status_code == 200
    assert ConsentRecord.objects.filter(profile=ada).count() == 2


def test_asking_again_while_pending_mails_the_same_request_again(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)

    second = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)

    assert second.pk == first.pk
    assert ConsentRecord.objects.filter(profile=ada).count() == 1
    assert len(mailoutbox) == 2


def test_a_person_already_granted_gets_no_email(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    granted, _ = decide(ada, confirmed_news, method="import", proof={"file": "crm.csv"})

    record = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)

    assert record.pk == granted.pk
    assert mailoutbox == []


def test_without_an_address_a_double_opt_in_grant_is_refused(
    ada: Profile, confirmed_news: Purpose
) -> None:
    with pytest.raises(InvalidDecision, match="confirmation by email") as raised:
        decide(ada, confirmed_news)

    assert list(raised.value.fields) == ["email"]
    assert ConsentRecord.objects.count() == 0


def test_an_expired_link_is_a_400_page_and_changes_nothing(
    ada: Profile,
    confirmed_news: Purpose,
    django_capture_on_commit_callbacks: Any,
    client: Any,
) -> None:
    pending = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)
    token = _old_token(pending.pk, days=8)

    page = client.get(f"/consent/confirm/{token}/")
    response = client.post(f"/consent/confirm/{token}/")

    assert (page.status_code, response.status_code) == (400, 400)
    assert b"This confirmation link has expired." in response.content
    assert list(ConsentRecord.objects.values_list("status", flat=True)) == ["pending_confirmation"]


def test_the_link_lifetime_is_a_setting(
    ada: Profile,
    confirmed_news: Purpose,
    django_capture_on_commit_callbacks: Any,
    client: Any,
    settings: Any,
) -> None:
    settings.CONSENT_CONFIRM_MAX_AGE_DAYS = 10
    pending = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)

    response = client.post(f"/consent/confirm/{_old_token(pending.pk, days=8)}/")

    assert response.status_code == 200
    assert consent_current(profile_id=ada.pk, purpose=confirmed_news).status == "granted"


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: "x" + token,
        lambda token: "not-a-token",
    ],
)
def test_a_tampered_link_is_a_400_page_and_changes_nothing(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    client: Any,
    mangle: Any,
) -> None:
    _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)
    token = LINK.search(mailoutbox[0].body).group(1).split("/")[3]

    response = client.post(f"/consent/confirm/{mangle(token)}/")

    assert response.status_code == 400
    assert b"This link is not valid." in response.content
    assert ConsentRecord.objects.count() == 1


def test_an_unsubscribe_token_cannot_confirm(
    ada: Profile,
    confirmed_news: Purpose,
    django_capture_on_commit_callbacks: Any,
    client: Any,
) -> None:
    pending = _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)
    token = signing.Signer(salt="consent.unsubscribe").sign_object({"r": pending.pk})

    response = client.post(f"/consent/confirm/{token}/")

    assert response.status_code == 400
    assert ConsentRecord.objects.count() == 1


def test_a_link_withdrawn_since_is_refused(
    ada: Profile,
    confirmed_news: Purpose,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: Any,
    client: Any,
) -> None:
    _request_confirmation(ada, confirmed_news, django_capture_on_commit_callbacks)
    decide(ada, confirmed_news, "withdrawn")

    response = client.post(LINK.search(mailoutbox[0].body).group(1))

    assert response.status_code == 409
    assert list(ConsentRecord.objects.order_by("id").values_list("status", flat=True)) == [
        "pending_confirmation",
        "withdrawn",
    ]
