"""Web forms: checking a steward's definition, taking a submission in, and the HTML to paste.

A submission is turned into one `form` message and stored through `intake_accept`, like
every other channel. Consent ticks travel raw in the message context (with the proof: a
truncated IP and the user agent) until the consent app records them itself.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.urls import reverse
from django.utils.html import escape
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from collection.errors import CollectionError, FormRateLimited, FormUnavailable, OriginNotAllowed
from collection.models import Form
from collection.origins import origin_allowed
from collection.services.intake import GuardSQL, StoreGuard, intake_accept
from consent.proof import truncate_ip
from consent.selectors import purpose_list, purpose_wordings
from core.rates import Spend, allowed_at_sql, rate_spend, refused, spend_cte
from profiles.errors import InvalidMessage
from profiles.fields import PROFILE_FIELDS
from profiles.models import Source
from profiles.normalise import clean_text, normalise_date, normalise_email, normalise_phone
from profiles.services.ingest import SUPPRESSED
from profiles.services.messages import TRAIT_ALIASES, Message

FIELD_TYPES = ("email", "tel", "text", "date", "checkbox", "select")
FIELD_KEYS = {"name", "label", "target", "type", "required", "choices"}
IDENTIFYING_TARGETS = ("email", "phone")
# Which input types make sense for a profile field; custom traits take any type.
TARGET_TYPES: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("tel",),
    "date_of_birth": ("date",),
}
TEXT_TARGET_TYPES = ("text", "select")
TEXT_MAX_LENGTH = 500
CONSENT_PREFIX = "consent_"
WORDING_PREFIX = "consent_wording_"
NON_FIELD_ERRORS = "non_field_errors"
# Trait keys ingestion reads as profile fields: a custom trait must not use them.
RESERVED_TRAIT_KEYS = set(TRAIT_ALIASES) | {"name", "address"}
# The browser's autofill hint for each profile field.
AUTOCOMPLETE = {
    "email": "email",
    "phone": "tel",
    "first_name": "given-name",
    "last_name": "family-name",
    "company": "organization",
    "job_title": "organization-title",
    "address_line": "street-address",
    "postcode": "postal-code",
    "city": "address-level2",
    "country": "country",
    "date_of_birth": "bday",
}

_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,59}$")
_TRAIT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_PURPOSE_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
_FALSE_WORDS = {"", "false", "0", "off", "no"}

REQUIRED = _("This field is required.")
MESSAGES = {
    "email": _("Enter a valid email address."),
    "tel": _("Enter a valid phone number."),
    "date": _("Enter a valid date."),
    "select": _("Select one of the choices."),
    "checkbox": _("Enter true or false."),
    "single": _("Enter a single value."),
    "long": format_lazy(_("Enter at most {count} characters."), count=TEXT_MAX_LENGTH),
}


@dataclass(frozen=True)
class FormSubmission:
    """What became of a submission; a bot's (honeypot) submission is not stored."""

    stored: bool
    profile_id: int | None = None
    message_id: str = ""


# --- Definition -------------------------------------------------------------------------


def _target_problem(name: str, target: object, kind: object) -> str:
    if not isinstance(target, str) or not target:
        return gettext("field %(name)s: target is required") % {"name": repr(name)}
    if target.startswith("traits."):
        key = target.removeprefix("traits.")
        if not _TRAIT_KEY.match(key):
            return gettext(
                "field %(name)s: trait %(key)s must start with a letter and hold only letters, "
                "digits or '_'"
            ) % {"name": repr(name), "key": repr(key)}
        if key in RESERVED_TRAIT_KEYS:
            standard = TRAIT_ALIASES.get(key, "first_name" if key == "name" else "address_line")
            return gettext(
                "field %(name)s: trait %(key)s is a profile field; use the target %(standard)s"
            ) % {"name": repr(name), "key": repr(key), "standard": repr(standard)}
        return ""
    if target not in PROFILE_FIELDS:
        return gettext(
            "field %(name)s: unknown target %(target)s; use one of %(value)s or traits.<key>"
        ) % {"name": repr(name), "target": repr(target), "value": ", ".join(PROFILE_FIELDS)}
    allowed = TARGET_TYPES.get(target, TEXT_TARGET_TYPES)
    if kind in FIELD_TYPES and kind not in allowed:
        return gettext("field %(name)s: target %(target)s needs the type %(value)s") % {
            "name": repr(name),
            "target": repr(target),
            "value": " or ".join(allowed),
        }
    return ""


