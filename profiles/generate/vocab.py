"""What generated people look like: weighted vocabularies for `profiles_generate`.

The shares are plausible for a B2B marketing database in Europe and North America; the
figures only need to give segments and benchmarks realistic selectivity, not to be true.
"""

from __future__ import annotations

import json
from typing import Any

# (country, weight, [(city, postcode, timezone)], languages)
COUNTRIES: list[tuple[str, int, list[tuple[str, str, str]], list[str]]] = [
    (
        "FR",
        28,
        [
            ("Paris", "75011", "Europe/Paris"),
            ("Lyon", "69002", "Europe/Paris"),
            ("Marseille", "13001", "Europe/Paris"),
            ("Toulouse", "31000", "Europe/Paris"),
            ("Nantes", "44000", "Europe/Paris"),
            ("Lille", "59000", "Europe/Paris"),
            ("Bordeaux", "33000", "Europe/Paris"),
        ],
        ["fr"],
    ),
    (
        "DE",
        15,
        [
            ("Berlin", "10115", "Europe/Berlin"),
            ("München", "80331", "Europe/Berlin"),
            ("Hamburg", "20095", "Europe/Berlin"),
            ("Köln", "50667", "Europe/Berlin"),
            ("Frankfurt am Main", "60311", "Europe/Berlin"),
        ],
        ["de"],
    ),
    (
        "GB",
        13,
        [
            ("London", "EC1A 1BB", "Europe/London"),
            ("Manchester", "M1 1AE", "Europe/London"),
            ("Birmingham", "B1 1AA", "Europe/London"),
            ("Edinburgh", "EH1 1YZ", "Europe/London"),
        ],
        ["en"],
    ),
    (
        "US",
        14,
        [
            ("New York", "10001", "America/New_York"),
            ("Boston", "02108", "America/New_York"),
            ("Chicago", "60601", "America/Chicago"),
            ("Austin", "73301", "America/Chicago"),
            ("San Francisco", "94105", "America/Los_Angeles"),
        ],
        ["en"],
    ),
    (
        "ES",
        6,
        [("Madrid", "28001", "Europe/Madrid"), ("Barcelona", "08001", "Europe/Madrid")],
        ["es"],
    ),
    ("IT", 5, [("Milano", "20121", "Europe/Rome"), ("Roma", "00184", "Europe/Rome")], ["it"]),
    (
        "BE",
        4,
        [("Bruxelles", "1000", "Europe/Brussels"), ("Antwerpen", "2000", "Europe/Brussels")],
        ["fr", "nl"],
    ),
    (
        "NL",
        4,
        [
            ("Amsterdam", "1012 AB", "Europe/Amsterdam"),
            ("Rotterdam", "3011 AA", "Europe/Amsterdam"),
        ],
        ["nl"],
    ),
    (
        "CH",
        3,
        [("Genève", "1201", "Europe/Zurich"), ("Zürich", "8001", "Europe/Zurich")],
        ["fr", "de"],
    ),
    (
        "CA",
        3,
        [("Montréal", "H2Y 1C6", "America/Toronto"), ("Toronto", "M5H 2N2", "America/Toronto")],
        ["en", "fr"],
    ),
    ("SE", 2, [("Stockholm", "111 20", "Europe/Stockholm")], ["sv"]),
    # Nobody told us where they live.
    ("", 3, [("", "", "")], [""]),
]

# First and last names by language, comma-separated; emails use their accent-free spelling.
_NAMES: dict[str, tuple[str, str]] = {
    "fr": (
        "Camille,Léa,Manon,Chloé,Emma,Inès,Louise,Jade,Hugo,Lucas,Louis,Jules,Nathan,Enzo,Gabriel,Arthur,Sophie,Thomas,Claire,Julien",
        "Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,Lefèvre,Michel,Garcia,David,Bertrand,Roux,Vincent,Fournier",
    ),
    "de": (
        "Anna,Lena,Marie,Laura,Julia,Lukas,Leon,Finn,Jonas,Paul,Felix,Max,Sophie,Katrin,Jürgen,Stefan",
        "Müller,Schmidt,Schneider,Fischer,Weber,Meyer,Wagner,Becker,Schulz,Hoffmann,Koch,Richter,Wolf,Schröder",
    ),
    "en": (
        "Olivia,Emma,Amelia,Ava,Isla,Oliver,George,Harry,Noah,Jack,James,Liam,Mia,Ethan,Grace,Ada,Alan,Linus,Margaret,Katherine",
        "Smith,Jones,Taylor,Brown,Williams,Wilson,Johnson,Davies,Miller,Davis,Clarke,Walker,Wright,Lovelace,Turing,Hopper,Hamilton",
    ),
    "es": (
        "Lucía,Sofía,Martina,María,Hugo,Mateo,Martín,Pablo,Daniel,Alejandro",
        "García,Rodríguez,González,Fernández,López,Martínez,Sánchez,Pérez,Gómez",
    ),
    "it": (
        "Giulia,Sofia,Aurora,Alice,Leonardo,Francesco,Alessandro,Lorenzo,Matteo",
        "Rossi,Russo,Ferrari,Esposito,Bianchi,Romano,Colombo,Ricci,Marino",
    ),
    "nl": (
        "Emma,Julia,Mila,Tess,Daan,Sem,Lucas,Levi,Finn",
        "de Jong,Jansen,de Vries,van den Berg,Bakker,Visser,Smit,van Dijk",
    ),
    "sv": (
        "Alice,Maja,Elsa,Astrid,William,Liam,Noah,Hugo",
        "Andersson,Johansson,Karlsson,Nilsson,Eriksson,Larsson",
    ),
    "": (
        "Alex,Sam,Charlie,Robin,Kim,Dominique",
        "Smith,Martin,Müller,García,Rossi",
    ),
}
NAMES: dict[str, tuple[list[str], list[str]]] = {
    language: (first.split(","), last.split(",")) for language, (first, last) in _NAMES.items()
}

COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark Industries",
    "Wayne Enterprises",
    "Soylent",
    "Tyrell",
    "Cyberdyne",
    "Vandelay Industries",
    "Massive Dynamic",
    "Aperture Science",
    "Wonka",
    "Oscorp",
    "Dunder Mifflin",
    "Pied Piper",
    "Nakatomi",
    "Gringotts",
    "Monsters Inc",
]
FREE_MAIL_DOMAINS = ["mail.example", "inbox.example", "post.example"]

# (job title, job function, weight); the empty title is people who did not say.
JOB_TITLES: list[tuple[str, str, int]] = [
    ("Marketing Manager", "marketing", 6),
    ("Head of Marketing", "marketing", 3),
    ("CMO", "marketing", 1),
    ("Digital Marketing Specialist", "marketing", 4),
    ("Content Marketing Manager", "marketing", 2),
    ("Growth Marketer", "marketing", 2),
    ("Account Executive", "sales", 5),
    ("Head of Sales", "sales", 2),
    ("Business Developer", "sales", 4),
    ("Key Account Manager", "sales", 3),
    ("CTO", "it", 1),
    ("Software Developer", "it", 6),
    ("IT Manager", "it", 3),
    ("Data Analyst", "data", 4),
    ("Data Engineer", "data", 2),
    ("CFO", "finance", 1),
    ("Financial Controller", "finance", 2),
    ("Accountant", "finance", 3),
    ("HR Director", "hr", 1),
    ("Recruiter", "hr", 2),
    ("Operations Manager", "operations", 4),
    ("Project Manager", "operations", 5),
    ("CEO", "executive", 2),
    ("Founder", "executive", 1),
    ("Customer Success Manager", "support", 3),
    ("", "", 14),
]

# (lifecycle stage, weight, how much more than a lead such people do)
LIFECYCLE: list[tuple[str, int, float]] = [
    ("anonymous", 12, 0.6),
    ("lead", 45, 1.0),
    ("prospect", 18, 1.5),
    ("customer", 18, 2.0),
    ("churned", 7, 0.5),
]

INDUSTRIES: list[tuple[str, int]] = [
    ("software", 22),
    ("retail", 12),
    ("manufacturing", 12),
    ("finance", 10),
    ("healthcare", 9),
    ("consulting", 10),
    ("education", 7),
    ("media", 6),
    ("public_sector", 6),
    ("energy", 6),
]
PLANS: list[tuple[str, int]] = [("free", 40), ("starter", 27), ("pro", 22), ("enterprise", 11)]
COMPANY_SIZES: list[tuple[str, int]] = [
    ("1-10", 20),
    ("11-50", 28),
    ("51-200", 24),
    ("201-1000", 16),
    ("1000+", 12),
]

PAGES = [
    ("/", "Home"),
    ("/pricing", "Pricing"),
    ("/features", "Features"),
    ("/features/segments", "Segments"),
    ("/blog/gdpr-consent", "Consent under the GDPR"),
    ("/blog/first-party-data", "First-party data"),
    ("/customers", "Customers"),
    ("/contact", "Contact"),
    ("/webinars", "Webinars"),
    ("/resources/whitepapers", "White papers"),
]
CAMPAIGNS = [
    ("newsletter", "email", "monthly-2026-09"),
    ("newsletter", "email", "monthly-2026-10"),
    ("newsletter", "email", "monthly-2026-11"),
    ("newsletter", "email", "autumn-offer"),
    ("newsletter", "email", "webinar-invite"),
]
AD_CAMPAIGNS = [
    ("google", "cpc", "brand"),
    ("linkedin", "social", "cdp-whitepaper"),
    ("salon", "event", "salon-data-2026"),
]
WHITEPAPERS = [
    ("The consent-first CDP", "pdf"),
    ("Segmenting a million profiles", "pdf"),
    ("Identity resolution, explained", "pdf"),
    ("GDPR checklist for marketers", "epub"),
]
WEBINARS = ["CDP in 30 minutes", "Journeys that convert", "Data quality clinic"]
PRODUCTS = [("starter", 290), ("pro", 990), ("enterprise", 4900), ("training", 450)]

