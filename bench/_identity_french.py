"""French multichannel identity: a synthetic base with every trap, and its ground truth.

People (seeded) reach the CDP over four channels, each written as its real path takes it:
a CRM export (CSV, `;`, cp1252, contact ids; some people twice under two contact ids), a
trade-show badge scan (upper case, accents stripped, names sometimes swapped, the phone's
leading zero eaten by a spreadsheet), an emailing platform's list (Gmail dots, mistyped
domains) loaded with `cdp_import` and saved mappings, and web sign-ups posted to the
tracking API (`/v1/identify`, French phone spellings). Trap groups: colleagues sharing a
role mailbox, colleagues behind one switchboard, households (one last name, landline and
address, different first names) and homonyms (same names, different emails, cities, dates
of birth). Every row carries the person it is; figures are counted over pairs of rows.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
import random
import tempfile
import time
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIRST = [
    "Jean",
    "Marie",
    "Pierre",
    "Nathalie",
    "Philippe",
    "Isabelle",
    "Michel",
    "Sylvie",
    "Alain",
    "Catherine",
    "Nicolas",
    "Sophie",
    "Christophe",
    "Valérie",
    "Stéphane",
    "Sandrine",
    "Laurent",
    "Céline",
    "Julien",
    "Hélène",
    "Frédéric",
    "Émilie",
    "Sébastien",
    "Aurélie",
    "Thierry",
    "Camille",
    "Olivier",
    "Léa",
    "François",
    "Chloé",
    "Mathieu",
    "Manon",
    "Antoine",
    "Inès",
    "Guillaume",
    "Élodie",
    "Benoît",
    "Anaïs",
    "Jérôme",
    "Mélanie",
    "Rémi",
    "Agnès",
    "Hugo",
    "Zoé",
    "Loïc",
    "Gaëlle",
    "Théo",
    "Maëlle",
    "Yannick",
    "Noémie",
]
LAST = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefèbvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Leclercq",
    "Guillaume",
    "Lecomte",
    "Lopez",
    "Jean",
    "Dupuy",
    "Guillot",
    "Hubert",
    "Berger",
]
CITIES = [
    ("Paris", "750"), ("Lyon", "6900"), ("Marseille", "130"), ("Toulouse", "3100"),
    ("Nantes", "4400"), ("Lille", "5900"), ("Rennes", "3500"), ("Bordeaux", "3300"),
    ("Strasbourg", "6700"), ("Montpellier", "3400"), ("Nice", "0600"), ("Brest", "2920"),
]  # fmt: skip
# About 300 streets of up to 300 numbers: two people at one address are one household.
STREETS = [
    f"{kind} {name}"
    for kind in ("rue", "avenue", "boulevard", "allée", "impasse", "chemin", "place", "quai")
    for name in (
        "de la Paix", "Victor Hugo", "des Lilas", "Voltaire", "du Moulin", "de l'Église",
        "Pasteur", "des Tilleuls", "Jean Jaurès", "de la Gare", "du Stade", "des Écoles",
        "Gambetta", "de la République", "du Château", "des Roses", "Émile Zola", "du Port",
        "des Acacias", "Carnot", "de Verdun", "du Général de Gaulle", "Jules Ferry",
        "des Peupliers", "de la Fontaine", "du Marché", "des Prés", "Saint-Michel",
        "de la Liberté", "du Lavoir", "des Vignes", "Anatole France", "de Bretagne",
        "des Cerisiers", "du Bois", "de Provence", "Molière", "Pierre Curie", "du Canal",
    )
]  # fmt: skip
PROVIDERS = ["gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr",
             "yahoo.fr", "wanadoo.fr"]  # fmt: skip
TYPOS = {"gmail.com": "gmial.com", "hotmail.fr": "hotmial.fr", "orange.fr": "ornage.fr",
         "yahoo.fr": "yaho.fr", "laposte.net": "lapost.net"}  # fmt: skip
ROLES = ["accueil", "commercial", "contact", "info", "service-client", "compta", "rh",
         "direction", "bonjour", "hello", "sales", "support"]  # fmt: skip
TITLES = ["Directrice marketing", "Responsable commercial", "Comptable", "Chef de projet",
          "Assistante de direction", "Ingénieur", "DRH", "Acheteur"]  # fmt: skip

CRM_MAPPING = {
    "Id contact": "external_id", "Prénom": "first_name", "Nom": "last_name",
    "Email": "email", "Téléphone": "phone", "Société": "company", "Fonction": "job_title",
    "Adresse": "address_line", "CP": "postcode", "Ville": "city",
    "Date de naissance": "date_of_birth",
}  # fmt: skip
BADGE_MAPPING = {
    "NOM": "last_name", "PRENOM": "first_name", "EMAIL": "email", "TEL": "phone",
    "SOCIETE": "company", "VILLE": "city",
}  # fmt: skip
LIST_MAPPING = {"email": "email", "prenom": "first_name", "nom": "last_name"}


@dataclass
class Person:
    id: int
    first: str
    last: str
    email: str
    mobile: str  # national form, 06…
    landline: str
    company: str
    title: str
    address: str
    postcode: str
    city: str
    dob: str  # ISO or ""
    trap: str = ""  # role, switchboard, household, homonym: or "" for an ordinary person
    shared_email: str = ""  # a role mailbox the person's channel rows carry instead


@dataclass
class Base:
    people: list[Person]
    crm: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    badges: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    mailing: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    web: list[tuple[int, dict[str, str]]] = field(default_factory=list)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def _local(first: str, last: str, rng: random.Random) -> str:
    f, l_ = _ascii(first).lower().replace(" ", ""), _ascii(last).lower().replace(" ", "")
    return rng.choice(
        [f"{f}.{l_}", f"{f[0]}{l_}", f"{f}{l_}", f"{l_}.{f}", f"{f}.{l_}{rng.randrange(10, 99)}"]
    )


def _mobile(rng: random.Random) -> str:
    return f"0{rng.choice('67')}{rng.randrange(10**8):08d}"


def _landline(rng: random.Random) -> str:
    return f"0{rng.choice('12345')}{rng.randrange(10**8):08d}"


def _person(pid: int, rng: random.Random, **fixed: Any) -> Person:
    first = fixed.pop("first", rng.choice(FIRST))
    last = fixed.pop("last", rng.choice(LAST))
    city, prefix = fixed.pop("place", rng.choice(CITIES))
    domain = rng.choice(PROVIDERS)
    values = {
        "first": first,
        "last": last,
        "email": f"{_local(first, last, rng)}{pid}@{domain}",
        "mobile": _mobile(rng),
        "landline": _landline(rng),
        "company": f"{rng.choice(LAST)} {rng.choice(['SAS', 'SARL', 'et Fils', 'Conseil'])}",
        "title": rng.choice(TITLES),
        "address": f"{rng.randrange(1, 300)} {rng.choice(STREETS)}",
        "postcode": (prefix + "0123456789")[:5] if len(prefix) < 5 else prefix,
        "city": city,
        "dob": f"{rng.randrange(1950, 2004)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        if rng.random() < 0.6
        else "",
    }
    values["postcode"] = prefix + "".join(str(rng.randrange(10)) for _ in range(5 - len(prefix)))
    values.update(fixed)
    return Person(id=pid, **values)


def people_make(count: int, rng: random.Random) -> list[Person]:
    """`count` people, about a fifth of them in trap groups."""
    people: list[Person] = []
    ids = itertools.count()
    while len(people) < count:
        roll = rng.random()
        if roll < 0.05:  # colleagues sharing a role mailbox
            company = f"{rng.choice(LAST)} {rng.choice(['SAS', 'Conseil'])}"
            mailbox = f"{rng.choice(ROLES)}@{_ascii(company.split()[0]).lower()}{len(people)}.fr"
            for _ in range(rng.randrange(2, 5)):
                people.append(
                    _person(next(ids), rng, company=company, trap="role", shared_email=mailbox)
                )
        elif roll < 0.10:  # colleagues behind one switchboard
            company = f"{rng.choice(LAST)} {rng.choice(['SA', 'Industrie'])}"
            switchboard = _landline(rng)
            for _ in range(rng.randrange(2, 5)):
                people.append(
                    _person(
                        next(ids), rng, company=company, landline=switchboard, trap="switchboard"
                    )
                )
        elif roll < 0.15:  # a household
            last, place = rng.choice(LAST), rng.choice(CITIES)
            home = _person(next(ids), rng, last=last, place=place, trap="household")
            firsts = rng.sample(FIRST, rng.randrange(2, 4))
            for n, first in enumerate(firsts):
                person = home if n == 0 else _person(
                    next(ids), rng, first=first, last=last, place=place, trap="household",
                    landline=home.landline, address=home.address, postcode=home.postcode,
                )  # fmt: skip
                person.first = first
                people.append(person)
        elif roll < 0.20:  # homonyms
            first, last = rng.choice(FIRST), rng.choice(LAST)
            for _ in range(2):
                people.append(_person(next(ids), rng, first=first, last=last, trap="homonym"))
        else:
            people.append(_person(next(ids), rng))
    return people[:count]


def _badge_phone(person: Person, rng: random.Random) -> str:
    number = person.landline if person.trap in ("switchboard", "household") else person.mobile
    return number[1:] if rng.random() < 0.5 else number  # Excel ate the leading zero


def _web_phone(number: str, rng: random.Random) -> str:
    digits = number[1:]
    pairs = " ".join(digits[i : i + 2] for i in range(1, 9, 2))
    return rng.choice([
        f"{number[:2]} {' '.join(number[i:i + 2] for i in range(2, 10, 2))}",
        ".".join(number[i : i + 2] for i in range(0, 10, 2)),
        f"+33 (0){digits[0]} {pairs}",
        f"33{digits}",
        number,
    ])  # fmt: skip


def _variant_email(email: str, rng: random.Random) -> str:
    local, _, domain = email.partition("@")
    roll = rng.random()
    if roll < 0.3 and domain in TYPOS:
        return f"{local}@{TYPOS[domain]}"
    if roll < 0.6 and domain == "gmail.com":
        return (
            f"{local.replace('.', '')}@gmail.com"
            if "." in local
            else f"{local[:3]}.{local[3:]}@gmail.com"
        )
    return email.upper() if roll < 0.7 else email


def base_make(count: int, seed: int) -> Base:
    rng = random.Random(seed)
    base = Base(people=people_make(count, rng))
    for person in base.people:
        email = person.shared_email or person.email
        phone = person.landline if person.trap in ("switchboard", "household") else person.mobile
        if rng.random() < 0.7:
            row = {
                "Prénom": person.first, "Nom": person.last, "Email": email, "Téléphone": phone,
                "Société": person.company, "Fonction": person.title,
                "Adresse": person.address, "CP": person.postcode, "Ville": person.city,
                "Date de naissance": person.dob,
            }  # fmt: skip
            base.crm.append((person.id, {**row, "Id contact": f"C{person.id:06d}"}))
            if rng.random() < 0.05:  # the same person again under another contact id
                again = {**row, "Id contact": f"C9{person.id:06d}", "Prénom": person.first.upper()}
                base.crm.append((person.id, again))
        if rng.random() < 0.4:
            first, last = _ascii(person.first).upper(), _ascii(person.last).upper()
            if rng.random() < 0.15:
                first, last = last, first
            base.badges.append((person.id, {
                "NOM": last, "PRENOM": first, "EMAIL": _variant_email(email, rng).lower(),
                "TEL": _badge_phone(person, rng), "SOCIETE": person.company.upper(),
                "VILLE": _ascii(person.city).upper(),
            }))  # fmt: skip
        if rng.random() < 0.5:
            base.mailing.append((person.id, {
                "email": _variant_email(email, rng), "prenom": person.first, "nom": person.last,
            }))  # fmt: skip
        if rng.random() < 0.4:
            base.web.append((person.id, {
                "email": person.email if person.trap != "role" else email,
                "firstName": person.first, "lastName": person.last,
                "phone": _web_phone(phone, rng), "city": person.city,
            }))  # fmt: skip
    return base


# --- loading through the real paths --------------------------------------------------------


def _write(path: Path, header: list[str], rows: list[dict[str, str]], *, encoding: str,
           delimiter: str) -> None:  # fmt: skip
    with path.open("w", newline="", encoding=encoding, errors="replace") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def _import(path: Path, slug: str, mapping: dict[str, str], **options: str) -> int:
    """`cdp_import` with a saved mapping; returns the job id."""
    from django.core.management import call_command

    from collection.models import ImportJob

    mapping_path = path.with_suffix(".json")
    mapping_path.write_text(json.dumps(mapping))
    call_command("cdp_import", str(path), source=slug, mapping=mapping_path, no_progress=True,
                 **options)  # fmt: skip
    return ImportJob.objects.filter(source__slug=slug).latest("pk").pk


def base_load(base: Base) -> tuple[dict[tuple[str, str], int], float]:
    """Load the four channels; each row's key (channel, row id) -> its person; seconds."""
    from django.test import Client

    from profiles.services import source_create

    truth: dict[tuple[str, str], int] = {}
    sources = {}
    for name, kind, region in [("CRM export", "crm", "FR"), ("Salon 2026", "trade_show", "FR"),
                               ("Emailing", "email_platform", "FR"), ("Site web", "web_form", "FR")]:  # fmt: skip
        sources[kind] = source_create(name=f"bench-identity {name}", kind=kind,
                                      default_phone_region=region)  # fmt: skip
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        for kind, rows, mapping, header, options, name in [
            ("crm", base.crm, CRM_MAPPING, list(CRM_MAPPING), {"delimiter": ";", "encoding": "cp1252"}, "crm.csv"),
            ("trade_show", base.badges, BADGE_MAPPING, list(BADGE_MAPPING), {"delimiter": ","}, "badges.csv"),
            ("email_platform", base.mailing, LIST_MAPPING, list(LIST_MAPPING), {"delimiter": ","}, "liste.csv"),
        ]:  # fmt: skip
            path = Path(folder) / name
            _write(path, header, [row for _, row in rows], encoding=options.get("encoding", "utf-8"),
                   delimiter=options["delimiter"])  # fmt: skip
            job = _import(path, sources[kind][0].slug, mapping, **options)
            for number, (person, _) in enumerate(rows, start=2):  # row 1: the header
                truth[(f"job{job}", str(number))] = person
    client = Client()
    auth = "Basic " + base64.b64encode(f"{sources['web_form'][1]}:".encode()).decode()
    for number, (person, traits) in enumerate(base.web):
        message_id = f"web-{number}"
        response = client.post("/v1/identify", {"messageId": message_id, "traits": traits},
                               content_type="application/json", HTTP_AUTHORIZATION=auth)  # fmt: skip
        assert response.status_code < 300, response.content
        truth[("web", message_id)] = person
    return truth, time.perf_counter() - started


