"""The /v1 fast path must judge every call exactly as the DRF serializers do.

The serializers are the reference: for random Segment-like calls, valid and not (wrong
types, missing fields, blank or long strings, NUL and surrogates, bad, naive, skewed and
out-of-range times, nested junk), the fast check accepts the same calls and builds the
same validated data; batches and single calls end in the same Messages and answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from unittest import mock

import orjson
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from collection.api.tracking import body as tracking_body
from collection.api.tracking.body import body_decode
from collection.api.tracking.fast_check import (
    ENVELOPE_RULES,
    PreparedBatch,
    batch_prepare,
    batch_results,
    call_check,
    call_message,
    fast_zone,
    fields_check,
    rules_for,
)
from collection.api.tracking.serializers import (
    BATCH_ITEM_SERIALIZERS,
    CALL_SERIALIZERS,
    IdentifierField,
    TrackingBatchSerializer,
    TrackingMessageResultSerializer,
    TrackingTrackSerializer,
)
from profiles.errors import InvalidMessage
from profiles.services import BatchResult, MessageResult

# --- random Segment-like input --------------------------------------------------------

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe"]
_SPACE = st.sampled_from(["", " ", "\t\n", "\u3000", "\u00a0"])
# Any code point, surrogates included, and the characters that matter most.
_texts = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\x00", " ", "\ud800", "\udfff"]),
    max_size=12,
)
_numbers = st.integers(-(10**20), 10**20) | st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | _numbers | _texts,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(_texts, kids, max_size=3),
    max_leaves=6,
)
_padded = st.builds(lambda a, core, b: a + core + b, _SPACE, _texts, _SPACE)
_long = st.builds(lambda n, pad: pad + "x" * n + pad, st.integers(190, 260), _SPACE)


def _iso(moment: datetime, offset: int | None, sep: str, spec: str, zulu: bool) -> str:
    if offset is not None:
        moment = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    text = moment.isoformat(sep=sep, timespec=spec)
    return text[:-6] + "Z" if zulu and text.endswith("+00:00") else text


_any_time = st.builds(
    _iso,
    st.datetimes(max_value=datetime(9999, 12, 31, 23, 59, 59)),
    st.none() | st.integers(-1439, 1439),
    st.sampled_from("T "),
    st.sampled_from(["auto", "minutes", "seconds", "milliseconds", "microseconds"]),
    st.booleans(),
)
_recent_time = st.builds(
    _iso,
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1)),
    st.none() | st.sampled_from([0, 60, -300, 330, 960]),
    st.just("T"),
    st.sampled_from(["auto", "seconds", "milliseconds"]),
    st.booleans(),
)
_odd_time = (
    st.sampled_from(["yesterday", "", "2024-13-01T00:00:00Z", "2024-02-30", "2024-01-01T24:00:00"])
    | st.sampled_from(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2024-01-01"])
    | st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:00:00", "2024-01-01T00:00:00+25:00"])
    | st.sampled_from(["20240101T000000Z", " 2024-01-01T00:00:00Z ", "2024-01-01 10:00:00.12345Z"])
    | st.sampled_from(["1899-12-31T23:59:59Z", "1900-01-01T00:00Z", "2024-01-01T10:00:00.1234567"])
    # A time that does not exist in Paris, one that exists twice there and in New York.
    | st.sampled_from(["2024-03-31T02:30:00", "2024-10-27T02:30:00", "2024-11-03T01:30:00"])
)
_times = _recent_time | _recent_time | _any_time | _odd_time | _texts | json_values
_near = st.datetimes(
    min_value=datetime(2026, 11, 28), max_value=datetime(2026, 11, 30), timezones=st.just(UTC)
)
moments = _near | _near | st.datetimes(min_value=datetime(1800, 1, 1), timezones=st.just(UTC))
_kinds = st.sampled_from(list(CALL_SERIALIZERS))


def _values(field: serializers.Field) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """Values of the field's kind that are nearly always valid, and of any kind at all."""
    storable = st.characters(codec="utf-8", exclude_characters="\x00")
    if isinstance(field, IdentifierField):
        good = st.text(storable, max_size=8) | st.integers()
        own = good | st.sampled_from(["", 0, True])
    elif isinstance(field, serializers.ChoiceField):
        good = st.sampled_from(list(field.choices))
        own = _kinds | _texts
    elif isinstance(field, serializers.CharField):
        good = st.text(storable, min_size=1, max_size=30) | _numbers
        own = good | _padded | _long | st.sampled_from(["", "  "])
    elif isinstance(field, serializers.DictField):
        good = st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3)
        own = good
    elif isinstance(field, serializers.DateTimeField):
        good = st.none() | _recent_time
        own = _times
    else:
        good = st.lists(json_values, min_size=1, max_size=3)
        own = good | st.just([])
    return good, own | st.none() | json_values


