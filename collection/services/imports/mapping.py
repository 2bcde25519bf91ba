"""Column mappings: which file column feeds which profile field, and how a row becomes a message.

A mapping is `{"File column": target}` where a target is one of our profile fields, "name"
(a full name split into first and last), "external_id" (the source's own id for the
person), "traits.<key>" for a custom trait, "consent.<purpose code>" for an opt-in column
(yes/oui/1/true: granted; no/non/0/false or empty: no consent given, nothing recorded),
"consent_or_withdrawal.<purpose code>" for a column whose "no" is a withdrawal, or "" to
skip the column. Consent goes to the ledger through the consent service, with the import
job, file name and row number as proof.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.db import transaction
from django.utils.text import slugify
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collection.errors import CollectionError
from collection.models import ImportMapping
from collection.services.imports.reading import DELIMITERS, ENCODINGS
from consent.models import Purpose
from profiles.fields import PROFILE_FIELDS
from profiles.models import Event, Source
from profiles.normalise import clean_text
from profiles.services.messages import TRAIT_ALIASES, Message, Prepared

TRAIT_PREFIX = "traits."
CONSENT_PREFIX = "consent."
# A column whose "no" withdraws consent (a CRM's current opt-in state), not an opt-in box.
WITHDRAWAL_PREFIX = "consent_or_withdrawal."
CONSENT_VALUES = {
    "yes": True,
    "y": True,
    "oui": True,
    "1": True,
    "true": True,
    "vrai": True,
    "no": False,
    "n": False,
    "non": False,
    "0": False,
    "false": False,
    "faux": False,
}
# Folded header words that say a column holds consent ("Opt-in newsletter", "Consentement").
_CONSENT_WORDS = ("optin", "consent", "accord", "subscribe", "abonne", "inscrit")
IDENTIFIER_TARGETS = ("email", "phone", "external_id")
_SLICE_KEYS = ("external_id", "email", "phone")  # see RowMapper.slice_of
TARGET_LABELS: dict[str, Any] = {
    "email": _("Email"),
    "phone": _("Phone"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "name": _("Full name (split into first and last name)"),
    "company": _("Company"),
    "job_title": _("Job title"),
    "address_line": _("Address line"),
    "postcode": _("Postcode"),
    "city": _("City"),
    "country": _("Country (ISO code)"),
    "date_of_birth": _("Date of birth"),
    "language": _("Language"),
    "timezone": _("Time zone"),
    "external_id": _("External id (this source's id for the person)"),
}
assert set(PROFILE_FIELDS) <= set(TARGET_LABELS)
# Header names, compared without case, accents, spaces or punctuation.
_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": (
        "email",
        "mail",
        "courriel",
        "emailaddress",
        "adresseemail",
        "adressemail",
        "adressecourriel",
        "correo",
        "workemail",
    ),
    "phone": (
        "phone",
        "tel",
        "telephone",
        "mobile",
        "mobilephone",
        "phonenumber",
        "portable",
        "cell",
        "cellphone",
        "gsm",
        "numerodetelephone",
    ),
    "first_name": ("firstname", "prenom", "givenname", "forename"),
    "last_name": ("lastname", "nom", "surname", "familyname", "nomdefamille"),
    "name": ("name", "fullname", "nomcomplet", "contactname"),
    "company": (
        "company",
        "companyname",
        "societe",
        "entreprise",
        "organisation",
        "organization",
        "employer",
        "raisonsociale",
    ),
    "job_title": ("jobtitle", "title", "fonction", "poste", "position"),
    "address_line": ("address", "adresse", "street", "rue", "addressline", "addressline1"),
    "postcode": ("postcode", "postalcode", "zip", "zipcode", "codepostal", "cp"),
    "city": ("city", "ville", "town", "localite", "commune"),
    "country": ("country", "pays", "countrycode", "codepays"),
    "date_of_birth": ("dateofbirth", "birthdate", "birthday", "dob", "datedenaissance"),
    "language": ("language", "langue", "lang", "locale"),
    "timezone": ("timezone", "tz", "fuseauhoraire"),
    "external_id": ("id", "externalid", "crmid", "contactid", "customerid", "leadid", "recordid"),
}
_SUGGESTIONS = {word: target for target, words in _SYNONYMS.items() for word in words}
_TRAIT_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,99}$")


def _folded(header: str) -> str:
    text = unicodedata.normalize("NFKD", header).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def trait_key_for(header: str) -> str:
    """A custom trait key from a header name: "Stand visited" -> "stand_visited"."""
    key = slugify(header).replace("-", "_")[:100] or "column"
    return f"{key}_" if key in TRAIT_ALIASES or key == "name" else key


def target_suggest(header: str, *, purposes: Sequence[Purpose] = ()) -> str:
    """The target a header name suggests (Email/E-mail/Courriel -> email ...), else a trait.

    A consent-looking header ("Opt-in newsletter", "Consentement email") suggests consent
    for the purpose it names (by code, name or channel), or for the only active purpose.
    """
    folded = _folded(header)
    found = _SUGGESTIONS.get(folded)
    if found:
        return found
    if any(word in folded for word in _CONSENT_WORDS):
        purpose = _purpose_named(folded, purposes)
        if purpose is not None:
            return CONSENT_PREFIX + purpose.code
    return TRAIT_PREFIX + trait_key_for(header)


def _purpose_named(folded: str, purposes: Sequence[Purpose]) -> Purpose | None:
    for matches in (
        lambda p: _folded(p.code) in folded or _folded(p.name) in folded,
        lambda p: _folded(p.channel) in folded,
        lambda p: True,
    ):
        named = [purpose for purpose in purposes if matches(purpose)]
        if len(named) == 1:
            return named[0]
        if named:
            return None  # ambiguous: the steward chooses
    return None


def consent_target_code(target: str) -> str | None:
    """The purpose code of a consent target (either kind), else None."""
    for prefix in (CONSENT_PREFIX, WITHDRAWAL_PREFIX):
        if target.startswith(prefix):
            return target[len(prefix) :]
    return None


def columns_errors(columns: Mapping[str, Any]) -> dict[str, list[str]]:
    """Field messages for a mapping: known targets, each used once, at least one identifier."""
    errors: dict[str, list[str]] = {}
    used: dict[str, str] = {}
    if not isinstance(columns, Mapping):
        return {"columns": [gettext("must be an object of file column -> target")]}
    for column, target in columns.items():
        if not isinstance(target, str):
            errors.setdefault(str(column), []).append(gettext("the target must be text"))
            continue
        if target == "":
            continue
        if target.startswith(TRAIT_PREFIX):
            key = target[len(TRAIT_PREFIX) :]
            if not _TRAIT_KEY.match(key):
                errors.setdefault(str(column), []).append(
                    gettext("%(target)s: a trait key is 1-100 letters, digits, _ . - or spaces")
                    % {"target": repr(target)}
                )
                continue
            if key in TRAIT_ALIASES or key == "name":
                field = TRAIT_ALIASES.get(key, "first_name/last_name")
                errors.setdefault(str(column), []).append(
                    gettext(
                        "%(target)s would be read as the profile field %(field)s; "
                        "choose that field or another trait key"
                    )
                    % {"target": repr(target), "field": field}
                )
                continue
        elif (code := consent_target_code(target)) is not None:
            if code not in consent_codes():
                errors.setdefault(str(column), []).append(
                    gettext("%(target)s: no active consent purpose with the code %(code)s")
                    % {"target": repr(target), "code": repr(code)}
                )
                continue
            target = CONSENT_PREFIX + code  # one column per purpose, whichever kind
        elif target not in TARGET_LABELS:
            errors.setdefault(str(column), []).append(f"unknown target {target!r}")
            continue
        if target in used:
            errors.setdefault(str(column), []).append(
                gettext("%(target)s is already the target of column %(value)s")
                % {"target": repr(target), "value": repr(used[target])}
            )
        used[target] = str(column)
    if not errors and not any(target in used for target in IDENTIFIER_TARGETS):
        errors["columns"] = [gettext("map at least one column to email, phone or external_id")]
    return errors


def consent_codes() -> set[str]:
    """Codes of the purposes an import may record decisions for (active ones)."""
    return set(Purpose.objects.filter(is_active=True).values_list("code", flat=True))


def consent_decision(value: str, *, no_withdraws: bool = False) -> bool | None:
    """yes/oui/1/true (any case) -> granted (True); no/non/0/false -> withdrawn (False) only
    in a column mapped as a withdrawal, else no decision (None), as is an empty value."""
    decision = CONSENT_VALUES.get(value.strip().lower())
    return None if decision is False and not no_withdraws else decision


def consent_value_known(value: str) -> bool:
    """Empty, or one of the yes/no spellings a consent column may hold."""
    text = value.strip().lower()
    return not text or text in CONSENT_VALUES


def columns_check(columns: Mapping[str, Any]) -> dict[str, str]:
    """The mapping as plain text, or CollectionError with a message per column."""
    errors = columns_errors(columns)
    if errors:
        raise CollectionError(gettext("invalid column mapping"), fields=errors)
    return {str(column): target for column, target in columns.items()}


def options_check(options: Mapping[str, Any] | None) -> dict[str, str]:
    """The reading options a steward chose (empty or "auto" means detect), or CollectionError."""
    chosen = {
        key: str(value)
        for key, value in (options or {}).items()
        if key in ("delimiter", "encoding") and value not in (None, "", "auto")
    }
    errors: dict[str, list[str]] = {}
    if chosen.get("delimiter", ",") not in DELIMITERS:
        errors["delimiter"] = ["one of , ; | or a tab"]
    if chosen.get("encoding", "utf-8") not in ENCODINGS:
        errors["encoding"] = [f"one of {', '.join(ENCODINGS)}"]
    if errors:
        raise CollectionError(gettext("invalid reading options"), fields=errors)
    return chosen


def header_problems(columns: Mapping[str, str], header: Sequence[str]) -> list[str]:
    """Why this mapping cannot read this header (missing columns, likely wrong delimiter)."""
    missing = [column for column, target in columns.items() if target and column not in header]
    if not missing:
        return []
    problem = (
        gettext("Mapped columns missing from the file: ")
        + ", ".join(repr(c) for c in missing)
        + "."
    )
    found = ", ".join(repr(name) for name in header[:12])
    problem += f" The file's columns are: {found}."
    if len(header) == 1 and any(sep in header[0] for sep in (",", ";", "\t", "|")):
        problem += gettext(" Only one column was found: is the delimiter right?")
    return [problem]


@dataclass(frozen=True)
class RowMapper:
    """Turns a row of a file with this header into a message, as preview and run both do."""

    source: Source
    header: list[str]
    targets: list[tuple[int, str]]  # (position in the row, target)
    file_name: str = ""

    @classmethod
    def build(
        cls, *, source: Source, header: list[str], columns: Mapping[str, str], file_name: str = ""
    ) -> RowMapper:
        position = {name: index for index, name in enumerate(header)}
        targets = [
            (position[column], target)
            for column, target in columns.items()
            if target and column in position
        ]
        return cls(source=source, header=header, targets=sorted(targets), file_name=file_name)

    def values(self, row: Sequence[str]) -> list[str]:
        """The row cut or padded to the header's width."""
        return list(row[: len(self.header)]) + [""] * (len(self.header) - len(row))

    def shape_errors(self, row: Sequence[str]) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        extra = [value for value in row[len(self.header) :] if value.strip()]
        if extra:
            errors[""] = [
                gettext("has %(len)s values but the header has %(len2)s columns")
                % {"len": len(row), "len2": len(self.header)}
            ]
        for index in self._consent_columns:
            value = row[index] if index < len(row) else ""
            if not consent_value_known(value):
                errors[self.header[index]] = [
                    gettext("consent: yes/no, oui/non, 1/0 or true/false (or empty)")
                ]
        return errors

    @cached_property
    def _consent_columns(self) -> list[int]:
        return [index for index, target in self.targets if consent_target_code(target)]

    @cached_property
    def _identifiers(self) -> list[tuple[int, str]]:
        """The identifier columns, in the order `slice_of` reads them."""
        order = {target: rank for rank, target in enumerate(_SLICE_KEYS)}
        return sorted(
            (pair for pair in self.targets if pair[1] in order), key=lambda pair: order[pair[1]]
        )

    def slice_of(self, number: int, row: Sequence[str], count: int) -> int:
        """Which of `count` slices imports this row: the same for every row of one person.

        The person is told by the row's first identifier, roughly normalised: the source's
        own id for the person (a CRM's contact id stays when the email changes), else the
        email, else the phone. A person's rows then meet in one slice, in file order, and
        two workers never wait for each other's new people. Only speed depends on it (a
        person told by other identifiers in other rows is still one profile: ingestion
        locks each identifier). A row without one goes by its number.
        """
        for index, target in self._identifiers:
            value = row[index].strip() if index < len(row) else ""
            if target == "email":
                value = value.lower()
            elif target == "phone":
                value = "".join(char for char in value if char.isdigit())[-9:]
            if value:
                # crc32, not hash(): every worker process must compute the same slice.
                return zlib.crc32(f"{target}:{value}".encode()) % count
        return number % count

    def mapped(self, row: Sequence[str]) -> dict[str, str]:
        """Target -> cleaned value, empty values left out."""
        out = {}
        for index, target in self.targets:
            value = clean_text(row[index], max_length=1000) if index < len(row) else ""
            if value:
                out[target] = value
        return out

    def message_id(self, mapped: Mapping[str, str]) -> str:
        """The same row content from the same source always gets the same message id."""
        digest = hashlib.sha256(str(self.source.pk).encode())
        for target in sorted(mapped):
            digest.update(f"\x1e{target}\x1f{mapped[target]}".encode())
        return f"import-{digest.hexdigest()[:40]}"

    def message(self, *, row: Sequence[str], job_id: int | None, number: int) -> Message:
        mapped = self.mapped(row)
        traits: dict[str, Any] = {}
        consent: dict[str, bool] = {}
        for target, value in mapped.items():
            code = consent_target_code(target)
            if code is not None:
                no_withdraws = target.startswith(WITHDRAWAL_PREFIX)
                decision = consent_decision(value, no_withdraws=no_withdraws)
                if decision is not None:
                    consent[code] = decision
                continue
            if target == "external_id":
                continue
            key = target[len(TRAIT_PREFIX) :] if target.startswith(TRAIT_PREFIX) else target
            traits[key] = value
        return Message(
            type=Event.Type.IMPORT,
            message_id=self.message_id(mapped),
            external_id=mapped.get("external_id", ""),
            traits=traits,
            properties={"import_job_id": job_id, "row": number},
            context=(
                {
                    "consent": consent,
                    "import": {"job": job_id, "file": self.file_name, "row": number},
                }
                if consent
                else {}
            ),
        )

    def stored_values(self, prepared: Prepared) -> dict[str, Any]:
        """File column -> the value ingestion will store for it (normalised)."""
        external = next((key[2] for key in prepared.keys if key[0] == "external_id"), "")
        out: dict[str, Any] = {}
        for index, target in self.targets:
            code = consent_target_code(target)
            if code is not None:
                decision = prepared.context.get("consent", {}).get(code)
                value: Any = "" if decision is None else ("granted" if decision else "withdrawn")
            elif target == "external_id":
                value = external
            elif target.startswith(TRAIT_PREFIX):
                value = prepared.traits.get(target[len(TRAIT_PREFIX) :], "")
            else:
                value = prepared.fields.get(target, "")
            if value != "":
                out[self.header[index]] = value
        return out

    def issues_by_column(self, prepared: Prepared) -> dict[str, list[str]]:
        """File column -> what will become a data-quality issue (a value kept out, or flagged)."""
        column_of = {target: self.header[index] for index, target in self.targets}
        out: dict[str, list[str]] = {}
        for issue in prepared.issues:
            column = column_of.get(issue.field) or column_of.get(TRAIT_PREFIX + issue.field, "")
            if issue.severity == "error":
                text = gettext("data-quality issue, kept out of the profile: %(message)s")
            else:
                text = gettext("data-quality issue, kept but flagged: %(message)s")
            out.setdefault(column, []).append(text % {"message": issue.message})
        return out

    def errors_by_column(self, fields: Mapping[str, Any]) -> dict[str, list[str]]:
        """Ingestion's field messages ("traits.email", "externalId") keyed by file column."""
        column_of = {target: self.header[index] for index, target in self.targets}
        out: dict[str, list[str]] = {}
        for key, messages in fields.items():
            if key == "userId":
                column, texts = "", [gettext("needs a valid email, phone or external id")]
            else:
                target = "external_id" if key == "externalId" else key.removeprefix(TRAIT_PREFIX)
                column = column_of.get(target) or column_of.get(TRAIT_PREFIX + target, "")
                texts = [str(text) for text in messages] if isinstance(messages, list) else []
                texts = texts or [str(messages)]
            out.setdefault(column, []).extend(texts)
        return out


