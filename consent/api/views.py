"""Staff API of the consent app: purposes, the ledger, a profile's current consent.

The ledger has no update or delete verb: a new decision is a new record.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response

from consent.api.filters import ConsentRecordFilter, PurposeFilter
from consent.api.serializers import (
    ConsentDecisionSerializer,
    ConsentRecordSerializer,
    ProfileConsentSerializer,
    PurposeSerializer,
)
from consent.selectors import (
    consent_profile_id,
    consent_records_list,
    consent_state_for_profile,
    purpose_list,
)
from consent.services import consent_record


class NewestFirst(CursorPagination):
    """Cursor pages: constant cost on a long ledger, no COUNT(*)."""

    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class PurposeViewSet(viewsets.ReadOnlyModelViewSet):
    """Purposes with their current wording."""

    required_permissions = {
        "list": ("consent.view_purpose",),
        "retrieve": ("consent.view_purpose",),
    }

    serializer_class = PurposeSerializer
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = PurposeFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return purpose_list()


class ConsentRecordViewSet(
    mixins.CreateModelMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """The consent ledger: list (filter by profile, purpose, status, method), record a decision."""

    serializer_class = ConsentRecordSerializer
    required_permissions = {
        "list": ("consent.view_consentrecord",),
        "retrieve": ("consent.view_consentrecord",),
        "create": ("consent.add_consentrecord",),
    }
    pagination_class = NewestFirst
    lookup_value_regex = r"[0-9]+"
    filter_backends = [DjangoFilterBackend]
    filterset_class = ConsentRecordFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]  # DRF's own signature
        return consent_records_list()

    @extend_schema(
        request=ConsentDecisionSerializer,
        responses={201: ConsentRecordSerializer, 200: ConsentRecordSerializer},
        description="Record a decision. 201 with the new record; 200 with the current record "
        "when the decision repeats it. A grant for a double opt-in purpose is recorded as "
        "pending_confirmation and a confirmation link is mailed to `email`.",
    )
    def create(self, request: Request) -> Response:
        data = ConsentDecisionSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        decision = data.validated_data
        record, created = consent_record(
            profile_id=decision["profile"],
            purpose=decision["purpose"],
            status=decision["status"],
            method=decision["method"],
            proof=decision["proof"],
            source_id=decision.get("source"),
            wording=decision["wording"],
            actor=request.user,
            expires_at=decision.get("expires_at"),
            email=decision.get("email") or None,
        )
        record = consent_records_list().get(pk=record.pk)
        return Response(
            ConsentRecordSerializer(record).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class ProfileConsentView(generics.GenericAPIView):
    """A profile's current consent for every purpose, derived from the ledger."""

    required_permissions = {"get": ("consent.view_consentrecord",)}

    serializer_class = ProfileConsentSerializer
    pagination_class = None
    filter_backends: list[type] = []

    def get(self, request: Request, pk: int) -> Response:
        profile_id = consent_profile_id(profile_id=pk)
        states = consent_state_for_profile(profile_id=profile_id)
        return Response(ProfileConsentSerializer({"profile": profile_id, "purposes": states}).data)
