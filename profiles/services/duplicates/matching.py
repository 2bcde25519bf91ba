"""Pure matching rules: blocking keys and pair scores. No database here.

Blocking keys put profiles that might be the same person into the same small block
(phonetic and sorted name keys, name + postcode, date of birth, email local part, phone),
so only pairs sharing a block are compared and the cost grows with the number of
profiles, not its square. A pair is scored by adding log-likelihood weights per field
(Fellegi-Sunter style: agreement on a rare value is strong evidence, disagreement counts
against, a missing value says nothing) and mapping the sum to a 0-1 score.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

import jellyfish
from rapidfuzz.distance import JaroWinkler, Levenshtein
from rapidfuzz.fuzz import token_set_ratio, token_sort_ratio

from profiles.normalise import email_key
from profiles.services.names import names_compare

# The profile fields matching reads; a change to any other field never re-scores a profile.
MATCH_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "company",
    "address_line",
    "postcode",
    "city",
    "date_of_birth",
)
# Log-odds of "same person" for a blocked pair before any field is compared.
PRIOR = -12.0
# The most log-odds a pair whose first names clearly differ may reach (a score of 0.018).
_NAMES_DIFFER_CAP = -4.0
# The most a pair may reach that shares no email, phone, date of birth or street address
# (a score of 0.982):
# queued for a steward, never merged automatically.
_UNPROVEN_CAP = 4.0
_PROOF = (("email", 0.8), ("phone", 0.8), ("date_of_birth", 0.8), ("address_line", 0.9))
_WORD = re.compile(r"[a-z0-9]+")
_NOT_ALNUM = re.compile(r"[^a-z0-9]")
_COMPANY_NOISE = frozenset(
    {"inc", "ltd", "llc", "gmbh", "sa", "sas", "sarl", "srl", "bv", "nv", "ag", "plc", "co"}
    | {"corp", "corporation", "company", "the"}
)


def fold(text: str) -> str:
    """Lower case, accents removed, punctuation as single spaces."""
    if not text:
        return ""
    if text.isascii():
        # The common case, and as fast as a cache hit: no cache to outgrow in a big base.
        return " ".join(_WORD.findall(text.lower()))
    return _fold_unicode(text)


@lru_cache(maxsize=65536)
def _fold_unicode(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(_WORD.findall(ascii_text))


@lru_cache(maxsize=65536)
def _soundex(word: str) -> str:
    return jellyfish.soundex(word) if word else ""


def _squash(text: str) -> str:
    return text.replace(" ", "")


@dataclass(frozen=True, slots=True)
class Record:
    """A profile's matching fields, folded once."""

    id: int
    first: str
    last: str
    email: str
    email_local: str
    phone: str
    company: str
    address: str
    postcode: str
    city: str
    dob: date | None
    role_email: str = ""  # a role mailbox (blocked as an identifier): weak evidence only


def record_from(row: Mapping[str, Any]) -> Record:
    """Fold a profile's fields (a dict with `id` and MATCH_FIELDS) for keys and scoring."""
    email = email_key(row.get("email") or "")
    local = email.split("@", 1)[0].split("+", 1)[0].replace(".", "") if email else ""
    company = " ".join(
        word for word in fold(row.get("company") or "").split() if word not in _COMPANY_NOISE
    )
    dob = row.get("date_of_birth")
    if isinstance(dob, str):
        dob = date.fromisoformat(dob) if dob else None
    return Record(
        id=int(row["id"]),
        first=fold(row.get("first_name") or ""),
        last=fold(row.get("last_name") or ""),
        email=email,
        email_local=local,
        phone=re.sub(r"\D", "", row.get("phone") or ""),
        company=company,
        address=fold(row.get("address_line") or ""),
        postcode=_NOT_ALNUM.sub("", (row.get("postcode") or "").lower()),
        city=fold(row.get("city") or ""),
        dob=dob,
        role_email=(row.get("role_email") or "").lower(),
    )


def fingerprint(row: Mapping[str, Any]) -> str:
    """A short digest of the matching fields: unchanged digest, nothing to re-score."""
    digest = hashlib.blake2b(digest_size=8)
    for name in MATCH_FIELDS:
        digest.update(f"{row.get(name) or ''}\x1f".encode())
    return digest.hexdigest()


def keys_for(record: Record) -> set[tuple[str, str]]:
    """Blocking keys (kind, key) of one profile; two profiles sharing one are compared."""
    keys: set[tuple[str, str]] = set()
    first, last = _squash(record.first), _squash(record.last)
    sf, sl = _soundex(first), _soundex(last)
    if sf and sl:
        # Sorted, so swapped first and last names still meet.
        keys.add(("name", "|".join(sorted((sf, sl)))))
    if record.postcode:
        if sl:
            keys.add(("last_pc", f"{sl}|{record.postcode}"))
        if sf:
            keys.add(("first_pc", f"{sf}|{record.postcode}"))
    if record.dob is not None:
        # A date of birth alone makes big blocks in a big base: with either initial (so
        # swapped or missing names still meet), and with the name code for a mistyped year.
        for initial in {name[0] for name in (first, last) if name}:
            keys.add(("dob", f"{record.dob.isoformat()}|{initial}"))
        if sl or sf:
            keys.add(("dob_md", f"{record.dob:%m%d}|{sl or sf}"))
    if record.address and record.postcode:
        keys.add(("addr_pc", f"{_squash(record.address)[:6]}|{record.postcode}"))
    if record.address and (first or last):
        keys.add(("addr_name", f"{_squash(record.address)[:8]}|{sl or sf}"))
    if len(record.email_local) >= 3:
        keys.add(("email", record.email_local))
    if len(record.phone) >= 6:
        keys.add(("phone", record.phone[-8:]))
    return keys


