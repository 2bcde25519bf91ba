"""Segment-compatible tracking API: /v1/identify, track, page, screen, group, alias, batch.

A source's write key authenticates (HTTP Basic user name, or `writeKey` in the body);
every call goes through the one ingestion service. Answers never carry internal ids.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, HttpResponseBase
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from collection.api.tracking.body import (
    BATCH_MAX_BYTES,
    MESSAGE_MAX_BYTES,
    TrackingAnyParser,
    TrackingJSONParser,
    TrackingTextParser,
)
from collection.api.tracking.fast_check import (
    batch_envelope,
    batch_prepare,
    batch_results,
    call_message,
)
from collection.api.tracking.serializers import (
    TrackingAliasSerializer,
    TrackingBatchResponseSerializer,
    TrackingBatchSerializer,
    TrackingCallSerializer,
    TrackingErrorSerializer,
    TrackingGroupSerializer,
    TrackingIdentifySerializer,
    TrackingPageSerializer,
    TrackingScreenSerializer,
    TrackingSuccessSerializer,
    TrackingTrackSerializer,
)
from collection.origins import (
    SDK_HEADERS,
    add_cors_headers,
    origin_allowed,
    preflight_response,
)
from collection.services.intake import intake_accept
from consent.proof import client_ip
from profiles.errors import InvalidMessage, InvalidWriteKey
from profiles.models import Source
from profiles.services import source_authenticate

TAGS = ["tracking (Segment-compatible)"]


def _basic_user(request: Request) -> str:
    """The user name of an `Authorization: Basic` header ("key:" or, for old clients, "key")."""
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidWriteKey(gettext("malformed Basic authorization header")) from exc
    return decoded.partition(":")[0]


class WriteKeyAuthentication(BaseAuthentication):
    """A source's write key: the Basic auth user name, else `writeKey` in the JSON body."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Source] | None:
        key = _basic_user(request) or self.fallback_key(request)
        if not key:
            return None
        return AnonymousUser(), source_authenticate(write_key=key, client=client_ip(request))

    def fallback_key(self, request: Request) -> str:
        """The key of a client that sends no Authorization header (a text/plain beacon)."""
        body_key = request.data.get("writeKey") if isinstance(request.data, dict) else None
        return body_key if isinstance(body_key, str) else ""

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="tracking"'


class QueryWriteKeyAuthentication(WriteKeyAuthentication):
    """Also `?writeKey=`: where RudderStack's SDK puts it on a beacon and a settings request."""

    def fallback_key(self, request: Request) -> str:
        key = super().fallback_key(request) or request.query_params.get("writeKey", "")
        return key if isinstance(key, str) else ""


class WriteKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = WriteKeyAuthentication
    name = "writeKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "basic",
            "description": "The source's write key as user name, empty password. "
            "Alternatively, `writeKey` in the JSON body.",
        }


class QueryWriteKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = QueryWriteKeyAuthentication
    name = "writeKeyQuery"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "query",
            "name": "writeKey",
            "description": "The source's write key in the query string (a beacon cannot set "
            "headers); Basic auth and `writeKey` in the body are accepted too.",
        }


