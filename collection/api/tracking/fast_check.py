"""The hot path of /v1: Segment calls checked in plain Python, as the serializers would.

DRF's field-by-field validation costs more than everything else a call needs. The rules
here are compiled from the serializers' declared fields at import (an unknown kind of
field fails the import), accept only what the serializer accepts, and build the very same
validated data. Anything they are not sure of (a wrong type, a blank required text, an
unparsable time, ...) is handed to the serializer, which judges it and words the errors:
the messages clients see come from one place. tests/collection/test_tracking_fast_path.py
checks the two agree over random calls.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]  # the C encoder is not in typeshed
from typing import Any, NamedTuple

import orjson
from django.conf import settings
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext
from rest_framework import ISO_8601, serializers
from rest_framework.fields import _UnvalidatedField, empty
from rest_framework.settings import api_settings
from rest_framework.utils.timezone import valid_datetime
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from collection.api.tracking.body import MESSAGE_MAX_BYTES
from collection.api.tracking.serializers import (
    BATCH_ITEM_SERIALIZERS,
    CALL_SERIALIZERS,
    IdentifierField,
    TrackingBatchSerializer,
    TrackingCallSerializer,
    call_time,
)
from profiles.errors import InvalidMessage
from profiles.services import BatchResult, Message

TEXT, IDENTIFIER, OBJECT, TIME, CHOICE, LIST = range(6)
FLAGS = (False, False, True)  # json.dumps's sort_keys, skipkeys, allow_nan
_MISSING = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


class FieldRule(NamedTuple):
    """What one declared field accepts, in the terms the fast check uses."""

    name: str
    check: int
    required: bool
    allow_null: bool
    allow_blank: bool = False  # a blank text, or an empty list, is accepted
    max_length: int | None = None
    choices: frozenset[str] = frozenset()


def _unsupported(name: str, field: serializers.Field) -> TypeError:
    return TypeError(f"fast_check has no rule for {name} ({type(field).__name__}): teach it")


def _text_validator(validator: object, max_length: int | None) -> bool:
    """One of the validators CharField adds itself (which the TEXT check mirrors)."""
    if isinstance(validator, MaxLengthValidator):
        return validator.limit_value == max_length
    return isinstance(
        validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
    )


def _rule(name: str, field: serializers.Field) -> FieldRule:
    """The rule of one declared field; a field configured in a way it does not know fails."""
    if field.read_only or field.default is not empty or field.source not in (None, name):
        raise _unsupported(name, field)
    validators = field.validators
    base = {"name": name, "required": field.required, "allow_null": field.allow_null}
    kind = type(field)
    unvalidated_child = type(getattr(field, "child", None)) is _UnvalidatedField
    if (
        isinstance(field, IdentifierField)
        and not validators
        and kind.to_internal_value is IdentifierField.to_internal_value
        and kind.run_validation is serializers.Field.run_validation
    ):
        return FieldRule(check=IDENTIFIER, **base)
    if (
        kind is serializers.CharField
        and field.trim_whitespace
        and field.min_length is None
        and all(_text_validator(v, field.max_length) for v in validators)
    ):
        return FieldRule(
            check=TEXT, allow_blank=field.allow_blank, max_length=field.max_length, **base
        )
    if (
        kind is serializers.ChoiceField
        and not validators
        and not field.allow_blank
        and all(key == value for key, value in field.choice_strings_to_values.items())
    ):
        return FieldRule(check=CHOICE, choices=frozenset(field.choice_strings_to_values), **base)
    if kind is serializers.DictField and not validators and field.allow_empty and unvalidated_child:
        return FieldRule(check=OBJECT, **base)
    if (
        kind is serializers.DateTimeField
        and not validators
        and not hasattr(field, "input_formats")
        and not hasattr(field, "timezone")
    ):
        return FieldRule(check=TIME, **base)
    if (
        isinstance(field, serializers.ListField)
        and not validators
        and unvalidated_child
        and field.min_length is None
        and field.max_length is None
        and kind.to_internal_value is serializers.ListField.to_internal_value
        and kind.run_child_validation is serializers.ListField.run_child_validation
    ):
        return FieldRule(check=LIST, allow_blank=field.allow_empty, **base)
    raise _unsupported(name, field)


@functools.cache
def rules_for(serializer: type[serializers.Serializer]) -> tuple[FieldRule, ...]:
    """The rules of a serializer's fields, in its field order (the order of its errors)."""
    # A call's validate() is call_time(), which call_check() runs; other serializers have none.
    call = issubclass(serializer, TrackingCallSerializer)
    validate = TrackingCallSerializer.validate if call else serializers.Serializer.validate
    if serializer.validate is not validate:
        raise TypeError(f"fast_check does not know {serializer.__name__}.validate")
    if getattr(getattr(serializer, "Meta", None), "validators", None):
        raise TypeError(f"fast_check does not know {serializer.__name__}'s validators")
    for method in ("run_validation", "to_internal_value"):
        if getattr(serializer, method) is not getattr(serializers.Serializer, method):
            raise TypeError(f"fast_check does not know {serializer.__name__}.{method}")
    declared: dict[str, serializers.Field] = serializer._declared_fields  # type: ignore[attr-defined]  # DRF's metaclass sets it; not in the stubs
    for name in declared:
        if hasattr(serializer, f"validate_{name}"):
            raise TypeError(f"fast_check does not know {serializer.__name__}.validate_{name}")
    return tuple(_rule(name, field) for name, field in declared.items())


