"""Identity rules: priority, one user id, blocked values, the steward queue, shared values."""

from __future__ import annotations

from typing import Any

import pytest

from profiles.errors import MergeRefused
from profiles.models import (
    BlockedIdentifier,
    Identity,
    IdentityConflict,
    IdentityRule,
    Profile,
    ProfileMerge,
)
from profiles.services import Message, ingest_messages
from profiles.services.conflicts import identity_conflict_dismiss, identity_conflict_merge
from profiles.services.identity_rules import (
    identifier_hash,
    identifier_mask,
    identity_rules_invalidate,
)
from profiles.services.ingest.pipeline import ingest_batch
from profiles.services.ingest.store import OrmStore

pytestmark = pytest.mark.django_db


@pytest.fixture
def rules(db: None) -> None:
    """The default rules (as migration 0005 seeds them; a flushed database has none)."""
    for kind, priority, maximum, shared in [
        ("user_id", 0, 1, None),
        ("external_id", 1, None, None),
        ("email", 2, None, 3),
        ("phone", 3, None, 3),
        ("anonymous_id", 4, None, None),
    ]:
        IdentityRule.objects.update_or_create(
            kind=kind,
            defaults={"priority": priority, "max_per_profile": maximum, "shared_limit": shared},
        )
    BlockedIdentifier.objects.get_or_create(
        kind="email", pattern=r"^(info|noreply|no-reply|contact)@", defaults={"reason": "generic"}
    )
    BlockedIdentifier.objects.get_or_create(
        kind="phone", pattern=r"^\+\d*(\d)\1{6,}$", defaults={"reason": "test"}
    )
    identity_rules_invalidate()


def send(source: Any, message_id: str, **kwargs: Any) -> int:
    result = ingest_messages(
        source=source, messages=[Message(type="identify", message_id=message_id, **kwargs)]
    )
    assert result.results[0].status == "ok", result.results[0]
    return result.results[0].profile_id


def test_a_generic_mailbox_never_matches_nor_attaches(rules: None, web_form: Any) -> None:
    first = send(web_form, "m1", user_id="u1", traits={"email": "info@lovelace.org"})
    second = send(web_form, "m2", user_id="u2", traits={"email": "info@lovelace.org"})
    third = send(web_form, "m3", traits={"email": "Info@Lovelace.org", "firstName": "Ada"})

    assert len({first, second, third}) == 3
    assert Identity.objects.filter(kind="email").count() == 0
    assert IdentityConflict.objects.count() == 0
    # The value is still the person's email field; only matching ignores it.
    assert Profile.objects.get(pk=first).email == "info@lovelace.org"
    assert Profile.objects.get(pk=third).lifecycle_stage == "lead"


def test_a_test_phone_number_never_matches(rules: None, web_form: Any) -> None:
    first = send(web_form, "m1", traits={"phone": "+33 6 66 66 66 66"})
    second = send(web_form, "m2", traits={"phone": "+33 6 66 66 66 66"})
    assert first != second
    assert Identity.objects.filter(kind="phone").count() == 0


def test_a_couple_sharing_an_email_is_not_fused_and_goes_to_the_queue(
    rules: None, web_form: Any
) -> None:
    alice = send(web_form, "m1", user_id="alice", traits={"email": "home@lovelace.org"})

    bob = send(web_form, "m2", user_id="bob", traits={"email": "home@lovelace.org"})
    send(web_form, "m3", user_id="bob", traits={"email": "home@lovelace.org"})

    assert bob != alice
    assert Identity.objects.get(kind="email").profile_id == alice
    conflict = IdentityConflict.objects.get()
    assert (conflict.profile_id, conflict.other_profile_id, conflict.kind) == (bob, alice, "email")
    assert (conflict.reason, conflict.status) == ("different", "open")
    assert conflict.value_hash == identifier_hash(("email", "", "home@lovelace.org"))
    assert conflict.value_masked == "h***@lovelace.org"


def test_colleagues_behind_one_switchboard_land_on_their_best_identifier(
    rules: None, web_form: Any
) -> None:
    ada = send(web_form, "m1", traits={"email": "ada@lovelace.org", "phone": "+33 1 40 20 50 50"})

    grace = send(
        web_form, "m2", traits={"email": "grace@lovelace.org", "phone": "+33 1 40 20 50 50"}
    )
    later = send(
        web_form, "m3", traits={"phone": "+33 1 40 20 50 50", "email": "grace@lovelace.org"}
    )

    # Email ranks before phone: Grace keeps her own profile, the number stays Ada's.
    assert grace != ada
    assert later == grace
    assert Identity.objects.get(kind="phone").profile_id == ada
    assert list(
        IdentityConflict.objects.values_list("profile_id", "other_profile_id", "reason")
    ) == [(grace, ada, "different")]