def _field_problems(index: int, field: object, honeypot_field: str) -> tuple[str, list[str]]:
    """The field's name (or "") and what is wrong with it."""
    if not isinstance(field, Mapping):
        return "", [gettext("field %(value)s: must be an object") % {"value": index + 1}]
    name = field.get("name")
    if not isinstance(name, str) or not _FIELD_NAME.match(name):
        return "", [
            gettext(
                "field %(value)s: name must start with a letter and hold only letters, digits, "
                "'_' or '-' (at most 60)"
            )
            % {"value": index + 1}
        ]
    problems = [f"field {name!r}: unknown key {key!r}" for key in sorted(set(field) - FIELD_KEYS)]
    if name.startswith(CONSENT_PREFIX) or name in (honeypot_field, NON_FIELD_ERRORS):
        problems.append(gettext("field %(name)s: the name is reserved") % {"name": repr(name)})
    label = field.get("label")
    if not isinstance(label, str) or not label.strip():
        problems.append(gettext("field %(name)s: label is required") % {"name": repr(name)})
    kind = field.get("type")
    if kind not in FIELD_TYPES:
        problems.append(
            gettext("field %(name)s: unknown type %(kind)s; use one of %(value)s")
            % {"name": repr(name), "kind": repr(kind), "value": ", ".join(FIELD_TYPES)}
        )
    target_problem = _target_problem(name, field.get("target"), kind)
    if target_problem:
        problems.append(target_problem)
    if not isinstance(field.get("required", False), bool):
        problems.append(
            gettext("field %(name)s: required must be true or false") % {"name": repr(name)}
        )
    choices = field.get("choices")
    if kind == "select":
        if (
            not isinstance(choices, list)
            or not choices
            or not all(isinstance(choice, str) and choice.strip() for choice in choices)
            or len(set(choices)) != len(choices)
        ):
            problems.append(
                gettext("field %(name)s: a select needs a list of distinct, non-empty choices")
                % {"name": repr(name)}
            )
    elif choices is not None:
        problems.append(gettext("field %(name)s: only a select has choices") % {"name": repr(name)})
    return name, problems


def form_validate_definition(
    *, fields: object, consent_purposes: object, honeypot_field: str = ""
) -> None:
    """Known targets, unique names, valid types, and one email or phone field to identify by."""
    errors: dict[str, list[str]] = {}
    field_errors: list[str] = []
    if not isinstance(fields, list) or not fields:
        field_errors.append(gettext("must be a non-empty list of fields"))
        fields = []
    names: set[str] = set()
    targets: set[str] = set()
    for index, field in enumerate(fields):
        name, problems = _field_problems(index, field, honeypot_field)
        field_errors.extend(problems)
        if name and name in names:
            field_errors.append(
                gettext("field %(name)s: the name is used twice") % {"name": repr(name)}
            )
        names.add(name)
        target = field.get("target") if isinstance(field, Mapping) else None
        if isinstance(target, str) and target:
            if target in targets:
                field_errors.append(
                    gettext("field %(name)s: target %(target)s is used twice")
                    % {"name": repr(name), "target": repr(target)}
                )
            targets.add(target)
    if fields and not targets & set(IDENTIFYING_TARGETS):
        field_errors.append(
            gettext(
                "add a field with the target email or phone, so a submission can be tied to "
                "a person"
            )
        )
    if field_errors:
        errors["fields"] = field_errors
    purpose_errors: list[str] = []
    if not isinstance(consent_purposes, list):
        purpose_errors.append(gettext("must be a list of purpose codes"))
        consent_purposes = []
    seen: set[str] = set()
    for code in consent_purposes:
        if not isinstance(code, str) or not _PURPOSE_CODE.match(code):
            purpose_errors.append(
                f"{code!r} is not a purpose code (lower-case letters, digits, '_' or '-')"
            )
        elif code in seen:
            purpose_errors.append(gettext("%(code)s is listed twice") % {"code": repr(code)})
        seen.add(str(code))
    if not purpose_errors:
        purpose_errors = _purposes_usable(sorted(seen))
    if purpose_errors:
        errors["consent_purposes"] = purpose_errors
    if errors:
        raise CollectionError(gettext("invalid form definition"), fields=errors)