# Compiled at import: a field the rules do not know breaks the import, not a request.
for _serializer in (*CALL_SERIALIZERS.values(), *BATCH_ITEM_SERIALIZERS.values()):
    rules_for(_serializer)
ENVELOPE_RULES = rules_for(TrackingBatchSerializer)


def fast_zone() -> tzinfo | None:
    """The zone DRF's DateTimeField gives times in; None (no fast path) when the fast check
    cannot read times as it does: without USE_TZ, or with other DATETIME_INPUT_FORMATS."""
    if not settings.USE_TZ or list(api_settings.DATETIME_INPUT_FORMATS) != [ISO_8601]:
        return None
    return timezone.get_current_timezone()


def _unstorable(text: str) -> bool:
    """What DRF's ProhibitNullCharacters and ProhibitSurrogateCharacters validators refuse."""
    return "\x00" in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def _time(text: str, zone: tzinfo) -> datetime | None:
    try:
        parsed = parse_datetime(text)
    except ValueError:
        return None
    if parsed is None:
        return None  # DRF's strptime fallback and its messages: the serializer's business
    if parsed.utcoffset() is not None:
        try:
            return parsed.astimezone(zone)
        except OverflowError:
            return None
    try:
        moment = timezone.make_aware(parsed, zone)
        return moment if valid_datetime(moment) else None
    except (ValueError, OverflowError):
        return None


def fields_check(  # noqa: C901  (the /v1 hot path: every field rule inline, no call per field)
    rules: tuple[FieldRule, ...], data: object, zone: tzinfo | None
) -> dict[str, Any] | None:
    """The serializer's `to_internal_value(data)` when it surely succeeds; else None."""
    if type(data) is not dict or zone is None:
        return None
    attrs: dict[str, Any] = {}
    get = data.get
    for name, check, required, allow_null, allow_blank, max_length, choices in rules:
        value = get(name, _MISSING)
        if value is _MISSING:
            if required:
                return None
            continue
        if value is None:
            if not allow_null:
                return None
            attrs[name] = None
            continue
        kind = type(value)
        if check == TEXT:
            if kind is str:
                text = value.strip()
            elif kind is int or kind is float:
                text = str(value).strip()
            else:
                return None
            if not text:
                if not allow_blank:
                    return None
            elif (max_length is not None and len(text) > max_length) or _unstorable(text):
                return None
            attrs[name] = text
        elif check == IDENTIFIER:
            if kind is str:
                attrs[name] = value
            elif kind is int:
                attrs[name] = str(value)
            else:
                return None
        elif check == OBJECT:
            if kind is not dict:
                return None
            attrs[name] = dict(value)  # keys are strings: the body is JSON
        elif check == TIME:
            moment = _time(value, zone) if kind is str else None
            if moment is None:
                return None
            attrs[name] = moment
        elif check == CHOICE:
            if kind is not str or value not in choices:
                return None
            attrs[name] = value
        else:  # LIST
            if kind is not list or not (value or allow_blank):
                return None
            attrs[name] = list(value)
    return attrs


def call_check(
    serializer: type[TrackingCallSerializer],
    data: object,
    *,
    received_at: datetime,
    sent_at: datetime | None,
    zone: tzinfo | None,
) -> dict[str, Any] | None:
    """A call's validated data exactly as its serializer builds it, or None: ask it."""
    attrs = fields_check(rules_for(serializer), data, zone)
    if attrs is None:
        return None
    try:
        return call_time(attrs, sent_at=sent_at, received_at=received_at)
    except serializers.ValidationError:
        return None


def call_message(
    *, serializer: type[TrackingCallSerializer], data: object, received_at: datetime
) -> Message:
    """One call as a Message; InvalidMessage with the serializer's field messages if invalid."""
    checker = serializer(data=data, context={"received_at": received_at})
    attrs = call_check(serializer, data, received_at=received_at, sent_at=None, zone=fast_zone())
    if attrs is None:
        if not checker.is_valid():
            raise InvalidMessage(gettext("The message is invalid."), fields=checker.errors)
        attrs = checker.validated_data
    return checker.message(attrs)


