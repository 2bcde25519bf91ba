"""Staff API serializers (output shapes, and inputs of the write endpoints)."""

from __future__ import annotations

from rest_framework import serializers

from profiles.fields import EVENT_FIELDS
from profiles.models import Event, Identity, ProfileMerge, Source
from profiles.serializers import MaskedForViewers, ProfileSerializer


class IdentitySerializer(MaskedForViewers, serializers.ModelSerializer):
    masked_fields = ("value",)

    class Meta:
        model = Identity
        fields = ["kind", "namespace", "value", "source", "created_at"]


class EventSerializer(MaskedForViewers, serializers.ModelSerializer):
    masked_fields = ("properties", "context")
    source = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Event
        fields = ["id", "source", *EVENT_FIELDS]


class Meta:
    model = Event
    fields = [
        "id",
        "type",
        "name",
        "source",
        "properties",
        "context",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "message_id",
        "occurred_at",
        "received_at",
    ]


class ProvenanceSourceSerializer(MaskedForViewers, serializers.Serializer):
    masked_fields = ("value",)

    source = serializers.CharField()
    source_id = serializers.IntegerField()
    trust_rank = serializers.IntegerField()
    value = serializers.CharField()
    observed_at = serializers.DateTimeField()
    wins = serializers.BooleanField()


class ProvenanceSerializer(MaskedForViewers, serializers.Serializer):
    masked_fields = ("value",)

    field = serializers.CharField()
    value = serializers.CharField()
    sources = ProvenanceSourceSerializer(many=True)


class Profile360Serializer(serializers.Serializer):
    profile = ProfileSerializer()
    identities = IdentitySerializer(many=True)
    provenance = ProvenanceSerializer(many=True)
    events = EventSerializer(many=True)
    event_counts = serializers.DictField(child=serializers.IntegerField())
    imports = serializers.SerializerMethodField()
    absorbed = serializers.ListField(child=serializers.IntegerField())

    def get_imports(self, data: dict) -> list[dict]:
        """The imports the person came from, as the collection app reports them."""
        return list(data.get("imports", []))


class SourceSerializer(serializers.ModelSerializer):
    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "slug",
            "kind",
            "write_key_prefix",
            "allowed_origins",
            "default_phone_region",
            "trust_rank",
            "is_active",
            "created_at",
            "key_rotated_at",
        ]
        read_only_fields = fields


class SourceCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=Source.Kind.choices)
    slug = serializers.SlugField(max_length=60, required=False, default="")
    allowed_origins = serializers.ListField(
        child=serializers.URLField(max_length=200), required=False, default=list
    )
    default_phone_region = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, default="", allow_blank=True
    )
    trust_rank = serializers.IntegerField(min_value=0, max_value=100, required=False, default=50)


class SourceWithKeySerializer(SourceSerializer):
    write_key = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "write_key"]
        read_only_fields = fields


class MergeCreateSerializer(serializers.Serializer):
    absorbed_id = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    score = serializers.FloatField(required=False, allow_null=True, default=None)


class MergePreviewInputSerializer(serializers.Serializer):
    absorbed_id = serializers.IntegerField(min_value=1)


class MergeFieldOutcomeSerializer(serializers.Serializer):
    """One field of a merge preview: both values, the one kept (`result`) and why."""

    field = serializers.CharField()
    kept = serializers.JSONField(help_text="The kept profile's value.")
    other = serializers.JSONField(help_text="The other profile's value.")
    result = serializers.JSONField(help_text="The value after the merge.")
    winner = serializers.ChoiceField(choices=["kept", "other", "same"])
    why = serializers.CharField()


class MergePreviewSerializer(serializers.Serializer):
    survivor_id = serializers.IntegerField()
    absorbed_id = serializers.IntegerField()
    fields = MergeFieldOutcomeSerializer(many=True)


class MergeSerializer(serializers.ModelSerializer):
    """A merge log entry; `moved` counts what the merge moved (read from its snapshot)."""

    actor = serializers.SlugRelatedField(slug_field="username", read_only=True)
    undone_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    moved = serializers.SerializerMethodField()

    class Meta:
        model = ProfileMerge
        fields = [
            "id",
            "survivor",
            "absorbed",
            "actor",
            "rule",
            "reason",
            "score",
            "merged_at",
            "undone_at",
            "undone_by",
            "moved",
        ]
        read_only_fields = fields

    def get_moved(self, merge: ProfileMerge) -> dict[str, int]:
        snapshot = merge.snapshot
        return {
            "identities": len(snapshot.get("identities", [])),
            "events": len(snapshot.get("events", [])),
            "consent_records": len(snapshot.get("consent_records", [])),
            "provenance": len(snapshot.get("provenance", {}).get("moved", [])),
        }