def test_priority_is_configurable(rules: None, web_form: Any) -> None:
    ada = send(web_form, "m1", traits={"email": "ada@lovelace.org"})
    desk = send(web_form, "m2", traits={"phone": "+33 1 40 20 50 50"})
    IdentityRule.objects.filter(kind="phone").update(priority=1)
    identity_rules_invalidate()

    landed = send(web_form, "m3", traits={"email": "ada@lovelace.org", "phone": "+33140205050"})

    assert landed == desk != ada


def test_a_maximum_per_kind_keeps_further_identifiers_off_the_profile(
    rules: None, web_form: Any, make_source: Any
) -> None:
    IdentityRule.objects.filter(kind="email").update(max_per_profile=1)
    identity_rules_invalidate()
    crm, _ = make_source("CRM", kind="crm")
    ada = send(crm, "m1", user_id="u1", traits={"email": "ada@lovelace.org"})

    again = send(crm, "m2", user_id="u1", traits={"email": "ada.l@lovelace.org"})

    assert again == ada
    assert list(Identity.objects.filter(kind="email").values_list("value", flat=True)) == [
        "ada@lovelace.org"
    ]


def test_without_a_user_id_limit_two_user_ids_may_share_a_profile(
    rules: None, web_form: Any
) -> None:
    IdentityRule.objects.filter(kind="user_id").update(max_per_profile=None)
    identity_rules_invalidate()
    first = send(web_form, "m1", user_id="u1", traits={"email": "ada@lovelace.org"})
    second = send(web_form, "m2", user_id="u2", traits={"email": "ada@lovelace.org"})
    assert first == second


def test_a_value_claimed_by_too_many_profiles_is_blocked(rules: None, web_form: Any) -> None:
    people = [
        send(web_form, f"m{n}", user_id=f"u{n}", traits={"email": "desk@lovelace.org"})
        for n in range(4)
    ]
    identity_rules_invalidate()  # as the commit of the blocking batch does

    newcomer = send(web_form, "m9", traits={"email": "desk@lovelace.org"})

    blocked = BlockedIdentifier.objects.get(reason="shared")
    assert blocked.value_hash == identifier_hash(("email", "", "desk@lovelace.org"))
    assert newcomer not in people
    assert IdentityConflict.objects.count() == 3


def test_both_stores_apply_the_rules_alike(rules: None, web_form: Any) -> None:
    messages = [
        Message(type="identify", message_id="a", user_id="a", traits={"email": "x@lovelace.org"}),
        Message(type="identify", message_id="b", user_id="b", traits={"email": "x@lovelace.org"}),
        Message(type="identify", message_id="c", traits={"email": "noreply@lovelace.org"}),
    ]
    result = ingest_batch(source=web_form, messages=messages, store=OrmStore())
    assert len({row.profile_id for row in result.results}) == 3
    assert IdentityConflict.objects.count() == 1


def test_a_steward_merges_a_conflict(rules: None, web_form: Any, staff_user: Any) -> None:
    ada = send(web_form, "m1", traits={"email": "ada@lovelace.org", "phone": "+33140205050"})
    other = send(web_form, "m2", traits={"email": "ada.l@lovelace.org", "phone": "+33140205050"})
    conflict = IdentityConflict.objects.get()

    merge = identity_conflict_merge(conflict_id=conflict.pk, actor=staff_user)

    conflict.refresh_from_db()
    assert (merge.survivor_id, merge.absorbed_id) == (ada, other)
    assert (conflict.status, conflict.merge, conflict.resolved_by) == ("merged", merge, staff_user)
    with pytest.raises(MergeRefused):
        identity_conflict_merge(conflict_id=conflict.pk)
    assert ProfileMerge.objects.count() == 1


def test_a_steward_dismisses_a_conflict(rules: None, web_form: Any, staff_user: Any) -> None:
    send(web_form, "m1", traits={"email": "ada@lovelace.org", "phone": "+33140205050"})
    send(web_form, "m2", traits={"email": "grace@lovelace.org", "phone": "+33140205050"})
    conflict = IdentityConflict.objects.get()

    assert identity_conflict_dismiss(conflict_ids=[conflict.pk], actor=staff_user) == 1
    assert identity_conflict_dismiss(conflict_ids=[conflict.pk], actor=staff_user) == 0
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolved_by) == ("dismissed", staff_user)
    assert Profile.objects.filter(status="merged").count() == 0


@pytest.mark.parametrize(
    ("key", "masked"),
    [
        (("email", "", "ada@lovelace.org"), "a***@lovelace.org"),
        (("phone", "", "+33612345678"), "+336******78"),
        (("user_id", "", "u1"), "**"),
    ],
)
def test_masks_hide_most_of_a_value(key: tuple[str, str, str], masked: str) -> None:
    assert identifier_mask(key) == masked
