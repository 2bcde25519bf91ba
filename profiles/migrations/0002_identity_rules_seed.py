"""Seed the default identity rules and blocked test identifiers (editable in the admin)."""

from django.db import migrations

GENERIC_MAILBOXES = (
    r"^(info|noreply|no-reply|donotreply|do-not-reply|contact|admin|sales|support|hello"
    r"|office|mail|webmaster|postmaster|test)@"
)
DEFAULT_RULES = [
    # kind, priority, max per profile, shared limit
    ("user_id", 0, 1, None),
    ("external_id", 1, None, None),
    ("email", 2, None, 3),
    ("phone", 3, None, 3),
    ("anonymous_id", 4, None, None),
]
DEFAULT_BLOCKS = [
    ("email", GENERIC_MAILBOXES, "generic", "Shared mailboxes, never one person"),
    ("phone", r"^\+1\d{3}55501\d{2}$", "test", "North American fictional numbers 555-01xx"),
    ("phone", r"^\+\d*(\d)\1{6,}$", "test", "Seven or more repeated digits"),
    ("phone", r"^\+\d{0,3}0?123456789$", "test", "123456789"),
]


def seed_rules(apps, schema_editor):
    IdentityRule = apps.get_model("profiles", "IdentityRule")
    BlockedIdentifier = apps.get_model("profiles", "BlockedIdentifier")
    for kind, priority, maximum, shared in DEFAULT_RULES:
        IdentityRule.objects.get_or_create(
            kind=kind,
            defaults={"priority": priority, "max_per_profile": maximum, "shared_limit": shared},
        )
    for kind, pattern, reason, note in DEFAULT_BLOCKS:
        BlockedIdentifier.objects.get_or_create(
            kind=kind, pattern=pattern, defaults={"reason": reason, "note": note}
        )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0001_initial")]

    operations = [migrations.RunPython(seed_rules, migrations.RunPython.noop)]
