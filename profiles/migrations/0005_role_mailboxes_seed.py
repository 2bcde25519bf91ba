"""Seed the role mailboxes (French and English) as patterns the steward can extend."""

from django.db import migrations

ROLES = {
    "Role mailboxes shared by colleagues (French)": (
        "accueil|agence|assistance|bonjour|boutique|bureau|cabinet|commande|commandes|"
        "commercial|commerciale|communication|compta|comptabilite|direction|equipe|"
        "facturation|factures|information|infos|juridique|magasin|mairie|ne-pas-repondre|"
        "nepasrepondre"
    ),
    "Role mailboxes shared by colleagues (French, services)": (
        "dpo|export|presse|recrutement|reservation|reservations|rgpd|rh|sav|secretariat|"
        "service|service-client|service-clients|serviceclient|standard|ventes"
    ),
    "Role mailboxes shared by colleagues (English)": (
        "accounting|accounts|admin|administration|billing|careers|contact|contacts|"
        "enquiries|finance|hello|help|helpdesk|hr|info|inquiries|jobs|legal|marketing|"
        "newsletter|no-reply|noreply|office|orders|press|privacy|reception|sales|support|team"
    ),
}
# The role, then perhaps a qualifier: contact@, contact.paris@, rh-lyon@, accueil2@.
SUFFIX = "([._+-][a-z0-9._+-]*)?[0-9]*@"


def seed_roles(apps, schema_editor):
    BlockedIdentifier = apps.get_model("profiles", "BlockedIdentifier")
    for note, roles in ROLES.items():
        BlockedIdentifier.objects.get_or_create(
            kind="email",
            pattern=f"^({roles}){SUFFIX}",
            defaults={"reason": "generic", "note": note},
        )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0004_blocked_identifier_names_reason")]

    operations = [migrations.RunPython(seed_roles, migrations.RunPython.noop)]