def calls(serializer: Any) -> st.SearchStrategy[Any]:
    """Calls with some of the serializer's fields (and an unknown one): mostly well-formed
    ones, then ones with any value in any field, now and then no object at all."""
    fields = {name: _values(field) for name, field in serializer._declared_fields.items()}
    required = {n for n, field in serializer._declared_fields.items() if field.required}
    well_formed = st.fixed_dictionaries(
        {n: good for n, (good, _) in fields.items() if n in required},
        optional={n: good for n, (good, _) in fields.items() if n not in required},
    )
    messy = st.fixed_dictionaries(
        {}, optional={**{n: mixed for n, (_, mixed) in fields.items()}, "extra": json_values}
    )
    return well_formed | messy | json_values


_BIG = {"type": "track", "userId": "u", "event": "Big", "properties": {"blob": "x" * 33_000}}


def batch_items() -> st.SearchStrategy[Any]:
    item = st.sampled_from(list(BATCH_ITEM_SERIALIZERS.values())).flatmap(calls)
    return item | item | item | json_values | st.just(_BIG)


def typical_calls() -> list[dict[str, Any]]:
    """One of each kind, as Segment's libraries send them."""
    common = {
        "messageId": "m-1",
        "anonymousId": "anon-1",
        "timestamp": "2026-11-29T11:59:00.123Z",
        "sentAt": "2026-11-29T11:59:01.000Z",
        "context": {"library": {"name": "analytics-python", "version": "2.3.0"}},
        "integrations": {},
    }
    return [
        {**common, "type": "identify", "userId": 42, "traits": {"email": "a@example.org"}},
        {**common, "type": "track", "event": "Demo Requested", "properties": {"plan": "pro"}},
        {**common, "type": "page", "name": "Home", "category": None, "properties": {}},
        {**common, "type": "screen", "name": "Settings"},
        {**common, "type": "group", "groupId": "g-1", "traits": {"name": "Acme"}},
        {**common, "type": "alias", "userId": "u-1", "previousId": "anon-1"},
    ]


SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SERIALIZERS = [*CALL_SERIALIZERS.values(), *BATCH_ITEM_SERIALIZERS.values()]
RECEIVED = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _outcome(work: Callable[[], Any]) -> tuple[str, str]:
    """What a piece of work ended in, comparable across implementations."""
    try:
        return "ok", repr(work())
    except (serializers.ValidationError, InvalidMessage) as exc:
        detail = exc.detail if isinstance(exc, serializers.ValidationError) else exc.fields
        return "invalid", json.dumps(detail)
    except Exception as exc:  # the same crash on both sides is the same behaviour
        return "crash", type(exc).__name__


def _serializer_data(serializer: Any, data: Any, context: dict[str, Any]) -> dict[str, Any] | None:
    checker = serializer(data=data, context=context)
    try:
        return dict(checker.validated_data) if checker.is_valid() else None
    except Exception:
        return None  # a crash: the fast check must decline and leave it to the serializer


# --- one call ---------------------------------------------------------------------


@SETTINGS
@given(
    serializer=st.sampled_from(SERIALIZERS),
    zone=st.sampled_from(ZONES),
    sent_at=st.none() | moments,
    data=st.data(),
)
def test_the_fast_check_accepts_what_the_serializer_accepts_and_builds_the_same_data(
    serializer: Any, zone: str, sent_at: datetime | None, data: st.DataObject
) -> None:
    call = data.draw(calls(serializer))
    context = {"received_at": RECEIVED, "sent_at": sent_at}

    with override_settings(TIME_ZONE=zone):
        expected = _serializer_data(serializer, call, context)
        fast = call_check(serializer, call, received_at=RECEIVED, sent_at=sent_at, zone=fast_zone())

    event(f"call: {'valid' if expected is not None else 'invalid'}")
    assert repr(fast) == repr(expected)


@SETTINGS
@given(serializer=st.sampled_from(list(CALL_SERIALIZERS.values())), data=st.data())
def test_a_single_call_ends_in_the_message_or_the_errors_of_the_serializer(
    serializer: Any, data: st.DataObject
) -> None:
    call = data.draw(calls(serializer))

    def reference() -> Any:
        checker = serializer(data=call, context={"received_at": RECEIVED})
        if not checker.is_valid():
            raise InvalidMessage("The message is invalid.", fields=checker.errors)
        return checker.message(checker.validated_data)

    fast = _outcome(lambda: call_message(serializer=serializer, data=call, received_at=RECEIVED))

    event(f"single call: {fast[0]}")
    assert fast == _outcome(reference)


