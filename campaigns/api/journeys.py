"""Staff API of journeys, under /api/campaigns/journeys/, and a person's enrolments.

Reads need view_journey; creating needs add_journey; new versions, activate, pause,
resume, archive and enrolling by hand need change_journey; deleting a draft delete_journey.
"""

from __future__ import annotations

from dataclasses import asdict

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.journeys.definition import definition_parse
from campaigns.journeys.selectors import (
    journey_list,
    journey_send_stats,
    journey_split_results,
    journey_step_counts,
    profile_enrolments,
)
from campaigns.journeys.services import (
    journey_activate,
    journey_archive,
    journey_create,
    journey_delete,
    journey_enrol,
    journey_pause,
    journey_resume,
    journey_version_add,
)
from campaigns.journeys.simulate import journey_simulate
from campaigns.models import Enrolment, Journey
from profiles.models import Profile

ID = {"min_value": 1, "max_value": 2**63 - 1}


class JourneySerializer(serializers.ModelSerializer):
    version = serializers.SerializerMethodField()
    definition = serializers.SerializerMethodField()

    class Meta:
        model = Journey
        fields = [
            "id",
            "name",
            "description",
            "purpose",
            "status",
            "reentry",
            "reentry_days",
            "goal_event",
            "goal_days",
            "version",
            "definition",
            "activated_at",
            "created_at",
        ]

    def get_version(self, journey: Journey) -> int | None:
        return journey.version.version if journey.version else None

    def get_definition(self, journey: Journey) -> dict | None:
        return journey.version.definition if journey.version else None


class JourneyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    purpose = serializers.IntegerField(**ID)
    reentry = serializers.ChoiceField(choices=Journey.Reentry.values, default="never")
    reentry_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=36500, default=None
    )
    goal_event = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    goal_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650, default=None
    )
    definition = serializers.JSONField()


class DefinitionInputSerializer(serializers.Serializer):
    definition = serializers.JSONField()


class EnrolInputSerializer(serializers.Serializer):
    profiles = serializers.ListField(child=serializers.IntegerField(**ID), max_length=10_000)


class SimulateInputSerializer(serializers.Serializer):
    profile = serializers.IntegerField(**ID)
    event_comes = serializers.BooleanField(default=False)


class EnrolmentSerializer(serializers.ModelSerializer):
    journey_name = serializers.CharField(source="journey.name")
    version = serializers.IntegerField(source="version.version")

    class Meta:
        model = Enrolment
        fields = [
            "id",
            "journey",
            "journey_name",
            "version",
            "status",
            "step",
            "due_at",
            "variant",
            "entered_at",
            "finished_at",
            "exit_reason",
            "converted_at",
            "converted_step",
        ]


class JourneyViewSet(viewsets.ViewSet):
    """Journeys: list, create, read, delete a draft; validate; versions; live actions; stats."""

    model = Journey
    required_permissions = {
        "list": ("campaigns.view_journey",),
        "retrieve": ("campaigns.view_journey",),
        "stats": ("campaigns.view_journey",),
        "validate": ("campaigns.view_journey",),
        "simulate": ("campaigns.view_journey", "profiles.view_profile"),
        "create": ("campaigns.add_journey",),
        "destroy": ("campaigns.delete_journey",),
        **{
            name: ("campaigns.change_journey",)
            for name in ("versions", "activate", "pause", "resume", "archive", "enrol")
        },
    }
    lookup_value_regex = r"[0-9]+"

    @extend_schema(responses=JourneySerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(JourneySerializer(journey_list(), many=True).data)

    @extend_schema(request=JourneyInputSerializer, responses={201: JourneySerializer})
    def create(self, request: Request) -> Response:
        data = JourneyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        journey = journey_create(
            name=values["name"],
            description=values["description"],
            purpose_id=values["purpose"],
            reentry=values["reentry"],
            reentry_days=values["reentry_days"],
            goal_event=values["goal_event"],
            goal_days=values["goal_days"],
            definition=values["definition"],
            actor=request.user,
        )
        return Response(JourneySerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=JourneySerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(JourneySerializer(get_object_or_404(journey_list(), pk=pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        journey_delete(journey_id=int(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=DefinitionInputSerializer, responses={200: dict})
    @action(detail=False, methods=["post"])
    def validate(self, request: Request) -> Response:
        """Check a definition without saving it: 200, or 400 with the offending step's path."""
        data = DefinitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        parsed = definition_parse(data.validated_data["definition"])
        return Response({"valid": True, "steps": len(parsed.steps)})

    @extend_schema(request=DefinitionInputSerializer, responses={201: JourneySerializer})
    @action(detail=True, methods=["post"])
    def versions(self, request: Request, pk: str) -> Response:
        """A new definition; running enrolments finish on the version they started on."""
        data = DefinitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        journey_version_add(
            journey_id=int(pk), definition=data.validated_data["definition"], actor=request.user
        )
        journey = get_object_or_404(journey_list(), pk=pk)
        return Response(JourneySerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        return Response(JourneySerializer(journey_activate(journey_id=int(pk))).data)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return Response(JourneySerializer(journey_pause(journey_id=int(pk))).data)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return Response(JourneySerializer(journey_resume(journey_id=int(pk))).data)

    @extend_schema(request=None, responses=JourneySerializer)
    @action(detail=True, methods=["post"])
    def archive(self, request: Request, pk: str) -> Response:
        return Response(JourneySerializer(journey_archive(journey_id=int(pk))).data)

    @extend_schema(request=EnrolInputSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def enrol(self, request: Request, pk: str) -> Response:
        """Enrol chosen people; those already in, or kept out by the re-entry policy, skipped."""
        data = EnrolInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        count = journey_enrol(
            journey_id=int(pk), profile_ids=data.validated_data["profiles"], source="api"
        )
        return Response({"enrolled": count})

    @extend_schema(request=SimulateInputSerializer, responses={200: dict})
    @action(detail=True, methods=["post"])
    def simulate(self, request: Request, pk: str) -> Response:
        """The path one person would take on the current version, and when (nothing written)."""
        data = SimulateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        journey = get_object_or_404(Journey, pk=pk, version__isnull=False)
        profile = get_object_or_404(Profile, pk=data.validated_data["profile"])
        steps = journey_simulate(
            journey=journey, profile=profile, event_comes=data.validated_data["event_comes"]
        )
        return Response({"steps": [asdict(step) for step in steps]})

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        """Per step: entered, waiting, passed, exited, converted; per send step and variant:
        messages, sent, opened, clicked; per split: conversion, lift and significance."""
        journey = get_object_or_404(Journey, pk=pk)
        return Response(
            {
                "steps": {
                    key: asdict(counts)
                    for key, counts in journey_step_counts(journey=journey).items()
                },
                "sends": [asdict(row) for row in journey_send_stats(journey=journey)],
                "splits": [asdict(row) for row in journey_split_results(journey=journey)],
            }
        )


class EnrolmentPages(CursorPagination):
    ordering = "-id"
    page_size = 50


class ProfileEnrolmentsView(APIView):
    """A person's enrolments in journeys, newest first (cursor pages)."""

    required_permissions = {"get": ("campaigns.view_enrolment", "profiles.view_profile")}

    @extend_schema(responses=EnrolmentSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        profile = get_object_or_404(Profile, pk=pk)
        pages = EnrolmentPages()
        rows = profile_enrolments(profile_id=profile.pk)
        page = pages.paginate_queryset(rows, request, view=self)
        return pages.get_paginated_response(EnrolmentSerializer(page, many=True).data)
