"""Staff API serializers of the segments app (outputs, and inputs of the write endpoints)."""

from __future__ import annotations

from rest_framework import serializers

from profiles.serializers import ProfileSerializer
from segments.models import Membership, Persona, Segment, SegmentSize

SEGMENT_FIELDS = [
    "id",
    "name",
    "description",
    "kind",
    "rule",
    "refresh_every_minutes",
    "is_active",
    "member_count",
    "last_refreshed_at",
    "created_at",
    "updated_at",
]


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = SEGMENT_FIELDS
        read_only_fields = SEGMENT_FIELDS


class SegmentInputSerializer(serializers.Serializer):
    """Shape only: the rule itself is validated by the compiler, which names its paths."""

    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    kind = serializers.ChoiceField(choices=Segment.Kind.choices, default=Segment.Kind.DYNAMIC)
    rule = serializers.JSONField(required=False, allow_null=True, default=None)
    refresh_every_minutes = serializers.IntegerField(min_value=1, max_value=525600, default=60)
    is_active = serializers.BooleanField(default=True)


class SegmentUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    rule = serializers.JSONField(required=False)
    refresh_every_minutes = serializers.IntegerField(min_value=1, max_value=525600, required=False)
    is_active = serializers.BooleanField(required=False)


class PreviewInputSerializer(serializers.Serializer):
    rule = serializers.JSONField()
    sample = serializers.IntegerField(min_value=0, max_value=100, default=10)


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    sample = ProfileSerializer(many=True)


class MemberSerializer(serializers.ModelSerializer):
    profile = ProfileSerializer()

    class Meta:
        model = Membership
        fields = ["id", "entered_at", "profile"]


class MembersInputSerializer(serializers.Serializer):
    """Profile ids or email addresses, up to 10,000 a call."""

    identifiers = serializers.ListField(
        child=serializers.CharField(max_length=254), max_length=10_000, allow_empty=False
    )


class MembersResultSerializer(serializers.Serializer):
    changed = serializers.IntegerField()
    unknown = serializers.ListField(child=serializers.CharField())


class SizeSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentSize
        fields = ["at", "size", "entered", "exited", "full"]


class ProfileSegmentSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="segment.id")
    name = serializers.CharField(source="segment.name")
    kind = serializers.CharField(source="segment.kind")

    class Meta:
        model = Membership
        fields = ["id", "name", "kind", "entered_at"]


class PersonaSerializer(serializers.ModelSerializer):
    class Meta:
        model = Persona
        fields = [
            "id",
            "name",
            "segment",
            "description",
            "goals",
            "pains",
            "messaging",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "created_at", "updated_at"]


class ProfileSegmentsSerializer(serializers.Serializer):
    segments = ProfileSegmentSerializer(many=True)
    personas = PersonaSerializer(many=True)
