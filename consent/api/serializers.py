"""Staff API serializers: output shapes, and the input of a decision."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils.translation import gettext
from rest_framework import serializers

from consent.models import ConsentRecord, Purpose, PurposeVersion
from consent.selectors import PurposeState, purpose_by_code

BIGINT_MAX = 2**63 - 1
INT_MAX = 2**31 - 1


class PurposeSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(
        source="current_version", read_only=True, allow_null=True, help_text="Current wording."
    )
    text = serializers.CharField(source="current_text", read_only=True, allow_null=True)

    class Meta:
        model = Purpose
        fields = [
            "id",
            "code",
            "name",
            "legal_basis",
            "channel",
            "requires_double_opt_in",
            "is_active",
            "version",
            "text",
            "created_at",
        ]
        read_only_fields = fields


class ConsentRecordSerializer(serializers.ModelSerializer):
    purpose = serializers.SlugRelatedField(slug_field="code", read_only=True)
    version = serializers.SerializerMethodField(help_text="The wording version the person saw.")
    recorded_by = serializers.SerializerMethodField(help_text="Username of the staff member.")

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "profile",
            "purpose",
            "status",
            "method",
            "version",
            "source",
            "proof",
            "recorded_by",
            "recorded_at",
            "expires_at",
        ]
        read_only_fields = fields

    def get_version(self, record: ConsentRecord) -> int | None:
        return record.wording.version if record.wording else None

    def get_recorded_by(self, record: ConsentRecord) -> str | None:
        return record.recorded_by.get_username() if record.recorded_by else None


class ConsentDecisionSerializer(serializers.Serializer):
    """A decision to record for a profile; the service applies the ledger's rules."""

    profile = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    purpose = serializers.SlugField(max_length=60, help_text="The purpose's code.")
    status = serializers.ChoiceField(
        choices=[ConsentRecord.Status.GRANTED, ConsentRecord.Status.WITHDRAWN]
    )
    method = serializers.ChoiceField(
        choices=[
            ConsentRecord.Method.API,
            ConsentRecord.Method.FORM,
            ConsentRecord.Method.IMPORT,
            ConsentRecord.Method.ADMIN,
        ],
        default=ConsentRecord.Method.API,
    )
    proof = serializers.JSONField(
        help_text="What proves the decision: form, time, truncated IP, user agent, note."
    )
    version = serializers.IntegerField(
        min_value=1,
        max_value=INT_MAX,
        required=False,
        allow_null=True,
        help_text="The wording version the person saw (required context for forms).",
    )
    source = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, allow_null=True
    )
    email = serializers.EmailField(
        required=False,
        allow_blank=True,
        help_text="Where to send the confirmation of a double opt-in purpose.",
    )
    expires_at = serializers.DateTimeField(required=False, allow_null=True)

    def validate_purpose(self, code: str) -> Purpose:
        purpose = purpose_by_code(code=code)
        if purpose is None:
            raise serializers.ValidationError(gettext("No purpose with this code."))
        return purpose

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError as error:
            raise serializers.ValidationError(gettext("This time is out of range.")) from error

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        version = data.pop("version", None)
        data["wording"] = None
        if version is not None:
            data["wording"] = PurposeVersion.objects.filter(
                purpose=data["purpose"], version=version
            ).first()
            if data["wording"] is None:
                raise serializers.ValidationError(
                    {"version": [gettext("This purpose has no wording with this version.")]}
                )
        return data


class PurposeStateSerializer(serializers.Serializer):
    purpose = serializers.CharField(source="purpose.code")
    name = serializers.CharField(source="purpose.name")
    legal_basis = serializers.CharField(source="purpose.legal_basis")
    channel = serializers.CharField(source="purpose.channel")
    is_active = serializers.BooleanField(source="purpose.is_active")
    status = serializers.CharField(allow_null=True)
    in_force = serializers.BooleanField(help_text="A grant that has not expired.")
    expired = serializers.BooleanField()
    version = serializers.IntegerField(allow_null=True)
    record = serializers.SerializerMethodField()
    recorded_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)

    def get_record(self, state: PurposeState) -> int | None:
        return state.record.pk if state.record else None


class ProfileConsentSerializer(serializers.Serializer):
    profile = serializers.IntegerField(help_text="The profile decisions go to (merges followed).")
    purposes = PurposeStateSerializer(many=True)