def _name_sim(a: str, b: str) -> float:
    if not a or not b:
        return -1.0
    if a == b:
        return 1.0
    return JaroWinkler.normalized_similarity(a, b)


def _graded(sim: float, grades: Iterable[tuple[float, float]], disagree: float) -> float:
    for floor, weight in grades:
        if sim >= floor:
            return weight
    return disagree


def _dob_weight(a: date | None, b: date | None) -> tuple[float, float]:
    if a is None or b is None:
        return -1.0, 0.0
    if a == b:
        return 1.0, 10.0
    da, db = a.strftime("%Y%m%d"), b.strftime("%Y%m%d")
    if a.year == b.year and a.month == b.day and a.day == b.month:
        return 0.8, 6.0  # day and month swapped
    edits = Levenshtein.distance(da, db)
    if edits == 1:
        return 0.8, 5.0  # one mistyped digit
    if edits == 2 and sorted(da) == sorted(db):
        return 0.6, 3.0  # two digits transposed
    return 0.0, -5.0


def _capped(total: float, features: dict[str, float], *, names_differ: bool) -> float:
    """The log-odds after the rules no field weight can outvote."""
    if total > _UNPROVEN_CAP and not any(features[name] >= threshold for name, threshold in _PROOF):
        # Names and a place alone: namesakes live in the same town. Probable, never certain.
        features["unproven"] = 1.0
        total = _UNPROVEN_CAP
    if names_differ and features["date_of_birth"] < 0.8:
        # Clearly different first names (a household, colleagues behind one line): what
        # they share is an address or a number, not a person; never queued. Unless they
        # share a date of birth too: then a first name was mistyped beyond recognition.
        features["names_differ"] = 1.0
        total = min(total, _NAMES_DIFFER_CAP)
    return total


def pair_score(a: Record, b: Record) -> tuple[float, dict[str, float]]:
    """The 0-1 score of a pair and each field's similarity (-1 where a side is missing)."""
    total = PRIOR
    features: dict[str, float] = {}
    first = _name_sim(a.first, b.first)
    last = _name_sim(a.last, b.last)
    crossed = max(_name_sim(a.first, b.last), 0.0) + max(_name_sim(a.last, b.first), 0.0)
    if first >= 0 and last >= 0 and crossed / 2 > (first + last) / 2 + 0.1:
        # First and last name swapped on one side. Which of the two crossed similarities
        # gets the first-name weights must not depend on the order of the pair.
        crossed_sims = (_name_sim(a.first, b.last), _name_sim(a.last, b.first))
        first, last = min(crossed_sims), max(crossed_sims)
        features["names_swapped"] = 1.0
    features["first_name"] = round(first, 3)
    features["last_name"] = round(last, 3)
    names_differ = names_compare((a.first, a.last), (b.first, b.last)) is False
    if first >= 0:
        total += _graded(first, ((1.0, 5.0), (0.92, 3.5), (0.85, 1.5)), -3.0)
    if last >= 0:
        total += _graded(last, ((1.0, 6.5), (0.92, 4.5), (0.85, 2.0)), -4.5)
    dob_sim, dob_weight = _dob_weight(a.dob, b.dob)
    features["date_of_birth"] = dob_sim
    total += dob_weight
    if a.postcode and b.postcode:
        if a.postcode == b.postcode:
            sim, weight = 1.0, 5.0
        elif Levenshtein.distance(a.postcode, b.postcode) == 1:
            sim, weight = 0.7, 1.5
        else:
            sim, weight = 0.0, -2.5
        features["postcode"] = sim
        total += weight
    else:
        features["postcode"] = -1.0
    if a.city and b.city:
        sim = _name_sim(_squash(a.city), _squash(b.city))
        features["city"] = round(sim, 3)
        total += _graded(sim, ((1.0, 3.0), (0.9, 2.0)), -1.5)
    else:
        features["city"] = -1.0
    if a.address and b.address:
        sim = token_sort_ratio(a.address, b.address) / 100
        features["address_line"] = round(sim, 3)
        total += _graded(sim, ((1.0, 6.0), (0.9, 4.5), (0.75, 2.0)), -2.5)
    else:
        features["address_line"] = -1.0
    if a.email and b.email:
        if a.email == b.email:
            sim, weight = 1.0, 12.0
        elif a.email_local == b.email_local:
            sim, weight = 0.8, 4.0  # the same mailbox name at another provider
        else:
            # People have several addresses, so a different one is weak evidence against;
            # look-alike addresses are not evidence for: they are mostly built from the
            # names, which are already counted.
            sim, weight = 0.0, -1.0
        features["email"] = round(sim, 3)
        total += weight
    else:
        features["email"] = -1.0
    if a.phone and b.phone:
        sim = 1.0 if a.phone[-9:] == b.phone[-9:] else 0.0
        features["phone"] = sim
        # Most people have one mobile: two different numbers count somewhat against.
        total += 9.0 if sim else -2.0
    else:
        features["phone"] = -1.0
    if a.role_email and a.role_email == b.role_email:
        # A mailbox colleagues share: with the same name, likely one of them; never proof.
        features["role_email"] = 1.0
        total += 5.0
    if a.company and b.company:
        sim = token_set_ratio(a.company, b.company) / 100
        features["company"] = round(sim, 3)
        total += 2.0 if sim >= 0.9 else -0.5
    else:
        features["company"] = -1.0
    total = _capped(total, features, names_differ=names_differ)
    features["log_odds"] = round(total, 2)
    return 1.0 / (1.0 + math.exp(-total)), features
