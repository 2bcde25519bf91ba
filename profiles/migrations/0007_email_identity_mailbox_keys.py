"""Email identities hold the mailbox, not the spelling: rewrite the stored values.

A frozen copy of `profiles.normalise.email_key` as it was when this migration was written
(migrations must not import code that can change). A rewritten value another profile
already holds is left as it was: the duplicate scan, which compares the same mailbox
keys, proposes that pair to the steward. A block-list hash of an old value is copied for
the new value.
"""

import hashlib

from django.db import migrations
from rapidfuzz.distance import DamerauLevenshtein

COMMON = frozenset(
    [
        "aol.com",
        "bluewin.ch",
        "btinternet.com",
        "comcast.net",
        "free.fr",
        "freenet.de",
        "gmail.com",
        "gmx.at",
        "gmx.ch",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.co.uk",
        "hotmail.com",
        "hotmail.de",
        "hotmail.es",
        "hotmail.fr",
        "hotmail.it",
        "icloud.com",
        "kpnmail.nl",
        "laposte.net",
        "libero.it",
        "live.com",
        "live.de",
        "live.fr",
        "mac.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "o2.pl",
        "orange.fr",
        "outlook.com",
        "outlook.de",
        "outlook.fr",
        "proton.me",
        "protonmail.com",
        "seznam.cz",
        "sfr.fr",
        "sky.com",
        "skynet.be",
        "t-online.de",
        "telenet.be",
        "verizon.net",
        "virgilio.it",
        "wanadoo.fr",
        "web.de",
        "wp.pl",
        "yahoo.co.uk",
        "yahoo.com",
        "yahoo.de",
        "yahoo.es",
        "yahoo.fr",
        "yahoo.it",
        "yandex.ru",
        "ymail.com",
        "ziggo.nl",
        "zoho.com",
    ]
)
TLD_TYPOS = {"con": "com", "cmo": "com", "ocm": "com", "comm": "com", "cpm": "com", "vom": "com"}
DOTLESS = frozenset({"gmail.com", "googlemail.com"})
TAGGED = frozenset(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "outlook.fr",
        "outlook.de",
        "hotmail.com",
        "hotmail.fr",
        "hotmail.de",
        "hotmail.co.uk",
        "hotmail.it",
        "hotmail.es",
        "live.com",
        "live.fr",
        "live.de",
        "icloud.com",
        "me.com",
        "mac.com",
        "protonmail.com",
        "proton.me",
        "fastmail.com",
    ]
)
BATCH = 2000


def suggestion(domain):
    if domain in COMMON:
        return ""
    best, best_distance = "", 3
    limit = 2 if len(domain) >= 9 else 1
    for known in COMMON:
        distance = DamerauLevenshtein.distance(domain, known, score_cutoff=limit)
        if distance <= limit and distance < best_distance:
            best, best_distance = known, distance
    if best:
        return best
    name, dot, tld = domain.rpartition(".")
    if dot and tld in TLD_TYPOS:
        fixed = f"{name}.{TLD_TYPOS[tld]}"
        return suggestion(fixed) or fixed
    return ""


def email_key(address, domains):
    local, at, domain = address.lower().rpartition("@")
    if not at:
        return address.lower()
    if domain not in domains:
        domains[domain] = suggestion(domain) or domain
    domain = domains[domain]
    if domain in TAGGED and "+" in local[1:]:
        local = local[0] + local[1:].split("+", 1)[0]
    if domain in DOTLESS:
        local = local.replace(".", "") or local
        domain = "gmail.com"
    return f"{local}@{domain}"


def identifier_hash(namespace, value):
    return hashlib.sha256(f"email\x00{namespace}\x00{value}".encode()).hexdigest()


def rekey(apps, schema_editor):
    Identity = apps.get_model("profiles", "Identity")
    BlockedIdentifier = apps.get_model("profiles", "BlockedIdentifier")
    domains = {}
    changed = []
    rows = (
        Identity.objects.filter(kind="email").order_by("pk").values_list("pk", "namespace", "value")
    )
    for pk, namespace, value in rows.iterator(chunk_size=BATCH):
        key = email_key(value, domains)
        if key != value:
            changed.append((pk, namespace, value, key))
    for start in range(0, len(changed), BATCH):
        batch = changed[start : start + BATCH]
        taken = set(
            Identity.objects.filter(
                kind="email", value__in=[key for _, _, _, key in batch]
            ).values_list("namespace", "value")
        )
        for pk, namespace, value, key in batch:
            if (namespace, key) in taken:
                continue  # another profile's (or this one's) already: left to the scan
            taken.add((namespace, key))
            Identity.objects.filter(pk=pk).update(value=key)
            old = identifier_hash(namespace, value)
            for blocked in BlockedIdentifier.objects.filter(kind="email", value_hash=old):
                BlockedIdentifier.objects.get_or_create(
                    kind="email",
                    value_hash=identifier_hash(namespace, key),
                    pattern="",
                    defaults={"reason": blocked.reason, "note": blocked.note},
                )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0006_profile_name_keys")]

    operations = [migrations.RunPython(rekey, migrations.RunPython.noop)]