def batch_envelope(data: object) -> dict[str, Any]:
    """The batch serializer's validated data; its ValidationError (a 400) if invalid."""
    attrs = fields_check(ENVELOPE_RULES, data, fast_zone())
    if attrs is not None:
        return attrs
    envelope = TrackingBatchSerializer(data=data)
    envelope.is_valid(raise_exception=True)
    return envelope.validated_data


@dataclass
class PreparedBatch:
    """The valid calls of a batch as Messages, and what was wrong with the others."""

    messages: list[Message] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # request index of each message
    rejected: dict[int, dict[str, Any]] = field(default_factory=dict)  # index -> result


_COMPACT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def _oversize() -> Callable[[object], bool]:
    """Whether a call's UTF-8 size as `json.dumps(ensure_ascii=False, separators=(",", ":"))`
    is over MESSAGE_MAX_BYTES.

    orjson writes the same text but for some floats ("1e-7" where json.dumps writes "1e-07",
    "0.00001" for "1e-05"): at worst a quarter shorter (4 characters for 5). A call whose
    orjson size, widened by 5/3, is within the limit is within it; only one near the limit
    (or one orjson refuses: a lone surrogate, an integer beyond 64 bits) is measured
    exactly. json.dumps builds a C encoder on every call; one per batch does the same work
    for a third less (its own `markers` dict, as json.dumps has, refuses cycles the same way).
    """
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        exact: Callable[[object], int] = lambda item: len(_COMPACT.encode(item).encode())  # noqa: E731
    else:
        chunks = c_make_encoder({}, _COMPACT.default, encode_basestring, None, ":", ",", *FLAGS)

        def exact(item: object) -> int:
            text = "".join(chunks(item, 0))
            return len(text) if text.isascii() else len(text.encode())

    def oversize(item: object) -> bool:
        try:
            quick = len(orjson.dumps(item))
        except orjson.JSONEncodeError:
            return exact(item) > MESSAGE_MAX_BYTES
        return quick * 5 > MESSAGE_MAX_BYTES * 3 and exact(item) > MESSAGE_MAX_BYTES

    return oversize


def _result(
    index: int, status: str, message_id: object, errors: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """A call's result, keys in the order TrackingMessageResultSerializer renders them."""
    result: dict[str, Any] = {"index": index}
    if message_id:
        result["messageId"] = str(message_id)
    result["status"] = status
    if errors is not None:
        result["errors"] = {str(key): value for key, value in errors.items()}
    return result


def _rejection(index: int, item: object, errors: Mapping[str, Any]) -> dict[str, Any]:
    message_id = item.get("messageId") if isinstance(item, Mapping) else None
    return _result(index, "error", message_id if isinstance(message_id, str) else "", errors)


def batch_prepare(
    *,
    items: list[Any],
    received_at: datetime,
    sent_at: datetime | None,
    base_context: Mapping[str, Any],
) -> PreparedBatch:
    """Check each call of a batch; valid ones become Messages in request order."""
    prepared = PreparedBatch()
    context = {"received_at": received_at, "sent_at": sent_at, "base_context": base_context}
    zone = fast_zone()
    # One serializer per kind, made when first needed: it builds Messages and judges the
    # calls the fast check declines (its fields are only built then).
    checkers: dict[str, TrackingCallSerializer] = {}
    oversize = _oversize()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            prepared.rejected[index] = _rejection(index, item, {"message": ["must be an object"]})
            continue
        if oversize(item):
            errors = {"message": [f"is larger than {MESSAGE_MAX_BYTES // 1024} KB"]}
            prepared.rejected[index] = _rejection(index, item, errors)
            continue
        kind = item.get("type")
        serializer = BATCH_ITEM_SERIALIZERS.get(kind) if isinstance(kind, str) else None
        if serializer is None:
            errors = {"type": [f"must be one of {', '.join(BATCH_ITEM_SERIALIZERS)}"]}
            prepared.rejected[index] = _rejection(index, item, errors)
            continue
        checker = checkers.get(kind)
        if checker is None:
            checker = checkers[kind] = serializer(context=context)
        data = call_check(serializer, item, received_at=received_at, sent_at=sent_at, zone=zone)
        if data is None:
            try:
                data = checker.run_validation(item)
            except serializers.ValidationError as exc:
                prepared.rejected[index] = _rejection(index, item, exc.detail)  # type: ignore[arg-type]  # ValidationError.detail is a dict for a serializer
                continue
        prepared.messages.append(checker.message(data))
        prepared.positions.append(index)
    return prepared


def batch_results(*, prepared: PreparedBatch, outcome: BatchResult | None) -> list[dict[str, Any]]:
    """One result per call of the request, in request order; never a profile id."""
    results = dict(prepared.rejected)
    positions = prepared.positions
    for result in outcome.results if outcome is not None else []:
        index = positions[result.index]
        errors = result.errors if result.status == "error" else None
        results[index] = _result(index, result.status, result.message_id, errors)
    return [results[index] for index in sorted(results)]
