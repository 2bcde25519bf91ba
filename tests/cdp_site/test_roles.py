import pytest
from django.contrib.auth.models import Group

pytestmark = pytest.mark.django_db


def _codenames(role: str) -> set[str]:
    group = Group.objects.get(name=role)
    return set(group.permissions.values_list("content_type__app_label", "codename"))


def test_the_migration_creates_the_three_steward_groups() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "steward", "admin"}


def test_a_viewer_can_only_view() -> None:
    perms = _codenames("viewer")

    assert ("cdp_site", "view_heartbeat") in perms
    # Besides viewing, only the marker that masks personal data for them.
    assert {(app, codename) for app, codename in perms if not codename.startswith("view_")} == {
        ("consent", "mask_personal_data")
    }


def test_a_steward_manages_the_schedule_but_not_users() -> None:
    perms = _codenames("steward")

    assert ("django_celery_beat", "change_periodictask") in perms
    assert not any(app == "auth" for app, _ in perms)


def test_an_admin_manages_users() -> None:
    perms = _codenames("admin")

    assert ("auth", "add_user") in perms
    assert ("auth", "change_group") in perms


def test_stewards_export_and_only_admins_erase() -> None:
    steward, admin = _codenames("steward"), _codenames("admin")

    assert {("consent", "export_personal_data"), ("consent", "unmask_personal_data")} <= steward
    assert ("consent", "erase_personal_data") not in steward
    assert ("consent", "erase_personal_data") in admin
    assert ("consent", "delete_accesslog") not in admin


def test_viewers_do_not_get_pages_of_raw_personal_data() -> None:
    perms = _codenames("viewer")

    withheld = {("profiles", "view_dataqualityissue"), ("profiles", "view_duplicatecandidate")}
    assert withheld & perms == set()
    assert ("collection", "view_intakebatch") not in perms
    assert ("profiles", "view_dataqualityissue") in _codenames("steward")