def rows_to_profiles(truth: dict[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    """Each row's final profile: its event's profile, followed through merges."""
    from profiles.models import Event, Profile

    survivor = dict(Profile.objects.exclude(merged_into=None).values_list("pk", "merged_into"))

    def final(pk: int) -> int:
        while pk in survivor:
            pk = survivor[pk]
        return pk

    out = {}
    for profile_id, message_id, properties in Event.objects.values_list(
        "profile_id", "message_id", "properties"
    ):
        if message_id.startswith("web-"):
            key = ("web", message_id)
        elif isinstance(properties, dict) and "import_job_id" in properties:
            key = (f"job{properties['import_job_id']}", str(properties["row"]))
        else:
            continue
        if key in truth:
            out[key] = final(profile_id)
    return out


def figures(base: Base, truth: dict[tuple[str, str], int]) -> dict[str, Any]:
    """Pairwise precision and recall of unification, unified-or-queued recall, the queue's
    precision, profiles holding two or more people."""
    from profiles.models import DuplicateCandidate, IdentityConflict, Profile

    placed = rows_to_profiles(truth)
    active = set(Profile.objects.filter(status="active").values_list("pk", flat=True))
    trap_people = {p.id for p in base.people if p.trap}
    people_of: dict[int, set[int]] = defaultdict(set)
    rows_of: dict[int, int] = defaultdict(int)
    for key, profile in placed.items():
        people_of[profile].add(truth[key])
        rows_of[profile] += 1
    queued = {
        (min(a, b), max(a, b))
        for a, b in itertools.chain(
            DuplicateCandidate.objects.filter(status="open").values_list("profile_low_id", "profile_high_id"),
            IdentityConflict.objects.filter(status="open").values_list("profile_id", "other_profile_id"),
        )
        if a in active and b in active and a != b
    }  # fmt: skip
    by_person: dict[int, list[int]] = defaultdict(list)
    for key, profile in placed.items():
        by_person[truth[key]].append(profile)
    true_pairs = unified_true = unified_or_queued = 0
    for profiles in by_person.values():
        for a, b in itertools.combinations(profiles, 2):
            true_pairs += 1
            unified_true += a == b
            unified_or_queued += a == b or (min(a, b), max(a, b)) in queued
    unified_pairs = sum(n * (n - 1) // 2 for n in rows_of.values())
    fused = [p for p, persons in people_of.items() if len(persons) > 1]
    queue_true = sum(1 for a, b in queued if people_of[a] & people_of[b])
    return {
        "rows": len(truth),
        "rows_placed": len(placed),
        "people": len({truth[k] for k in truth}),
        "profiles": len(active),
        "unification_precision": round(unified_true / unified_pairs, 4) if unified_pairs else 1.0,
        "unification_recall": round(unified_true / true_pairs, 4) if true_pairs else 1.0,
        "unified_or_queued_recall": round(unified_or_queued / true_pairs, 4) if true_pairs else 1.0,
        "profiles_with_2plus_people": len(fused),
        "fused_from_trap_groups": sum(1 for p in fused if people_of[p] & trap_people),
        "largest_profile_people": max((len(s) for s in people_of.values()), default=0),
        "largest_profile_rows": max(rows_of.values(), default=0),
        "review_queue": len(queued),
        "review_queue_precision": round(queue_true / len(queued), 4) if queued else 1.0,
    }


def french_run(count: int, seed: int, reset: Any) -> dict[str, Any]:
    """Load the base and scan it, with auto-merge off, then again from scratch with it on."""
    from django.conf import settings

    from profiles.services.duplicates import duplicate_settings_update, duplicates_scan

    settings.CDP_INTAKE_MODE = "sync"  # the API stores in the request: figures right after
    base = base_make(count, seed)
    out: dict[str, Any] = {
        "people": len(base.people),
        "trap_people": sum(1 for p in base.people if p.trap),
        "rows_by_channel": {"crm": len(base.crm), "badges": len(base.badges),
                            "mailing": len(base.mailing), "web": len(base.web)},
    }  # fmt: skip
    for auto in (False, True):
        reset()
        duplicate_settings_update(auto_merge_enabled=auto)
        truth, load_seconds = base_load(base)
        started = time.perf_counter()
        counts = duplicates_scan(max_batches=1_000_000)
        scan_seconds = time.perf_counter() - started
        out["auto_merge_on" if auto else "auto_merge_off"] = {
            **figures(base, truth),
            "auto_merged": counts.auto_merged,
            "load_seconds": round(load_seconds, 2),
            "scan_seconds": round(scan_seconds, 2),
        }
    return out
