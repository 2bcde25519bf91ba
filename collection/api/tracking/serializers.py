"""Segment's tracking spec in, our `Message` out; and the answers of the /v1 API.

These serializers are the documented schema and the judge of every call: the hot path
(`fast_check`) is compiled from their fields, and any call it is not sure of is handed
to them, so their error messages are the ones clients see.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from django.utils.translation import gettext
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from profiles.services import Message

# Earlier instants are typos, and near year 1 a time-zone shift overflows.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)


@extend_schema_field({"oneOf": [{"type": "string", "maxLength": 255}, {"type": "integer"}]})
class IdentifierField(serializers.Field):
    """A user, anonymous, group or previous id: Segment allows a string or a number."""

    default_error_messages = {"invalid": "must be a string or a number"}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", kwargs["required"] is False)
        super().__init__(**kwargs)

    def to_internal_value(self, data: object) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return str(data)

    def to_representation(self, value: str) -> str:
        return value


def _object(help_text: str) -> serializers.DictField:
    return serializers.DictField(required=False, allow_null=True, help_text=help_text)


def _time(help_text: str) -> serializers.DateTimeField:
    return serializers.DateTimeField(required=False, allow_null=True, help_text=help_text)


def _text(help_text: str, *, required: bool = False) -> serializers.CharField:
    return serializers.CharField(
        required=required,
        allow_blank=not required,
        allow_null=not required,
        max_length=200,
        help_text=help_text,
    )


def occurred_at(
    *,
    original: datetime | None,
    sent_at: datetime | None,
    received_at: datetime,
    original_field: str = "timestamp",
) -> datetime | None:
    """Segment's clock-skew rule: timestamp = receivedAt - (sentAt - originalTimestamp)."""
    if original is None:
        return None
    if original < EARLIEST:
        raise serializers.ValidationError({original_field: [gettext("must be after 1900-01-01")]})
    if sent_at is None:
        return original
    try:
        corrected: datetime | None = received_at - (sent_at - original)
    except OverflowError:
        corrected = None
    if corrected is None or corrected < EARLIEST:
        raise serializers.ValidationError(
            {"sentAt": [gettext("is too far from the timestamp to correct the device clock")]}
        )
    return corrected


def call_time(
    attrs: dict[str, Any], *, sent_at: datetime | None, received_at: datetime
) -> dict[str, Any]:
    """A call's checked fields plus `occurred_at`; its own sentAt wins over the batch's."""
    original_field = "originalTimestamp" if attrs.get("originalTimestamp") else "timestamp"
    attrs["occurred_at"] = occurred_at(
        original=attrs.get(original_field),
        sent_at=attrs.get("sentAt") or sent_at,
        received_at=received_at,
        original_field=original_field,
    )
    return attrs


class TrackingCallSerializer(serializers.Serializer):
    """Fields every Segment call shares (spec: common fields)."""

    kind: ClassVar[str] = ""

    messageId = _text("Unique per source; a replayed id is stored once.")
    userId = IdentifierField(help_text="Your id for the person.")
    anonymousId = IdentifierField(help_text="A device or browser id.")
    context = _object("Kept whole: campaign (UTM), page, userAgent, ip, consent, traits.")
    integrations = _object("Accepted for compatibility and ignored.")
    timestamp = _time("When it happened (ISO 8601); now if left out.")
    originalTimestamp = _time("The device's clock when it happened; wins over timestamp.")
    sentAt = _time("The device's clock when sent; corrects its skew.")
    writeKey = serializers.CharField(
        required=False, write_only=True, help_text="The source's write key, if not by Basic auth."
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return call_time(
            attrs, sent_at=self.context.get("sent_at"), received_at=self.context["received_at"]
        )

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The Message fields this kind of call fills."""
        return {}

    def message(self, data: Mapping[str, Any]) -> Message:
        """A validated call as the ingestion service's Message."""
        shared = self.context.get("base_context") or {}
        return Message(
            type=self.kind,
            message_id=data.get("messageId") or "",
            user_id=data.get("userId") or "",
            anonymous_id=data.get("anonymousId") or "",
            context={**shared, **(data.get("context") or {})},
            timestamp=data["occurred_at"],
            **self.specific(data),
        )


class TrackingIdentifySerializer(TrackingCallSerializer):
    """Who someone is: traits such as email, phone, firstName, company, address."""

    kind = "identify"
    traits = _object("email, phone, firstName, lastName, company, title, address, …")

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"traits": data.get("traits") or {}}


