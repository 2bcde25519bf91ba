"""Reports API serializers: a period in, a report's figures and tables out."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

MAX_DAYS = 366


class PeriodInputSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": [_("The period ends before it starts.")]})
        if (attrs["end"] - attrs["start"]).days >= MAX_DAYS:
            raise serializers.ValidationError({"end": [_("A report covers at most a year.")]})
        return attrs


class DefinitionSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    cadence = serializers.CharField()


class FigureSerializer(serializers.Serializer):
    label = serializers.CharField()
    value = serializers.JSONField(help_text="A count, a percentage or null.")
    previous = serializers.JSONField(help_text="The same figure over the period before.")


class TableSerializer(serializers.Serializer):
    title = serializers.CharField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(child=serializers.ListField(child=serializers.JSONField()))


class ReportSerializer(serializers.Serializer):
    code = serializers.CharField()
    title = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    previous_start = serializers.DateField()
    previous_end = serializers.DateField()
    figures = FigureSerializer(many=True)
    tables = TableSerializer(many=True)
