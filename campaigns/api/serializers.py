"""Serializers of the campaigns API: input shapes checked here, rules in the services."""

from __future__ import annotations

from rest_framework import serializers

from campaigns.models import Broadcast, Message, Template, TemplateVersion


class VersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = TemplateVersion
        fields = ["id", "version", "variants", "created_at"]


class TemplateSerializer(serializers.ModelSerializer):
    latest_version = serializers.SerializerMethodField()

    class Meta:
        model = Template
        fields = ["id", "name", "description", "default_language", "latest_version", "created_at"]

    def get_latest_version(self, template: Template) -> int | None:
        return getattr(template, "latest_version", None)


class TemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    default_language = serializers.ChoiceField(choices=["en", "fr"], default="en")
    variants = serializers.JSONField()


class VersionInputSerializer(serializers.Serializer):
    variants = serializers.JSONField()


class TemplatePreviewInputSerializer(serializers.Serializer):
    profile = serializers.IntegerField(min_value=1, max_value=2**63 - 1)


class TemplatePreviewSerializer(serializers.Serializer):
    language = serializers.CharField()
    subject = serializers.CharField()
    preheader = serializers.CharField(allow_blank=True)
    html = serializers.CharField()
    text = serializers.CharField()


class BroadcastSerializer(serializers.ModelSerializer):
    class Meta:
        model = Broadcast
        fields = [
            "id",
            "name",
            "segment",
            "template",
            "template_version",
            "purpose",
            "kind",
            "status",
            "scheduled_at",
            "throttle_per_minute",
            "audience_size",
            "snapshot_at",
            "created_at",
        ]


class BroadcastInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    segment = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    template = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    purpose = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.ChoiceField(choices=Broadcast.Kind.choices, default=Broadcast.Kind.MARKETING)
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)
    throttle_per_minute = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1
    )


class ScheduleInputSerializer(serializers.Serializer):
    scheduled_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "origin_kind",
            "origin_id",
            "channel",
            "purpose",
            "kind",
            "template_version",
            "status",
            "skip_reason",
            "message_id",
            "due_at",
            "attempts",
            "sent_at",
            "opened_at",
            "clicked_at",
        ]
