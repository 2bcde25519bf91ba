from typing import Any

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from core.api import exception_handler
from core.errors import DomainError, ErrorCode

pytestmark = pytest.mark.django_db


def test_api_root_needs_authentication(anon_client: Any) -> None:
    response = anon_client.get("/api/")

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "status": 401,
            "code": "not_authenticated",
            "message": "Authentication credentials were not provided.",
        }
    }


def test_api_root_refuses_a_non_staff_user(anon_client: Any, django_user_model: Any) -> None:
    user = django_user_model.objects.create_user(username="eve", password="x" * 12)
    anon_client.force_authenticate(user)

    response = anon_client.get("/api/")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


def test_api_root_answers_a_staff_token(api_client: Any) -> None:
    response = api_client.get("/api/")

    assert response.status_code == 200
    assert set(response.json()) == {"schema", "docs"}


def test_api_root_answers_a_staff_session(client: Any, staff_user: Any) -> None:
    client.force_login(staff_user)

    assert client.get("/api/").status_code == 200


def test_openapi_schema_and_docs_are_served(client: Any) -> None:
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "CDP API"
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_validation_errors_carry_field_messages() -> None:
    error = serializers.ValidationError(
        {"email": ["Enter a valid email address."], "non_field_errors": ["Bad combination."]}
    )

    response = exception_handler(error, {})

    assert response is not None
    assert response.status_code == 400
    assert response.data == {
        "error": {
            "status": 400,
            "code": "invalid",
            "message": "Bad combination.",
            "fields": {"email": ["Enter a valid email address."]},
        }
    }


def test_django_validation_errors_become_400() -> None:
    response = exception_handler(DjangoValidationError({"phone": ["Not a phone number."]}), {})

    assert response is not None
    assert response.status_code == 400
    assert response.data["error"]["fields"] == {"phone": ["Not a phone number."]}


def test_domain_errors_use_their_status_and_code() -> None:
    class MergeConflict(DomainError):
        status = 409
        code = ErrorCode.SURVIVOR_MERGED_SINCE

    error = MergeConflict("Profile 3 was merged into 7.", fields={"survivor": ["already merged"]})
    response = exception_handler(error, {})

    assert response is not None
    assert response.status_code == 409
    assert response.data == {
        "error": {
            "status": 409,
            "code": "survivor_merged_since",
            "message": "Profile 3 was merged into 7.",
            "fields": {"survivor": ["already merged"]},
        }
    }


def test_admin_login_page_is_titled_for_the_cdp(client: Any) -> None:
    response = client.get("/admin/login/")

    assert response.status_code == 200
    assert b"CDP" in response.content


def test_unknown_api_paths_answer_json_404(api_client: Any) -> None:
    response = api_client.get("/api/no-such-thing/")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"status": 404, "code": "not_found", "message": "Not found."}
    }


def test_ping_answers_without_credentials(anon_client: Any, django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(0):
        response = anon_client.post("/api/ping/")

    assert response.status_code == 200
    assert response.json() == {"pong": True}


def test_every_app_error_is_a_domain_error_with_a_code_of_the_vocabulary() -> None:
    import collection.errors
    import consent.errors
    import profiles.errors
    import segments.errors

    errors = [
        value
        for module in (collection.errors, consent.errors, profiles.errors, segments.errors)
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, Exception) and value is not DomainError
    ]

    assert len(errors) > 20
    assert all(issubclass(error, DomainError) for error in errors)
    assert all(isinstance(error.code, ErrorCode) for error in errors)
    assert all(400 <= error.status < 500 for error in errors)
