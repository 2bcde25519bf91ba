"""Demo data of the profiles app: four channels that know overlapping people.

Deterministic (a fixed seed, message ids derived from it), so loading twice adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import F, OuterRef, Subquery
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from consent.demo import consent_demo_requests_recorded
from profiles.models import Event, Identity, Profile, Source
from profiles.services import Message, ingest_messages, source_create
from profiles.services.duplicates import duplicates_scan

FIRST = [
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Tim",
    "Barbara",
    "Ken",
    "Frances",
    "Dennis",
    "Hedy",
    "Claude",
    "Radia",
    "Edsger",
    "Katherine",
    "John",
    "Sophie",
    "Lucas",
    "Chloé",
    "Hugo",
    "Léa",
    "Louis",
    "Emma",
    "Jules",
    "Manon",
    "Nathan",
    "Camille",
    "Enzo",
]
LAST = [
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Berners-Lee",
    "Liskov",
    "Thompson",
    "Allen",
    "Ritchie",
    "Lamarr",
    "Shannon",
    "Perlman",
    "Dijkstra",
    "Johnson",
    "Backus",
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Ent.",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
]
TITLES = [
    "Marketing Manager",
    "Head of Sales",
    "CTO",
    "Data Analyst",
    "HR Director",
    "CFO",
    "Operations Lead",
    "Developer",
]
CITIES = [
    ("Paris", "75011", "FR"),
    ("Lyon", "69002", "FR"),
    ("Nantes", "44000", "FR"),
    ("Bruxelles", "1000", "BE"),
    ("Genève", "1201", "CH"),
    ("London", "EC1A 1BB", "GB"),
]
CAMPAIGNS = [
    ("newsletter", "email", "autumn-offer"),
    ("google", "cpc", "brand"),
    ("linkedin", "social", "webinar-cdp"),
    ("salon", "event", "salon-data-2026"),
]
PAGES = ["/", "/pricing", "/features", "/blog/gdpr-consent", "/contact", "/webinar"]

SOURCES = [
    ("Website sign-up", "website", Source.Kind.WEB_FORM, 50, ["http://127.0.0.1:8000"]),
    ("Salon Data 2026 badge scans", "salon-data-2026", Source.Kind.TRADE_SHOW, 40, []),
    ("CRM export", "crm", Source.Kind.CRM, 90, []),
    ("Newsletter platform", "newsletter", Source.Kind.EMAIL_PLATFORM, 60, []),
]


def demo_person(rng: random.Random, n: int) -> dict[str, str]:
    # Every (first, last) pair once: namesakes would crowd the duplicate review queue.
    first, last = FIRST[n % len(FIRST)], LAST[(n * 7 + n // len(FIRST)) % len(LAST)]
    city, postcode, country = CITIES[n % len(CITIES)]
    return {
        "email": f"{first.lower().replace('é', 'e')}.{last.lower()}{n}@example.org",
        "first_name": first,
        "last_name": last,
        "company": COMPANIES[n % len(COMPANIES)],
        "title": TITLES[n % len(TITLES)],
        "city": city,
        "postcode": postcode,
        "country": country,
        "phone": f"+33612{rng.randint(100_000, 999_999)}",
    }


def _stamp(start: datetime, rng: random.Random, days: int = 120) -> str:
    return (start + timedelta(minutes=rng.randint(0, days * 24 * 60))).isoformat()


def profiles_demo_load(*, people: int = 200, log: Callable[[str], None] = print) -> dict[str, int]:
    """Create the demo sources (printing new write keys) and their messages; idempotent."""
    sources: dict[str, Source] = {}
    for name, slug, kind, rank, origins in SOURCES:
        source = Source.objects.filter(slug=slug).first()
        if source is None:
            source, key = source_create(
                name=name,
                slug=slug,
                kind=kind,
                trust_rank=rank,
                allowed_origins=origins,
                default_phone_region="FR",
            )
            log(f"Demo source {slug!r} write key: {key}")
        sources[slug] = source
    rng = random.Random(20261128)  # noqa: S311  (demo data, not security)
    start = timezone.now().replace(microsecond=0) - timedelta(days=120)
    batches: dict[str, list[Message]] = {slug: [] for slug in sources}
    for n in range(people):
        person = demo_person(rng, n)
        anonymous_id = f"demo-anon-{n}"
        # Everybody browses the site first, anonymously, from a campaign.
        utm_source, utm_medium, utm_campaign = CAMPAIGNS[n % len(CAMPAIGNS)]
        for visit in range(rng.randint(1, 5)):
            path = rng.choice(PAGES)
            batches["website"].append(
                Message(
                    type="page",
                    message_id=f"demo-page-{n}-{visit}",
                    anonymous_id=anonymous_id,
                    name=path,
                    properties={"path": path},
                    context={
                        "page": {
                            "url": f"http://127.0.0.1:8000{path}?utm_source={utm_source}"
                            f"&utm_medium={utm_medium}&utm_campaign={utm_campaign}"
                        }
                    },
                    timestamp=_stamp(start, rng, 60),
                )
            )
        if n % 3 != 2:  # two in three sign up on the website
            batches["website"].append(
                Message(
                    type="form",
                    message_id=f"demo-form-{n}",
                    anonymous_id=anonymous_id,
                    name="newsletter-signup",
                    traits={
                        "email": person["email"],
                        "firstName": person["first_name"],
                        "lastName": person["last_name"],
                    },
                    context={
                        "consent": {"newsletter": {"granted": True, "form": "newsletter-signup"}}
                    },
                    timestamp=_stamp(start + timedelta(days=60), rng, 59),  # the last two months,
                )
            )
        if n % 4 == 0:  # a quarter met us at the trade show; badges shout in capitals
            batches["salon-data-2026"].append(
                Message(
                    type="import",
                    message_id=f"demo-badge-{n}",
                    traits={
                        "email": person["email"].upper(),
                        "firstName": person["first_name"].upper(),
                        "lastName": person["last_name"].upper(),
                        "company": person["company"],
                        "title": person["title"],
                        "phone": person["phone"],
                    },
                    timestamp=(start + timedelta(days=45)).isoformat(),
                )
            )
        if n % 40 == 1:  # a few CRM customers left a personal address at the show, and a typo
            batches["salon-data-2026"].append(
                Message(
                    type="import",
                    message_id=f"demo-badge-again-{n}",
                    traits={
                        "email": f"{person['last_name'].lower()}.{n}@gmail.example",
                        "firstName": person["first_name"],
                        "lastName": person["last_name"][:-1] + person["last_name"][-1] * 2,
                        # Some have changed jobs since.
                        "company": person["company"] if n % 80 == 1 else "Umbrella",
                        "city": person["city"],
                        "postalCode": person["postcode"],
                    },
                    timestamp=(start + timedelta(days=46)).isoformat(),
                )
            )
        if n % 5 in (0, 1):  # the CRM knows the customers, with the most trusted values
            batches["crm"].append(
                Message(
                    type="identify",
                    message_id=f"demo-crm-{n}",
                    external_id=f"CRM-{1000 + n}",
                    traits={
                        "email": person["email"],
                        "firstName": person["first_name"],
                        "lastName": person["last_name"],
                        "company": person["company"],
                        "title": person["title"],
                        "city": person["city"],
                        "postalCode": person["postcode"],
                        "country": person["country"],
                        # French speakers read the demo's emails in French.
                        "language": "en" if person["country"] == "GB" else "fr",
                        "phone": person["phone"],
                        "account_tier": rng.choice(["gold", "silver"]),
                    },
                    timestamp=_stamp(start, rng, 120),
                )
            )
        if n % 5 in (0, 1) and n % 3 != 2:  # signed-up customers ordered on the website
            batches["website"].append(
                Message(
                    type="track",
                    message_id=f"demo-order-{n}",
                    anonymous_id=anonymous_id,
                    name="Order Completed",
                    properties={"order_id": f"D-{5000 + n}", "revenue": rng.choice([49, 99, 249])},
                    timestamp=_stamp(start + timedelta(days=90), rng, 30),
                )
            )
        if n % 3 != 2:  # the newsletter platform reports opens and clicks
            for k in range(rng.randint(0, 4)):
                batches["newsletter"].append(
                    Message(
                        type="track",
                        message_id=f"demo-mail-{n}-{k}",
                        name=rng.choice(["Email Opened", "Email Opened", "Email Link Clicked"]),
                        traits={"email": person["email"]},
                        properties={"campaign": "autumn-offer"},
                        context={
                            "campaign": {
                                "source": "newsletter",
                                "medium": "email",
                                "name": "autumn-offer",
                            }
                        },
                        timestamp=_stamp(start + timedelta(days=90), rng, 30),
                    )
                )
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    # Website first so anonymous visits exist before the other channels name the people.
    for slug in ("website", "salon-data-2026", "crm", "newsletter"):
        messages = batches[slug]
        for offset in range(0, len(messages), 500):
            result = ingest_messages(source=sources[slug], messages=messages[offset : offset + 500])
            totals["duplicates"] += sum(1 for r in result.results if r.status == "duplicate")
            totals["accepted"] += sum(1 for r in result.results if r.status == "ok")
            totals["rejected"] += result.rejected
    return totals


def profiles_demo_backdate() -> int:
    """Date each demo person's arrival, and each of their identities, to their first event
    (up to 120 days ago), as if the CDP had been collecting all along: new people per week,
    per source and sign-up month then show real curves; and give them lifecycle stages.
    Touches only people with an identity from a demo source; how many people moved."""
    demo = Identity.objects.filter(source__slug__in=[slug for _n, slug, *_r in SOURCES])
    people = Profile.objects.filter(
        pk__in=demo.values("profile_id"), first_seen_at__lt=F("created_at")
    ).update(created_at=F("first_seen_at"))
    first_event = (
        Event.objects.filter(profile_id=OuterRef("profile_id"), source_id=OuterRef("source_id"))
        .order_by("occurred_at")
        .values("occurred_at")[:1]
    )
    demo.update(created_at=Least(F("created_at"), Coalesce(Subquery(first_event), F("created_at"))))
    # Where the demo's people stand: those who ordered are customers, the CRM's other
    # contacts prospects (a steward or a journey's step moves them in real life).
    ordered = Event.objects.filter(name="Order Completed", source__slug="website")
    known = Profile.objects.filter(pk__in=demo.values("profile_id"), status="active")
    known.filter(pk__in=ordered.values("profile_id")).update(lifecycle_stage="customer")
    known.filter(
        pk__in=demo.filter(source__slug="crm").values("profile_id"), lifecycle_stage="lead"
    ).update(lifecycle_stage="prospect")
    return people


def profiles_demo_request_subjects() -> list[str]:
    """Email addresses for the demo's data-subject requests (consent.demo): demo people,
    and at the fourth place someone only the CRM knew, created here, whose erasure the
    demo carries out. Empty once the demo recorded its requests."""
    if consent_demo_requests_recorded():
        return []
    people = list(
        Profile.objects.filter(status="active", identities__source__slug="crm")
        .exclude(email="")
        .order_by("pk")
        .values_list("email", flat=True)
        .distinct()[:6]
    )
    erased = "camille.effacement@example.org"
    ingest_messages(
        source=Source.objects.get(slug="crm"),
        messages=[
            Message(
                type="identify",
                message_id="demo-erasure-subject",
                external_id="CRM-0999",
                traits={"email": erased, "firstName": "Camille", "lastName": "Effacement"},
                timestamp=(timezone.now() - timedelta(days=70)).isoformat(),
            )
        ],
    )
    return [*people[:3], erased, *people[3:]]


def profiles_demo_scan() -> int:
    """Probable duplicates for the steward's review queue (beat also runs this every minute)."""
    return duplicates_scan(max_batches=1_000).candidates_found