def purpose_choices() -> list[tuple[str, str]]:
    """(code, name) of the purposes a form may ask for: active, with a wording."""
    usable = purpose_list().filter(is_active=True, versions__isnull=False).distinct()
    return [(purpose.code, purpose.name) for purpose in usable]


def _purposes_usable(codes: list[str]) -> list[str]:
    """A form may only ask for active purposes that have a wording to show people."""
    wordings = purpose_wordings(codes=codes)
    problems = []
    for code in codes:
        if code not in wordings:
            problems.append(
                gettext("%(code)s is not an active purpose (admin → Purposes)")
                % {"code": repr(code)}
            )
        elif wordings[code] is None:
            problems.append(
                gettext("%(code)s has no wording yet: add one before using it on a form")
                % {"code": repr(code)}
            )
    return problems


@transaction.atomic
def form_save(*, form: Form) -> Form:
    """Save a form only if its definition is valid (see form_validate_definition)."""
    form_validate_definition(
        fields=form.fields,
        consent_purposes=form.consent_purposes,
        honeypot_field=form.honeypot_field,
    )
    old_slug = (
        Form.objects.filter(pk=form.pk).values_list("slug", flat=True).first() if form.pk else None
    )
    form.save()
    form_cache_clear(slugs=[form.slug, old_slug or form.slug])
    return form


# --- Definitions in process memory -----------------------------------------------------

# How long a web process keeps a definition without looking again. A post never relies on
# it: the statement storing the post checks the form's and its source's `updated_at`
# (FormGuard), and a stale definition is read again and the post checked again. So only
# the answer to a post to a missing or switched-off form may lag a change in another
# process, by at most this long.
FORM_MEMORY_SECONDS = 10
_FORM_MEMORY_MAX = 1000  # slugs; past it the memory starts over
_forms: dict[str, tuple[float, Form | None]] = {}


def form_lookup(*, slug: str) -> Form | None:
    """The form posted to, with its source: from this process's memory, or one query."""
    now = time.monotonic()
    held = _forms.get(slug)
    if held is not None and held[0] > now:
        return held[1]
    form = Form.objects.select_related("source").filter(slug=slug).first()
    if len(_forms) >= _FORM_MEMORY_MAX:
        _forms.clear()
    _forms[slug] = (now + FORM_MEMORY_SECONDS, form)
    return form


def form_cache_clear(*, slugs: Sequence[str]) -> None:
    """Forget this process's copies of these forms, now and once the change is committed.

    Other processes notice the change at their next post to the form (FormGuard).
    """

    def forget() -> None:
        for slug in set(slugs):
            _forms.pop(slug, None)

    forget()
    transaction.on_commit(forget)


def form_cache_clear_for_source(*, source: Source) -> None:
    """Forget the forms of a source that changed (registered with profiles' source hook)."""
    form_cache_clear(slugs=list(Form.objects.filter(source=source).values_list("slug", flat=True)))


class FormChanged(Exception):
    """The definition a post was checked against is no longer the stored one."""


