"""Staff API of data-subject requests, under /api/consent/requests/.

Creating a request answers the same whoever it names: the person is not looked up.
Exports need the steward's permission, erasure the admin's; viewers see subjects masked.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response

from consent.api.filters import DataSubjectRequestFilter
from consent.api.views import NewestFirst
from consent.models import DataSubjectRequest
from consent.services import (
    dsar_create,
    dsar_execute,
    dsar_extend,
    dsar_reject,
    dsar_verify,
    mask_value,
    may_unmask,
)
from consent.services.access import ERASE_PERMISSION, EXPORT_PERMISSION

Kind = DataSubjectRequest.Kind
HANDLE = ("consent.view_datasubjectrequest", "consent.change_datasubjectrequest")


class DataSubjectRequestSerializer(serializers.ModelSerializer):
    handler = serializers.SlugRelatedField(slug_field="username", read_only=True)
    steps = serializers.SerializerMethodField()

    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "kind",
            "status",
            "subject_email",
            "subject_phone",
            "changes",
            "received_at",
            "due_at",
            "extended",
            "extension_reason",
            "handler",
            "verification",
            "verified_at",
            "completed_at",
            "answer",
            "steps",
        ]
        read_only_fields = fields

    def get_steps(self, request: DataSubjectRequest) -> list[dict[str, Any]]:
        # Prefetched by the view: no query per row.
        return [
            {"action": step.action, "note": step.note, "actor": step.actor_id, "at": step.at}
            for step in request.events.all()
        ]

    def to_representation(self, instance: DataSubjectRequest) -> dict[str, Any]:
        data = super().to_representation(instance)
        viewer = self.context.get("request")
        if viewer is not None and not may_unmask(viewer.user):
            for name in ("subject_email", "subject_phone", "changes"):
                data[name] = mask_value(data[name])
        return data


class DataSubjectRequestCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Kind.choices)
    email = serializers.CharField(max_length=254, required=False, default="", allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, default="", allow_blank=True)
    changes = serializers.DictField(
        child=serializers.CharField(max_length=300, allow_blank=True), required=False, default=dict
    )
    received_at = serializers.DateTimeField(required=False, default=None)


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=200, help_text="How / why (no personal data).")


class DataSubjectRequestViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Data-subject requests: record, verify, extend, reject, carry out (export / erase …)."""

    serializer_class = DataSubjectRequestSerializer
    required_permissions = {
        "list": ("consent.view_datasubjectrequest",),
        "retrieve": ("consent.view_datasubjectrequest",),
        "create": ("consent.add_datasubjectrequest",),
        "verify": HANDLE,
        "extend": HANDLE,
        "reject": HANDLE,
        # Exports also need the export permission, erasure the erase one (checked below).
        "execute": HANDLE,
    }
    pagination_class = NewestFirst
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = DataSubjectRequestFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return DataSubjectRequest.objects.select_related("handler").prefetch_related("events")

    def _answer(self, dsar: DataSubjectRequest, code: int = status.HTTP_200_OK) -> Response:
        dsar = self.get_queryset().get(pk=dsar.pk)
        return Response(self.get_serializer(dsar).data, status=code)

    @extend_schema(
        request=DataSubjectRequestCreateSerializer,
        responses={201: DataSubjectRequestSerializer},
        description="Record a request as received. The answer never says whether the "
        "person is known.",
    )
    def create(self, request: Request) -> Response:
        data = DataSubjectRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        dsar = dsar_create(**data.validated_data, actor=request.user)
        return self._answer(dsar, status.HTTP_201_CREATED)

    @extend_schema(request=NoteSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def verify(self, request: Request, pk: str | None = None) -> Response:
        """Record how the requester's identity was verified (`note`)."""
        note = NoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        dsar = dsar_verify(
            request=self.get_object(), method=note.validated_data["note"], actor=request.user
        )
        return self._answer(dsar)

    @extend_schema(request=NoteSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def extend(self, request: Request, pk: str | None = None) -> Response:
        """Extend the deadline by two months, once, for the reason given in `note`."""
        note = NoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        dsar = dsar_extend(
            request=self.get_object(), reason=note.validated_data["note"], actor=request.user
        )
        return self._answer(dsar)

    @extend_schema(request=NoteSerializer, responses=DataSubjectRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Close without acting (identity not verified, manifestly unfounded): `note` says why."""
        note = NoteSerializer(data=request.data)
        note.is_valid(raise_exception=True)
        dsar = dsar_reject(
            request=self.get_object(), reason=note.validated_data["note"], actor=request.user
        )
        return self._answer(dsar)

    @extend_schema(
        request=None,
        responses={
            200: OpenApiResponse(
                description="The request; for access and portability, with `export`: "
                "everything held about the person, from every app."
            )
        },
    )
    @action(detail=True, methods=["post"])
    def execute(self, request: Request, pk: str | None = None) -> Response:
        """Carry out a verified request. Exports need stewards' rights, erasure admins'."""
        dsar = self.get_object()
        needed = {
            Kind.ACCESS: EXPORT_PERMISSION,
            Kind.PORTABILITY: EXPORT_PERMISSION,
            Kind.ERASURE: ERASE_PERMISSION,
        }.get(dsar.kind)
        if needed and not request.user.has_perm(needed):
            raise PermissionDenied(gettext("Your role may not carry out this kind of request."))
        export = dsar_execute(request=dsar, actor=request.user, via="api")
        body = self._answer(dsar).data
        if export is not None:
            body = {**body, "export": export}
        return Response(body)