def test_typical_calls_take_the_fast_path() -> None:
    zone = fast_zone()

    accepted = [
        call_check(
            BATCH_ITEM_SERIALIZERS[call["type"]],
            call,
            received_at=RECEIVED,
            sent_at=None,
            zone=zone,
        )
        is not None
        for call in typical_calls()
    ]

    assert accepted == [True] * 6


def test_a_call_the_fast_check_declines_is_judged_by_the_serializer() -> None:
    # DRF's DateTimeField reads the literal text "iso-8601" as 1900-01-01 (its strptime
    # fallback); the fast check does not know that, declines, and the serializer accepts.
    call = {"userId": "u", "event": "E", "timestamp": "iso-8601"}

    fast = call_check(
        TrackingTrackSerializer, call, received_at=RECEIVED, sent_at=None, zone=fast_zone()
    )
    message = call_message(serializer=TrackingTrackSerializer, data=call, received_at=RECEIVED)

    assert fast is None
    assert message.timestamp == datetime(1900, 1, 1, tzinfo=UTC)


def test_the_fast_check_steps_aside_when_drf_reads_times_otherwise(settings: Any) -> None:
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DATETIME_INPUT_FORMATS": ["%Y"]}
    call = {"userId": "u", "event": "E", "timestamp": "2026"}

    message = call_message(serializer=TrackingTrackSerializer, data=call, received_at=RECEIVED)

    assert fast_zone() is None
    assert message.timestamp == datetime(2026, 1, 1, tzinfo=UTC)


def test_a_serializer_with_a_field_the_fast_check_does_not_know_is_refused() -> None:
    class WithEmail(serializers.Serializer):
        email = serializers.EmailField()

    with pytest.raises(TypeError, match="no rule for email"):
        rules_for(WithEmail)


# --- batches ----------------------------------------------------------------------


def _reference_prepare(
    items: list[Any], sent_at: datetime | None, base_context: Mapping[str, Any]
) -> PreparedBatch:
    """batch_prepare as it was: the serializers alone judge every call."""
    prepared = PreparedBatch()
    context = {"received_at": RECEIVED, "sent_at": sent_at, "base_context": base_context}
    checkers = {kind: cls(context=context) for kind, cls in BATCH_ITEM_SERIALIZERS.items()}
    for index, item in enumerate(items):
        message_id = item.get("messageId") if isinstance(item, Mapping) else None
        rejected = {"index": index, "status": "error"}
        if isinstance(message_id, str) and message_id:
            rejected["messageId"] = message_id
        if not isinstance(item, Mapping):
            prepared.rejected[index] = {**rejected, "errors": {"message": ["must be an object"]}}
            continue
        size = len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())
        if size > 32 * 1024:
            prepared.rejected[index] = {**rejected, "errors": {"message": ["is larger than 32 KB"]}}
            continue
        kind = item.get("type")
        checker = checkers.get(kind) if isinstance(kind, str) else None
        if checker is None:
            errors = {"type": ["must be one of identify, track, page, screen, group, alias"]}
            prepared.rejected[index] = {**rejected, "errors": errors}
            continue
        try:
            data = checker.run_validation(item)
        except serializers.ValidationError as exc:
            prepared.rejected[index] = {**rejected, "errors": exc.detail}
            continue
        prepared.messages.append(checker.message(data))
        prepared.positions.append(index)
    return prepared


def _outcome_of(prepared: PreparedBatch) -> BatchResult:
    """What the intake service might answer: some stored, some refused."""
    return BatchResult(
        results=[
            MessageResult(
                index=n,
                status="error" if n % 3 == 2 else "accepted",
                message_id=m.message_id or f"gen-{n}",
                errors={"userId": ["is required"]} if n % 3 == 2 else {},
            )
            for n, m in enumerate(prepared.messages)
        ]
    )


def _reference_results(prepared: PreparedBatch, outcome: BatchResult) -> Any:
    """batch_results as it was, rendered through TrackingMessageResultSerializer."""
    results = dict(prepared.rejected)
    for result in outcome.results:
        index = prepared.positions[result.index]
        entry: dict[str, Any] = {"index": index, "status": result.status}
        if result.message_id:
            entry["messageId"] = result.message_id
        if result.status == "error":
            entry["errors"] = result.errors
        results[index] = entry
    return TrackingMessageResultSerializer([results[i] for i in sorted(results)], many=True).data


