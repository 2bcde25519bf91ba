"""Staff API of the segments app: segments CRUD, rule preview, members, sizes, personas."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.services import access_log_add
from profiles.models import Profile
from segments.api.serializers import (
    MemberSerializer,
    MembersInputSerializer,
    MembersResultSerializer,
    PersonaSerializer,
    PreviewInputSerializer,
    PreviewSerializer,
    ProfileSegmentsSerializer,
    SegmentInputSerializer,
    SegmentSerializer,
    SegmentUpdateSerializer,
    SizeSerializer,
)
from segments.models import Segment
from segments.selectors import (
    persona_list,
    profile_personas,
    profile_segments,
    segment_list,
    segment_members,
    segment_preview,
    segment_sizes,
)
from segments.services import (
    persona_create,
    segment_create,
    segment_delete,
    segment_members_add,
    segment_members_remove,
    segment_update,
)
from segments.services.membership import profile_ids_from_identifiers


class MemberPages(CursorPagination):
    """Cursor pages: constant cost on a million members, no COUNT(*)."""

    ordering = "profile_id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class SegmentViewSet(viewsets.ViewSet):
    """Segments: list, create, read, change, delete; members, sizes, refresh, preview."""

    required_permissions = {
        "list": ("segments.view_segment",),
        "retrieve": ("segments.view_segment",),
        "sizes": ("segments.view_segment",),
        # A preview shows a sample of profiles (masked for viewers).
        "preview": ("segments.view_segment", "profiles.view_profile"),
        "create": ("segments.add_segment",),
        "partial_update": ("segments.change_segment",),
        "refresh": ("segments.change_segment",),
        "destroy": ("segments.delete_segment",),
    }

    lookup_value_regex = r"[0-9]+"

    @extend_schema(responses=SegmentSerializer(many=True))
    def list(self, request: Request) -> Response:
        return Response(SegmentSerializer(segment_list(), many=True).data)

    @extend_schema(request=SegmentInputSerializer, responses={201: SegmentSerializer})
    def create(self, request: Request) -> Response:
        data = SegmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = segment_create(**data.validated_data, created_by=request.user, refresh=True)
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=SegmentSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(SegmentSerializer(get_object_or_404(Segment, pk=pk)).data)

    @extend_schema(request=SegmentUpdateSerializer, responses=SegmentSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        data = SegmentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        segment = segment_update(segment_id=int(pk), **data.validated_data)
        return Response(SegmentSerializer(segment).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        segment_delete(segment_id=int(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=PreviewInputSerializer, responses=PreviewSerializer)
    @action(detail=False, methods=["post"])
    def preview(self, request: Request) -> Response:
        """Count and sample of a rule, without saving anything."""
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        found = segment_preview(
            rule=data.validated_data["rule"], sample=data.validated_data["sample"]
        )
        access_log_add(
            user=request.user, action="view", what="api:segment-preview", profile_id=None
        )
        body = {"count": found.count, "sample": found.sample}
        return Response(PreviewSerializer(body, context={"request": request}).data)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str) -> Response:
        """Queue a full refresh of a dynamic segment."""
        from segments.services import segment_refresh_request

        segment = get_object_or_404(Segment, pk=pk, kind=Segment.Kind.DYNAMIC)
        segment_refresh_request(segment_id=segment.pk)
        return Response({"queued": True}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=SizeSerializer(many=True))
    @action(detail=True, methods=["get"])
    def sizes(self, request: Request, pk: str) -> Response:
        """Size after each refresh, oldest first."""
        segment = get_object_or_404(Segment, pk=pk)
        return Response(SizeSerializer(segment_sizes(segment_id=segment.pk), many=True).data)


class SegmentMembersView(generics.ListAPIView):
    """Current members of a segment (cursor pages by profile id); a static list takes
    POST (add) and DELETE (remove) of profile ids or email addresses."""

    required_permissions = {
        "get": ("segments.view_membership", "profiles.view_profile"),
        "post": ("segments.change_segment", "segments.add_membership"),
        "delete": ("segments.change_segment", "segments.change_membership"),
    }

    serializer_class = MemberSerializer
    pagination_class = MemberPages
    filter_backends: list = []

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        if getattr(self, "swagger_fake_view", False):
            return segment_members(segment_id=0)
        segment = get_object_or_404(Segment, pk=self.kwargs["pk"])
        if self.request.method == "GET":
            access_log_add(
                user=self.request.user,
                action="view",
                what=f"api:segment-members:{segment.pk}",
                profile_id=None,
            )
        return segment_members(segment_id=segment.pk)

    def _change(self, request: Request, pk: int, *, add: bool) -> Response:
        segment = get_object_or_404(Segment, pk=pk)
        data = MembersInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids, unknown = profile_ids_from_identifiers(identifiers=data.validated_data["identifiers"])
        service = segment_members_add if add else segment_members_remove
        changed = service(segment_id=segment.pk, profile_ids=ids)
        return Response(MembersResultSerializer({"changed": changed, "unknown": unknown}).data)

    @extend_schema(request=MembersInputSerializer, responses=MembersResultSerializer)
    def post(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, add=True)

    @extend_schema(request=MembersInputSerializer, responses=MembersResultSerializer)
    def delete(self, request: Request, pk: int) -> Response:
        return self._change(request, pk, add=False)


class ProfileSegmentsView(APIView):
    """The segments a profile is in now, and their personas."""

    required_permissions = {
        "get": ("segments.view_membership", "segments.view_persona", "profiles.view_profile")
    }

    @extend_schema(responses=ProfileSegmentsSerializer)
    def get(self, request: Request, pk: int) -> Response:
        profile = get_object_or_404(Profile, pk=pk)
        return Response(
            ProfileSegmentsSerializer(
                {
                    "segments": profile_segments(profile_id=profile.pk),
                    "personas": profile_personas(profile_id=profile.pk),
                }
            ).data
        )


class PersonaViewSet(viewsets.ModelViewSet):
    """Buyer personas tied to segments."""

    required_permissions = {
        "list": ("segments.view_persona",),
        "retrieve": ("segments.view_persona",),
        "create": ("segments.add_persona",),
        "partial_update": ("segments.change_persona",),
        "destroy": ("segments.delete_persona",),
    }

    serializer_class = PersonaSerializer
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return persona_list()

    def perform_create(self, serializer: PersonaSerializer) -> None:
        data = dict(serializer.validated_data)
        segment = data.pop("segment")
        serializer.instance = persona_create(segment_id=segment.pk, **data)
