"""Staff API of the campaigns app: templates, broadcasts and their actions, a person's messages.

Reads need a staff account; writes need the model's permission as well (add to create,
change for a new version and for scheduling, pausing, resuming, cancelling).
"""

from __future__ import annotations

from django.db.models import Max
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.api.serializers import (
    BroadcastInputSerializer,
    BroadcastSerializer,
    MessageSerializer,
    ScheduleInputSerializer,
    TemplateInputSerializer,
    TemplatePreviewInputSerializer,
    TemplatePreviewSerializer,
    TemplateSerializer,
    VersionInputSerializer,
    VersionSerializer,
)
from campaigns.models import Broadcast, Template
from campaigns.selectors import broadcast_list, broadcast_stats, profile_messages, template_list
from campaigns.services import (
    broadcast_cancel,
    broadcast_create,
    broadcast_estimate,
    broadcast_pause,
    broadcast_resume,
    broadcast_schedule,
    template_create,
    template_version_add,
)
from campaigns.services.preview import template_preview
from consent.services import access_log_add
from profiles.models import Profile


class TemplateViewSet(viewsets.ViewSet):
    """Templates: list, create (with version 1), read; new versions; preview as a person."""

    model = Template
    required_permissions = {
        "list": ("campaigns.view_template",),
        "retrieve": ("campaigns.view_template",),
        # Listed by readers; adding one (POST) also needs change_template, checked inside.
        "versions": ("campaigns.view_template",),
        # A preview renders a chosen person's values: for those who may see them unmasked.
        "preview": ("campaigns.view_template", "consent.unmask_personal_data"),
        "create": ("campaigns.add_template",),
    }
    lookup_value_regex = r"[0-9]+"

    @extend_schema(responses=TemplateSerializer(many=True))
    def list(self, request: Request) -> Response:
        templates = template_list().annotate(latest_version=Max("versions__version"))
        return Response(TemplateSerializer(templates, many=True).data)

    @extend_schema(request=TemplateInputSerializer, responses={201: TemplateSerializer})
    def create(self, request: Request) -> Response:
        data = TemplateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        template = template_create(**data.validated_data, actor=request.user)
        template.latest_version = 1  # type: ignore[attr-defined]  # the serializer's field
        return Response(TemplateSerializer(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=TemplateSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        template = get_object_or_404(
            template_list().annotate(latest_version=Max("versions__version")), pk=pk
        )
        return Response(TemplateSerializer(template).data)

    @extend_schema(request=VersionInputSerializer, responses={201: VersionSerializer})
    @action(detail=True, methods=["get", "post"])
    def versions(self, request: Request, pk: str) -> Response:
        """GET the versions, newest first; POST new content as the next version."""
        if request.method == "POST" and not request.user.has_perm("campaigns.change_template"):
            raise PermissionDenied(_("Your role does not allow this action."))
        template = get_object_or_404(Template, pk=pk)
        if request.method == "GET":
            return Response(
                VersionSerializer(template.versions.order_by("-version"), many=True).data
            )
        data = VersionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        version = template_version_add(
            template_id=template.pk, variants=data.validated_data["variants"], actor=request.user
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=TemplatePreviewInputSerializer, responses=TemplatePreviewSerializer)
    @action(detail=True, methods=["post"])
    def preview(self, request: Request, pk: str) -> Response:
        """The latest version as one person would receive it (nothing is sent)."""
        template = get_object_or_404(Template, pk=pk)
        data = TemplatePreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = get_object_or_404(Profile, pk=data.validated_data["profile"])
        access_log_add(
            user=request.user, action="view", what="api:campaign-preview", profile_id=profile.pk
        )
        return Response(
            TemplatePreviewSerializer(template_preview(template=template, profile=profile)).data
        )


class BroadcastViewSet(viewsets.ViewSet):
    """Broadcasts: list, create, read; schedule (send), pause, resume, cancel; stats."""

    model = Broadcast
    required_permissions = {
        "list": ("campaigns.view_broadcast",),
        "retrieve": ("campaigns.view_broadcast",),
        "stats": ("campaigns.view_broadcast",),
        "create": ("campaigns.add_broadcast",),
        **{
            action: ("campaigns.change_broadcast",)
            for action in ("schedule", "send", "pause", "resume", "cancel")
        },
    }
    lookup_value_regex = r"[0-9]+"

    @extend_schema(responses=BroadcastSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(BroadcastSerializer(broadcast_list(), many=True).data)

    @extend_schema(request=BroadcastInputSerializer, responses={201: BroadcastSerializer})
    def create(self, request: Request) -> Response:
        data = BroadcastInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        broadcast = broadcast_create(
            name=values["name"],
            segment_id=values["segment"],
            template_id=values["template"],
            purpose_id=values["purpose"],
            kind=values["kind"],
            scheduled_at=values["scheduled_at"],
            throttle_per_minute=values["throttle_per_minute"],
            actor=request.user,
        )
        return Response(BroadcastSerializer(broadcast).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=BroadcastSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(BroadcastSerializer(get_object_or_404(Broadcast, pk=pk)).data)

    @extend_schema(request=ScheduleInputSerializer, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request: Request, pk: str) -> Response:
        """Snapshot the audience into the outbox, due at `scheduled_at` (now if absent)."""
        data = ScheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        broadcast = broadcast_schedule(
            broadcast_id=int(pk), scheduled_at=data.validated_data["scheduled_at"]
        )
        return Response(BroadcastSerializer(broadcast).data)

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: str) -> Response:
        """Schedule for now."""
        return Response(BroadcastSerializer(broadcast_schedule(broadcast_id=int(pk))).data)

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str) -> Response:
        return Response(BroadcastSerializer(broadcast_pause(broadcast_id=int(pk))).data)

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        return Response(BroadcastSerializer(broadcast_resume(broadcast_id=int(pk))).data)

    @extend_schema(request=None, responses=BroadcastSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        return Response(BroadcastSerializer(broadcast_cancel(broadcast_id=int(pk))).data)

    @extend_schema(responses={200: dict})
    @action(detail=True, methods=["get"])
    def stats(self, request: Request, pk: str) -> Response:
        """Audience, queued, sent, skipped by reason, delivered, opened, clicked, bounced,
        unsubscribed; a draft adds the estimate of members to send to and to skip."""
        broadcast = get_object_or_404(Broadcast, pk=pk)
        body = broadcast_stats(broadcast=broadcast).as_dict()
        if broadcast.status == Broadcast.Status.DRAFT:
            body["estimate"] = broadcast_estimate(broadcast=broadcast)
        return Response(body)


class MessagePages(CursorPagination):
    ordering = "-id"
    page_size = 50


class ProfileMessagesView(APIView):
    """A person's messages, newest first (cursor pages)."""

    required_permissions = {"get": ("campaigns.view_message", "profiles.view_profile")}

    @extend_schema(responses=MessageSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        profile = get_object_or_404(Profile, pk=pk)
        pages = MessagePages()
        page = pages.paginate_queryset(profile_messages(profile_id=profile.pk), request, view=self)
        return pages.get_paginated_response(MessageSerializer(page, many=True).data)