def columns_propose(
    *, source: Source, header: Sequence[str], columns: Mapping[str, str] | None = None
) -> dict[str, str]:
    """A mapping for this header: the given (else the source's last saved) one, then suggestions."""
    if columns is None:
        last = ImportMapping.objects.filter(source=source).order_by("-updated_at", "-pk").first()
        columns = last.columns if last is not None else {}
    known = {column: target for column, target in columns.items() if isinstance(target, str)}
    purposes = list(Purpose.objects.filter(is_active=True).order_by("code"))
    # A suggestion never takes a target that a known column already has.
    taken = {target for column, target in known.items() if column in header and target}
    proposal: dict[str, str] = {}
    for column in header:
        if column in known:
            proposal[column] = known[column]
            continue
        target = target_suggest(column, purposes=purposes)
        if target in taken:
            target = TRAIT_PREFIX + trait_key_for(column)
        taken.add(target)
        proposal[column] = target
    return proposal


@transaction.atomic
def import_mapping_save(
    *,
    source: Source,
    name: str,
    columns: Mapping[str, Any],
    options: Mapping[str, Any] | None = None,
) -> ImportMapping:
    """Save a mapping for reuse under a name; saving the same name for the source replaces it."""
    name = clean_text(name, max_length=120)
    if not name:
        raise CollectionError(
            gettext("a mapping needs a name"), fields={"name": [gettext("is required")]}
        )
    checked = columns_check(columns)
    mapping, _ = ImportMapping.objects.update_or_create(
        source=source, name=name, defaults={"columns": checked, "options": options_check(options)}
    )
    return mapping