class FormGuard(StoreGuard):
    """A post is stored only if the form is still as the post was checked against (the
    form's and its source's `updated_at`, both active) and the client's rate allows it;
    on PostgreSQL in the INSERT itself."""

    def __init__(self, form: Form, rate: Spend | None) -> None:
        self.form = form
        self.rate = rate

    def _fresh(self) -> tuple[str, list[Any]]:
        sql = (
            f"fresh AS (SELECT 1 FROM {Form._meta.db_table} f "  # noqa: S608 - model tables
            f"JOIN {Source._meta.db_table} s ON s.id = f.source_id "
            "WHERE f.id = %s AND f.updated_at = %s AND s.updated_at = %s "
            "AND f.is_active AND s.is_active)"
        )
        return sql, [self.form.pk, self.form.updated_at, self.form.source.updated_at]

    def sql(self) -> GuardSQL:
        fresh, params = self._fresh()
        if self.rate is None:
            return GuardSQL(
                f"{fresh}, admitted AS (SELECT 1 FROM fresh)",  # noqa: S608 - our SQL
                params,
                "EXISTS (SELECT 1 FROM fresh), NULL",
                [],
            )
        spent, spent_params = spend_cte(self.rate, name="admitted", rows_from="fresh")
        column, column_params = allowed_at_sql(self.rate)
        return GuardSQL(
            f"{fresh}, {spent}",
            params + spent_params,
            f"EXISTS (SELECT 1 FROM fresh), {column}",  # noqa: S608 - our SQL
            column_params,
        )

    def settle(self, values: Sequence[Any]) -> None:
        fresh, allowed_at = values
        if not fresh:
            raise FormChanged
        if self.rate is not None:
            raise FormRateLimited(refused(self.rate, allowed_at).retry_after)

    def admit_portable(self) -> None:
        fresh = Form.objects.filter(
            pk=self.form.pk,
            updated_at=self.form.updated_at,
            is_active=True,
            source__updated_at=self.form.source.updated_at,
            source__is_active=True,
        ).exists()
        if not fresh:
            raise FormChanged
        if self.rate is not None:
            allowance = rate_spend(self.rate)
            if not allowance.allowed:
                raise FormRateLimited(allowance.retry_after)


# --- Submission -------------------------------------------------------------------------


