"""Staff API: profiles (list, 360° view, timeline) and sources."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from consent.services import access_log_add, may_unmask
from profiles.api.filters import EventFilter, MergeFilter, ProfileFilter
from profiles.api.serializers import (
    EventSerializer,
    MergeCreateSerializer,
    MergePreviewInputSerializer,
    MergePreviewSerializer,
    MergeSerializer,
    Profile360Serializer,
    ProfileSerializer,
    SourceCreateSerializer,
    SourceSerializer,
    SourceWithKeySerializer,
)
from profiles.models import Event, Profile, ProfileMerge, Source
from profiles.selectors import merge_list, profile_360, profile_events, profile_list
from profiles.services import (
    merge_preview,
    profile_merge,
    profile_merge_undo,
    source_create,
    source_rotate_key,
)

# Profile filters whose value is personal data.
PERSONAL_FILTERS = ("q", "email")


class NewestFirst(CursorPagination):
    """Cursor pages: constant cost on a million rows, no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class TimelinePages(NewestFirst):
    ordering = ("-occurred_at", "-id")


class ProfileViewSet(viewsets.ReadOnlyModelViewSet):
    """Profiles: list with filters and search (`q`), the 360° view, and the timeline."""

    required_permissions = {
        "list": ("profiles.view_profile",),
        "retrieve": ("profiles.view_profile",),
        # A merge writes a merge log entry and changes both profiles.
        "merge": ("profiles.add_profilemerge", "profiles.change_profile"),
        "merge_preview": ("profiles.add_profilemerge", "profiles.change_profile"),
    }

    serializer_class = ProfileSerializer
    pagination_class = NewestFirst
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = ProfileFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return profile_list(include_merged=self.request.query_params.get("status") == "merged")

    def filter_queryset(self, queryset):  # type: ignore[no-untyped-def]  # DRF's own signature
        # Searching by an address or a name confirms a person exists: not for viewers.
        searched = set(self.request.query_params) & set(PERSONAL_FILTERS)
        if searched and not may_unmask(self.request.user):
            message = _("Searching by personal data ({fields}) needs the permission to see it.")
            raise PermissionDenied(message.format(fields=", ".join(sorted(searched))))
        return super().filter_queryset(queryset)

    @extend_schema(responses=Profile360Serializer)
    def retrieve(self, request: Request, pk: str | None = None) -> Response:
        profile = get_object_or_404(Profile, pk=pk)
        access_log_add(user=request.user, action="view", what="api:profile", profile_id=profile.pk)
        view = profile_360(profile_id=profile.pk)
        return Response(Profile360Serializer(view, context={"request": request}).data)

    @extend_schema(request=MergeCreateSerializer, responses={201: MergeSerializer})
    @action(detail=True, methods=["post"])
    def merge(self, request: Request, pk: str | None = None) -> Response:
        """Merge another profile into this one (the survivor); answers the merge log entry."""
        data = MergeCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        merge = profile_merge(
            survivor_id=int(pk or 0),
            absorbed_id=data.validated_data["absorbed_id"],
            actor=request.user,
            reason=data.validated_data["reason"],
            score=data.validated_data["score"],
        )
        return Response(MergeSerializer(merge).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[MergePreviewInputSerializer], responses={200: MergePreviewSerializer}
    )
    @action(detail=True, methods=["get"], url_path="merge-preview")
    def merge_preview(self, request: Request, pk: str | None = None) -> Response:
        """What merging `absorbed_id` into this profile would keep, field by field; no write."""
        data = MergePreviewInputSerializer(data=request.query_params)
        data.is_valid(raise_exception=True)
        absorbed_id = data.validated_data["absorbed_id"]
        plan = merge_preview(survivor_id=int(pk or 0), absorbed_id=absorbed_id)
        for profile_id in (int(pk or 0), absorbed_id):
            access_log_add(
                user=request.user, action="view", what="api:merge-preview", profile_id=profile_id
            )
        answer = {"survivor_id": int(pk or 0), "absorbed_id": absorbed_id, "fields": plan.fields}
        return Response(MergePreviewSerializer(answer).data)


class ProfileEventsView(generics.ListAPIView):
    """A profile's timeline across channels, newest first, filterable by type, name, time."""

    required_permissions = {"get": ("profiles.view_event",)}

    serializer_class = EventSerializer
    pagination_class = TimelinePages
    filter_backends = [DjangoFilterBackend]
    filterset_class = EventFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return Event.objects.none()
        profile = get_object_or_404(Profile, pk=self.kwargs["pk"])
        access_log_add(
            user=self.request.user, action="view", what="api:events", profile_id=profile.pk
        )
        return profile_events(profile_id=profile.pk)


class SourceViewSet(mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Sources; creating one or rotating its key answers the write key once."""

    required_permissions = {
        "list": ("profiles.view_source",),
        "retrieve": ("profiles.view_source",),
        "create": ("profiles.add_source",),
        "rotate_key": ("profiles.change_source",),
    }

    queryset = Source.objects.order_by("name")
    serializer_class = SourceSerializer
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_fields = ["kind", "is_active"]

    @extend_schema(request=SourceCreateSerializer, responses={201: SourceWithKeySerializer})
    def create(self, request: Request) -> Response:
        data = SourceCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        source, key = source_create(**data.validated_data)
        body = SourceWithKeySerializer(source).data
        body["write_key"] = key
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=SourceWithKeySerializer)
    @action(detail=True, methods=["post"], url_path="rotate-key")
    def rotate_key(self, request: Request, pk: str | None = None) -> Response:
        source = self.get_object()
        key = source_rotate_key(source=source)
        body = SourceWithKeySerializer(source).data
        body["write_key"] = key
        return Response(body)


class MergeViewSet(viewsets.ReadOnlyModelViewSet):
    """The merge log (filter by profile, survivor, absorbed, rule, actor, undone, time); undo."""

    required_permissions = {
        "list": ("profiles.view_profilemerge",),
        "retrieve": ("profiles.view_profilemerge",),
        "undo": ("profiles.change_profilemerge", "profiles.change_profile"),
    }

    serializer_class = MergeSerializer
    pagination_class = NewestFirst
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = MergeFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return merge_list()

    @extend_schema(request=None, responses=MergeSerializer)
    @action(detail=True, methods=["post"])
    def undo(self, request: Request, pk: str | None = None) -> Response:
        """Undo the merge exactly; 409 if it was undone already or its survivor merged since."""
        merge = profile_merge_undo(merge_id=int(pk or 0), actor=request.user)
        return Response(MergeSerializer(ProfileMerge.objects.get(pk=merge.pk)).data)