def _answered(prepare: Callable[[], PreparedBatch], results: Callable[..., Any]) -> Any:
    """The Messages and the rendered per-call answer a way of preparing a batch ends in."""
    prepared = prepare()
    answer = results(prepared, _outcome_of(prepared))
    return repr(prepared.messages), prepared.positions, JSONRenderer().render(answer)


@SETTINGS
@given(
    items=st.lists(batch_items(), max_size=8),
    sent_at=st.none() | moments,
    base_context=st.dictionaries(st.sampled_from(["ip", "locale", "page"]), json_values),
)
def test_a_batch_is_prepared_and_answered_as_the_serializers_alone_would(
    items: list[Any], sent_at: datetime | None, base_context: dict[str, Any]
) -> None:
    def fast() -> PreparedBatch:
        return batch_prepare(
            items=items, received_at=RECEIVED, sent_at=sent_at, base_context=base_context
        )

    answered = _outcome(lambda: _answered(fast, lambda p, o: batch_results(prepared=p, outcome=o)))

    expected = _outcome(
        lambda: _answered(
            lambda: _reference_prepare(items, sent_at, base_context), _reference_results
        )
    )
    event(f"batch: {answered[0]}")
    assert answered == expected


@SETTINGS
@given(envelope=calls(TrackingBatchSerializer), zone=st.sampled_from(ZONES))
def test_the_batch_envelope_is_checked_as_the_serializer_checks_it(
    envelope: Any, zone: str
) -> None:
    with override_settings(TIME_ZONE=zone):
        expected = _serializer_data(TrackingBatchSerializer, envelope, {})
        fast = fields_check(ENVELOPE_RULES, envelope, fast_zone())

    event(f"envelope: {'valid' if expected is not None else 'invalid'}")
    assert repr(fast) == repr(expected)


# --- bodies -----------------------------------------------------------------------


@SETTINGS
@given(
    value=json_values | st.sampled_from(["\\u0000", "a\\\\u0000", "\\uD800", "\\ud83d\\ude00"]),
    ensure_ascii=st.booleans(),
)
def test_a_body_is_walked_for_nul_and_surrogates_whenever_it_may_hold_one(
    value: Any, ensure_ascii: bool
) -> None:
    raw = json.dumps({"v": value}, ensure_ascii=ensure_ascii).encode("utf-8", "surrogatepass")

    def decode() -> Any:
        return body_decode(raw=raw, encoding="", limit=1 << 20)

    with mock.patch.object(tracking_body, "may_hold_unstorable", return_value=True):
        always_walked = _outcome(decode)

    assert _outcome(decode) == always_walked


def test_a_call_s_own_sent_at_wins_over_the_batch_s() -> None:
    batch_sent_at = RECEIVED + timedelta(hours=2)  # this device's clock runs two hours fast
    early = {"type": "track", "userId": "u", "event": "A", "timestamp": "2026-11-29T13:59:00Z"}
    late = {**early, "timestamp": "2026-11-29T14:59:00Z", "sentAt": "2026-11-29T15:00:00Z"}

    prepared = batch_prepare(
        items=[early, late], received_at=RECEIVED, sent_at=batch_sent_at, base_context={}
    )

    assert [m.timestamp for m in prepared.messages] == [RECEIVED - timedelta(minutes=1)] * 2


def _sized(floats: int) -> dict[str, Any]:
    return {"type": "track", "userId": "u", "event": "A", "properties": {"x": [1e-07] * floats}}


def _stdlib_size(item: object) -> int:
    return len(json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode())


def test_the_32_kb_limit_is_json_dumps_s_size_even_where_orjson_writes_less() -> None:
    # "1e-07" is 5 bytes with json.dumps, 4 with orjson: find a call over the limit by the
    # first and under it by the second, and one just under it by the first.
    n = 1
    while _stdlib_size(_sized(n)) <= 32 * 1024:
        n += 500 if _stdlib_size(_sized(n + 500)) <= 32 * 1024 else 1
    over, under = _sized(n), _sized(n - 1)
    assert len(orjson.dumps(over)) <= 32 * 1024 < _stdlib_size(over)

    prepared = batch_prepare(
        items=[over, under], received_at=RECEIVED, sent_at=None, base_context={}
    )

    assert prepared.rejected[0]["errors"] == {"message": ["is larger than 32 KB"]}
    assert prepared.positions == [1]