class TrackingTrackSerializer(TrackingCallSerializer):
    """Something someone did."""

    kind = "track"
    event = _text("The action, e.g. 'Demo Requested'.", required=True)
    properties = _object("Anything about the action.")

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"name": data["event"], "properties": data.get("properties") or {}}


class TrackingPageSerializer(TrackingCallSerializer):
    """A page someone viewed; the category is kept in the properties."""

    kind = "page"
    name = _text("The page's name.")
    category = _text("The page's category.")
    properties = _object("url, path, title, referrer, search, …")

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        properties = dict(data.get("properties") or {})
        if data.get("category"):
            properties["category"] = data["category"]
        return {"name": data.get("name") or "", "properties": properties}


class TrackingScreenSerializer(TrackingPageSerializer):
    """A screen someone viewed in an app."""

    kind = "screen"


class TrackingGroupSerializer(TrackingCallSerializer):
    """The organisation someone belongs to; its `name` trait becomes their company."""

    kind = "group"
    groupId = IdentifierField(required=True, help_text="The organisation's id.")
    traits = _object("The organisation's traits: name, industry, employees, …")

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        traits = data.get("traits") or {}
        company = traits.get("name")
        person = {"company": company} if isinstance(company, str) and company.strip() else {}
        return {"traits": person, "properties": {"groupId": data["groupId"], "traits": traits}}


class TrackingAliasSerializer(TrackingCallSerializer):
    """An earlier id (usually an anonymous one) belongs to this user id."""

    kind = "alias"
    userId = IdentifierField(required=True, help_text="The id the person has now.")
    previousId = IdentifierField(required=True, help_text="The id they had before.")

    def specific(self, data: Mapping[str, Any]) -> dict[str, Any]:
        return {"previous_id": data["previousId"]}


CALL_SERIALIZERS: dict[str, type[TrackingCallSerializer]] = {
    serializer.kind: serializer
    for serializer in (
        TrackingIdentifySerializer,
        TrackingTrackSerializer,
        TrackingPageSerializer,
        TrackingScreenSerializer,
        TrackingGroupSerializer,
        TrackingAliasSerializer,
    )
}


def _batch_item(serializer: type[TrackingCallSerializer]) -> type[TrackingCallSerializer]:
    """The same call inside a batch: `type` says which, the write key is the batch's."""
    attrs: dict[str, Any] = {
        "__doc__": serializer.__doc__,
        "__module__": __name__,
        "type": serializers.ChoiceField(choices=[serializer.kind]),
        "writeKey": None,
    }
    name = serializer.__name__.replace("Tracking", "TrackingBatch", 1)
    return type(name, (serializer,), attrs)


BATCH_ITEM_SERIALIZERS = {kind: _batch_item(cls) for kind, cls in CALL_SERIALIZERS.items()}


@extend_schema_field(
    PolymorphicProxySerializer(
        component_name="TrackingBatchMessage",
        serializers=BATCH_ITEM_SERIALIZERS,
        resource_type_field_name="type",
        many=True,
    )
)
class BatchItemsField(serializers.ListField):
    """The calls of a batch, each checked on its own so one bad call spoils nothing else."""


class TrackingBatchSerializer(serializers.Serializer):
    """Many calls in one request (Segment's /v1/batch, formerly /v1/import)."""

    batch = BatchItemsField(allow_empty=False, help_text="Up to 500 KB of calls, 32 KB each.")
    context = _object("Shared by every call; a call's own context keys win.")
    integrations = _object("Accepted for compatibility and ignored.")
    sentAt = _time("The device's clock when sent; corrects every call's skew.")
    writeKey = serializers.CharField(
        required=False, write_only=True, help_text="The source's write key, if not by Basic auth."
    )


class TrackingSuccessSerializer(serializers.Serializer):
    success = serializers.BooleanField()


class TrackingMessageResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the call in the batch.")
    messageId = serializers.CharField(required=False)
    status = serializers.ChoiceField(
        choices=["accepted", "ok", "duplicate", "error"],
        help_text="accepted: stored, ingested shortly by a worker (the default intake mode); "
        "ok / duplicate: ingested now (CDP_INTAKE_MODE=sync); error: refused.",
    )
    errors = serializers.DictField(
        child=serializers.JSONField(), required=False, help_text="Field -> messages."
    )


class TrackingBatchResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    results = TrackingMessageResultSerializer(many=True)


class TrackingErrorDetailSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.JSONField(), required=False)


class TrackingErrorSerializer(serializers.Serializer):
    """The one error format of the API."""

    error = TrackingErrorDetailSerializer()