# (event name, weight for known people, weight for anonymous visitors)
EVENT_NAMES: list[tuple[str, int, int]] = [
    ("page", 50, 95),
    ("email_opened", 22, 0),
    ("email_clicked", 9, 0),
    ("whitepaper_download", 7, 5),
    ("webinar_registered", 5, 0),
    ("purchase", 3, 0),
]

# Consent, per purpose code: the share of people with an email who decided anything, and
# among them the share of each story (see `build.Population._consent`).
CONSENT: dict[str, tuple[float, list[tuple[str, int]]]] = {
    "newsletter": (
        0.75,
        [("granted", 78), ("granted_expiring", 4), ("expired", 6), ("withdrawn", 12)],
    ),
    "offers": (0.30, [("confirmed", 55), ("pending", 25), ("confirmed_withdrawn", 20)]),
    "sms-reminders": (0.15, [("granted", 85), ("withdrawn", 15)]),
}
PROOFS: list[dict[str, Any]] = [
    {
        "form": "newsletter-signup",
        "ip": "203.0.113.0",
        "user_agent": "Mozilla/5.0 (Windows NT 10.0)",
    },
    {"form": "whitepaper", "ip": "198.51.100.0", "user_agent": "Mozilla/5.0 (Macintosh)"},
    {"form": "webinar", "ip": "192.0.2.0", "user_agent": "Mozilla/5.0 (X11; Linux x86_64)"},
    {"import": "crm-export-2025", "note": "opt-in column of the CRM export"},
    {"api": "mobile-app", "note": "in-app preference"},
]


Variant = tuple[str, str, dict[str, Any], dict[str, Any], tuple[str, str, str]]


def _campaign(utm: tuple[str, str, str]) -> dict[str, Any]:
    return {"campaign": dict(zip(("source", "medium", "name"), utm, strict=True))}


def event_variants(*, known: bool) -> tuple[list[Variant], list[float]]:
    """Every (type, name, properties, context, utm) an event can be, and each one's weight.

    The weights of one event name add up to that name's weight in EVENT_NAMES.
    """
    by_name: dict[str, list[tuple[Variant, int]]] = {name: [] for name, _, _ in EVENT_NAMES}
    none = ("", "", "")
    for path, title in PAGES:
        properties = {"path": path, "title": title}
        by_name["page"].append((("page", title, properties, {"page": {"path": path}}, none), 6))
        for utm in AD_CAMPAIGNS:
            context = {"page": {"path": path}, **_campaign(utm)}
            by_name["page"].append((("page", title, properties, context, utm), 1))
    for utm in CAMPAIGNS:
        by_name["email_opened"].append(
            (("track", "email_opened", {"campaign": utm[2]}, _campaign(utm), utm), 1)
        )
        for path, _ in PAGES[:4]:
            properties = {"campaign": utm[2], "url": f"https://www.example.org{path}"}
            by_name["email_clicked"].append(
                (("track", "email_clicked", properties, _campaign(utm), utm), 1)
            )
    for title, fmt in WHITEPAPERS:
        properties = {"title": title, "format": fmt}
        by_name["whitepaper_download"].append(
            (("track", "whitepaper_download", properties, {}, none), 2)
        )
        utm = AD_CAMPAIGNS[1]
        by_name["whitepaper_download"].append(
            (("track", "whitepaper_download", properties, _campaign(utm), utm), 1)
        )
    for webinar in WEBINARS:
        by_name["webinar_registered"].append(
            (("track", "webinar_registered", {"webinar": webinar}, {}, none), 1)
        )
    for product, price in PRODUCTS:
        for quantity in (1, 2, 5):
            properties = {
                "product": product,
                "quantity": quantity,
                "revenue": price * quantity,
                "currency": "EUR",
            }
            by_name["purchase"].append(
                (("track", "purchase", properties, {}, none), 4 - min(quantity, 3))
            )
    variants: list[Variant] = []
    weights: list[float] = []
    for name, known_weight, anonymous_weight in EVENT_NAMES:
        share = known_weight if known else anonymous_weight
        total = sum(weight for _, weight in by_name[name])
        for variant, weight in by_name[name]:
            if share:
                variants.append(variant)
                weights.append(share * weight / total)
    return variants, weights


def json_text(value: Any) -> str:
    """JSON as PostgreSQL stores it back for a jsonb column (stable key order)."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# Street names by language, for the address line.
STREETS: dict[str, list[str]] = {
    "fr": ["rue de la République", "avenue Jean Jaurès", "boulevard Voltaire", "rue Victor Hugo"],
    "de": ["Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg"],
    "en": ["High Street", "Main Street", "Station Road", "Church Lane"],
    "es": ["Calle Mayor", "Gran Vía", "Calle de Alcalá"],
    "it": ["Via Roma", "Corso Italia", "Via Garibaldi"],
    "nl": ["Kerkstraat", "Dorpsstraat", "Stationsweg"],
    "sv": ["Storgatan", "Drottninggatan", "Kungsgatan"],
    "": [""],
}