def _is_empty(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _ticked(value: object) -> bool | None:
    """A checkbox's state: present in an HTML post means ticked; None when unreadable."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSE_WORDS
    if isinstance(value, int | float):
        return value != 0
    return None


def _field_value(field: Mapping[str, Any], raw: object, region: str) -> tuple[object, str]:
    """The value to store for one posted field (None: nothing to store) and an error."""
    kind = field["type"]
    if kind == "checkbox":
        ticked = _ticked(raw)
        if ticked is None:
            return None, str(MESSAGES["checkbox"])
        if field.get("required") and not ticked:
            return None, str(REQUIRED)
        return ticked, ""
    if _is_empty(raw):
        return None, str(REQUIRED) if field.get("required") else ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None, str(MESSAGES["single"])
    text = clean_text(raw, max_length=TEXT_MAX_LENGTH + 1)
    if kind == "email":
        result = normalise_email(text)
        return (result.value, "") if result.ok else (None, str(MESSAGES["email"]))
    if kind == "tel":
        result = normalise_phone(text, region=region)
        return (result.value, "") if result.ok else (None, str(MESSAGES["tel"]))
    if kind == "date":
        result = normalise_date(text)
        return (result.value, "") if result.ok else (None, str(MESSAGES["date"]))
    if kind == "select":
        return (text, "") if text in field["choices"] else (None, str(MESSAGES["select"]))
    if len(text) > TEXT_MAX_LENGTH:
        return None, str(MESSAGES["long"])
    return text, ""


def _read_fields(
    form: Form, data: Mapping[str, Any]
) -> tuple[dict[str, object], dict[str, list[str]]]:
    """Posted values checked against the form's fields, as traits keyed for ingestion."""
    traits: dict[str, object] = {}
    errors: dict[str, list[str]] = {}
    for field in form.fields:
        value, error = _field_value(
            field, data.get(field["name"]), form.source.default_phone_region
        )
        if error:
            errors[field["name"]] = [error]
        elif value is not None:
            traits[field["target"].removeprefix("traits.")] = value
    identifying = [field for field in form.fields if field["target"] in IDENTIFYING_TARGETS]
    if not any(field["target"] in traits or field["name"] in errors for field in identifying):
        message = (
            str(REQUIRED)
            if len(identifying) == 1
            else gettext("Fill in at least one of: %(value)s.")
            % {"value": ", ".join(field["label"] for field in identifying)}
        )
        errors.update({field["name"]: [message] for field in identifying})
    return traits, errors


def _read_consent(form: Form, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    consent: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for code in form.consent_purposes:
        ticked = _ticked(data.get(f"{CONSENT_PREFIX}{code}"))
        if ticked is None:
            errors[f"{CONSENT_PREFIX}{code}"] = [str(MESSAGES["checkbox"])]
        else:
            consent[code] = {"granted": ticked, "form": form.slug}
            version = str(data.get(f"{WORDING_PREFIX}{code}") or "")
            if version.isdigit():
                consent[code]["wording_version"] = int(version)
    return consent, errors


def _form_errors(form: Form, ingest_errors: Mapping[str, Any]) -> dict[str, list[str]]:
    """Ingestion's messages ("traits.country") keyed by the form's own field names."""
    by_target = {f"traits.{field['target']}": field["name"] for field in form.fields}
    identifying = [field["name"] for field in form.fields if field["target"] in IDENTIFYING_TARGETS]
    errors: dict[str, list[str]] = {}
    for key, messages in ingest_errors.items():
        texts = [
            str(message) for message in (messages if isinstance(messages, list) else [messages])
        ]
        names = [by_target[key]] if key in by_target else identifying if key == "userId" else []
        for name in names or [NON_FIELD_ERRORS]:
            errors.setdefault(name, []).extend(texts)
    return errors


def form_submit(
    *,
    form: Form,
    data: Mapping[str, Any],
    origin: str | None,
    ip: str,
    user_agent: str,
    page_url: str = "",
    rate: Spend | None = None,
    locale: str = "",
) -> FormSubmission:
    """One form event for a valid post from an allowed origin; a filled honeypot stores nothing.

    Nor does a post about an erased person's address, answered like any other.

    Every post spends one request of `rate` (refused: FormRateLimited) and is checked
    against the stored definition (changed since `form` was read: FormChanged, nothing
    spent or written). A valid post's one write is intake_accept's single INSERT, which
    also does both checks. `locale`, the browser's language, becomes the person's when
    their profile has none (so their consent pages and emails follow it).
    """
    if not form.is_active or not form.source.is_active:
        raise FormUnavailable(gettext("Not found."))
    guard = FormGuard(form, rate)
    if not origin_allowed(source=form.source, origin=origin):
        guard.admit()  # the refusal is checked against the current definition too
        raise OriginNotAllowed(gettext("This site may not post to this form."))
    if not _is_empty(data.get(form.honeypot_field)):
        guard.admit()
        return FormSubmission(stored=False)
    traits, errors = _read_fields(form, data)
    consent, consent_errors = _read_consent(form, data)
    errors.update(consent_errors)
    if errors:
        guard.admit()
        raise InvalidMessage(gettext("Some fields are invalid."), fields=errors)
    context: dict[str, Any] = {
        "consent": consent,
        "ip": truncate_ip(ip),
        "userAgent": clean_text(user_agent, max_length=500),
    }
    if page_url:
        context["page"] = {"url": clean_text(page_url, max_length=2000)}
    if locale:
        context["locale"] = locale
    message = Message(
        type="form",
        message_id=f"form-{uuid.uuid4()}",
        name=form.slug,
        traits=traits,
        properties={"form_id": form.pk, "form_name": form.name},
        context=context,
    )
    result = intake_accept(source=form.source, messages=[message], guard=guard).results[0]
    if result.status == "error" and set(result.errors or {}) == {SUPPRESSED}:
        # Answered as a success: a public form must not tell who asked to be erased. Nothing
        # was written; an opt-in mailed the address its way back (profiles' suppression).
        return FormSubmission(stored=False)
    if result.status == "error":
        raise InvalidMessage(
            gettext("Some fields are invalid."), fields=_form_errors(form, result.errors)
        )
    return FormSubmission(stored=True, profile_id=result.profile_id, message_id=result.message_id)


# --- HTML snippet -----------------------------------------------------------------------


def _input_html(form: Form, field: Mapping[str, Any]) -> list[str]:
    name = escape(field["name"])
    element_id = f"cdp-{escape(form.slug)}-{name}"
    label = f'<label for="{element_id}">{escape(field["label"])}</label>'
    required = " required" if field.get("required") else ""
    if field["type"] == "checkbox":
        return [
            "  <p>",
            f'    <input type="checkbox" id="{element_id}" name="{name}"{required}>',
            f"    {label}",
            "  </p>",
        ]
    if field["type"] == "select":
        options = ['      <option value="">Choose…</option>'] + [
            f'      <option value="{escape(choice)}">{escape(choice)}</option>'
            for choice in field["choices"]
        ]
        return [
            "  <p>",
            f"    {label}",
            f'    <select id="{element_id}" name="{name}"{required}>',
            *options,
            "    </select>",
            "  </p>",
        ]
    autocomplete = AUTOCOMPLETE.get(field["target"])
    extra = f' autocomplete="{autocomplete}"' if autocomplete else ""
    if field["type"] == "text":
        extra += f' maxlength="{TEXT_MAX_LENGTH}"'
    return [
        "  <p>",
        f"    {label}",
        f'    <input type="{field["type"]}" id="{element_id}" name="{name}"{extra}{required}>',
        "  </p>",
    ]


def form_html_snippet(*, form: Form, base_url: str) -> str:
    """Copy-paste HTML that posts to this form's submission URL on the given server; its
    own words (the button, the hidden field's label) in the active language."""
    action = base_url.rstrip("/") + reverse("form-submit", kwargs={"slug": form.slug})
    lines = [f'<form method="post" action="{escape(action)}" accept-charset="utf-8">']
    for field in form.fields:
        lines.extend(_input_html(form, field))
    wordings = purpose_wordings(codes=list(form.consent_purposes))
    for code in form.consent_purposes:
        element_id = f"cdp-{escape(form.slug)}-{CONSENT_PREFIX}{escape(code)}"
        wording = wordings.get(code)
        label = wording.text if wording is not None else code
        lines.extend(
            [
                "  <p>",
                f'    <input type="checkbox" id="{element_id}" name="{CONSENT_PREFIX}'
                f'{escape(code)}">',
                f'    <label for="{element_id}">{escape(label)}</label>',
            ]
        )
        if wording is not None:
            # The proof names the wording this snippet shows, even after a newer one.
            lines.append(
                f'    <input type="hidden" name="{WORDING_PREFIX}{escape(code)}" '
                f'value="{wording.version}">'
            )
        lines.append("  </p>")
    honeypot = escape(form.honeypot_field)
    honeypot_id = f"cdp-{escape(form.slug)}-{honeypot}"
    leave_empty = escape(gettext("Leave this field empty"))
    send = escape(gettext("Send"))
    lines.extend(
        [
            # Off-screen rather than display:none, which some bots skip; people never see it.
            '  <div aria-hidden="true" style="position:absolute;left:-10000px;width:1px;'
            'height:1px;overflow:hidden">',
            f'    <label for="{honeypot_id}">{leave_empty}</label>',
            f'    <input type="text" id="{honeypot_id}" name="{honeypot}" tabindex="-1"'
            ' autocomplete="off">',
            "  </div>",
            f'  <p><button type="submit">{send}</button></p>',
            "</form>",
        ]
    )
    return "\n".join(lines) + "\n"