class HasWriteKey(BasePermission):
    """Only a request that a source's write key authenticated may post."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return isinstance(request.auth, Source)


class OriginAllowed(BasePermission):
    """A browser may post only from an origin the source lists."""

    message = _("This origin may not post to this source.")
    code = "origin_not_allowed"

    def has_permission(self, request: Request, view: APIView) -> bool:
        return origin_allowed(source=request.auth, origin=request.META.get("HTTP_ORIGIN"))


ERRORS = {
    400: OpenApiResponse(TrackingErrorSerializer, description="Malformed body or invalid call."),
    401: OpenApiResponse(TrackingErrorSerializer, description="Missing, unknown or revoked key."),
    403: OpenApiResponse(TrackingErrorSerializer, description="Origin not allowed."),
    413: OpenApiResponse(TrackingErrorSerializer, description="Over 32 KB a call, 500 KB a batch."),
    415: OpenApiResponse(TrackingErrorSerializer, description="Unsupported Content-Encoding."),
}


def _document(serializer: Any, response: Any, summary: str, operation_id: str) -> Any:
    return extend_schema_view(
        post=extend_schema(
            operation_id=operation_id,
            summary=summary,
            tags=TAGS,
            request={"application/json": serializer, "text/plain": serializer},
            responses={200: response, **ERRORS},
        )
    )


class TrackingView(APIView):
    """Write-key auth, origin check, CORS, gzip-aware JSON; no session, no CSRF."""

    authentication_classes = [WriteKeyAuthentication]
    permission_classes = [HasWriteKey, OriginAllowed]
    parser_classes = [TrackingJSONParser, TrackingTextParser, TrackingAnyParser]
    renderer_classes = [JSONRenderer]
    throttle_classes: list[Any] = []
    max_body_bytes = MESSAGE_MAX_BYTES
    preflight_methods: tuple[str, ...] = ("POST",)
    source: Source | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if request.method == "OPTIONS":
            return  # a preflight carries no key: it is answered for any origin
        super().initial(request, *args, **kwargs)
        self.source = request.auth

    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return preflight_response(
            origin=request.META.get("HTTP_ORIGIN"),
            methods=self.preflight_methods,
            headers=SDK_HEADERS,
        )

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.META.get("HTTP_ORIGIN")
        if self.source is not None and origin_allowed(source=self.source, origin=origin):
            add_cors_headers(response, origin=origin)  # type: ignore[arg-type]  # a DRF Response is an HttpResponse
        return response


class TrackingCallView(TrackingView):
    """One call: 200 `{"success": true}`, or 400 with field messages."""

    serializer_class: type[TrackingCallSerializer] = TrackingCallSerializer

    def post(self, request: Request) -> Response:
        message = call_message(
            serializer=self.serializer_class, data=request.data, received_at=timezone.now()
        )
        outcome = intake_accept(source=request.auth, messages=[message])
        result = outcome.results[0]
        if not result.ok:
            raise InvalidMessage(gettext("The message is invalid."), fields=result.errors)
        # What TrackingSuccessSerializer renders, without running it on every call.
        return Response({"success": True})


@_document(TrackingIdentifySerializer, TrackingSuccessSerializer, "Identify", "tracking_identify")
class IdentifyView(TrackingCallView):
    serializer_class = TrackingIdentifySerializer


@_document(TrackingTrackSerializer, TrackingSuccessSerializer, "Track", "tracking_track")
class TrackView(TrackingCallView):
    serializer_class = TrackingTrackSerializer


@_document(TrackingPageSerializer, TrackingSuccessSerializer, "Page", "tracking_page")
class PageView(TrackingCallView):
    serializer_class = TrackingPageSerializer


@_document(TrackingScreenSerializer, TrackingSuccessSerializer, "Screen", "tracking_screen")
class ScreenView(TrackingCallView):
    serializer_class = TrackingScreenSerializer


@_document(TrackingGroupSerializer, TrackingSuccessSerializer, "Group", "tracking_group")
class GroupView(TrackingCallView):
    serializer_class = TrackingGroupSerializer


@_document(TrackingAliasSerializer, TrackingSuccessSerializer, "Alias", "tracking_alias")
class AliasView(TrackingCallView):
    serializer_class = TrackingAliasSerializer


@_document(TrackingBatchSerializer, TrackingBatchResponseSerializer, "Batch", "tracking_batch")
class BatchView(TrackingView):
    """Many calls: valid ones kept, each answered by index; 400 only when none was kept."""

    max_body_bytes = BATCH_MAX_BYTES

    def post(self, request: Request) -> Response:
        received_at = timezone.now()
        data = batch_envelope(request.data)
        prepared = batch_prepare(
            items=data["batch"],
            received_at=received_at,
            sent_at=data.get("sentAt"),
            base_context=data.get("context") or {},
        )
        outcome = (
            intake_accept(source=request.auth, messages=prepared.messages)
            if prepared.messages
            else None
        )
        # Results are built as TrackingMessageResultSerializer renders them: no serializer
        # runs over a hundred of them per request.
        results = batch_results(prepared=prepared, outcome=outcome)
        if all(result["status"] == "error" for result in results):
            raise InvalidMessage(
                gettext("No message of the batch is valid."), fields={"batch": results}
            )
        return Response({"success": True, "results": results})


@_document(
    TrackingBatchSerializer, TrackingBatchResponseSerializer, "Import (batch)", "tracking_import"
)
class ImportView(BatchView):
    """Segment's older name for /v1/batch."""


@_document(
    TrackingBatchSerializer, TrackingBatchResponseSerializer, "Beacon (batch)", "tracking_beacon"
)
class BeaconBatchView(BatchView):
    """RudderStack's `navigator.sendBeacon` on page unload: a text/plain batch, the key in
    `?writeKey=` (a beacon cannot set headers)."""

    authentication_classes = [QueryWriteKeyAuthentication]
