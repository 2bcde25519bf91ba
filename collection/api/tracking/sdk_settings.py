"""The settings the browser SDKs fetch at load, so a site points them at the CDP alone.

Segment's analytics.js reads `<cdnURL>/v1/projects/<writeKey>/settings`; RudderStack's
JavaScript SDK reads `<configUrl>/sourceConfig/?writeKey=...`. Both answers name this
server as the only place calls go, and switch off everything that would call another
service (remote metrics, error reporting, device-mode destinations, remote plugins).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response

from collection.api.tracking.views import (
    ERRORS,
    TAGS,
    QueryWriteKeyAuthentication,
    TrackingView,
)
from consent.proof import client_ip
from profiles.models import Source
from profiles.services import source_authenticate


def _api_host(request: Request) -> tuple[str, str]:
    """Where this server's /v1 answers, as Segment's settings spell it (host and path)."""
    return f"{request.get_host()}/v1", request.scheme or "https"


def segment_settings(*, write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """Analytics.js settings that send every call to `protocol://api_host` and nowhere else."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": False,
                "maybeBundledConfigIds": {},
            }
        },
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


def rudderstack_source_config(*, source: Source) -> dict[str, Any]:
    """RudderStack's source configuration: no destination, no metrics or error reporting."""
    return {
        "isHosted": False,
        "source": {
            # An id the SDK requires; the key prefix is what the caller already holds.
            "id": source.write_key_prefix,
            "name": source.name,
            "enabled": True,
            "workspaceId": "cdp",
            "config": {
                "statsCollection": {"errors": {"enabled": False}, "metrics": {"enabled": False}},
            },
            "destinations": [],
        },
    }


class PathWriteKeyAuthentication(BaseAuthentication):
    """The write key in the URL path, as analytics.js asks for its settings."""

    def authenticate(self, request: Request) -> tuple[AnonymousUser, Source] | None:
        kwargs = (request.parser_context or {}).get("kwargs", {})
        key = kwargs.get("write_key", "")
        return (
            (AnonymousUser(), source_authenticate(write_key=key, client=client_ip(request)))
            if key
            else None
        )

    def authenticate_header(self, request: Request) -> str:
        return 'Basic realm="tracking"'


SETTINGS_RESPONSES = {200: OpenApiResponse(OpenApiTypes.OBJECT), **ERRORS}


class SegmentSettingsView(TrackingView):
    """`GET /v1/projects/<writeKey>/settings`: what analytics.js loads from its `cdnURL`."""

    authentication_classes = [PathWriteKeyAuthentication]
    preflight_methods = ("GET",)

    @extend_schema(
        operation_id="tracking_segment_settings",
        summary="Settings for Segment's analytics.js",
        description="The source's write key is the path's `write_key`.",
        tags=TAGS,
        auth=[],
        responses=SETTINGS_RESPONSES,
    )
    def get(self, request: Request, write_key: str) -> Response:
        api_host, protocol = _api_host(request)
        return Response(segment_settings(write_key=write_key, api_host=api_host, protocol=protocol))


class RudderStackSourceConfigView(TrackingView):
    """`GET /sourceConfig/?writeKey=...`: what RudderStack's SDK loads from its `configUrl`."""

    authentication_classes = [QueryWriteKeyAuthentication]
    preflight_methods = ("GET",)

    @extend_schema(
        operation_id="tracking_rudderstack_source_config",
        summary="Source configuration for RudderStack's JavaScript SDK",
        tags=TAGS,
        responses=SETTINGS_RESPONSES,
    )
    def get(self, request: Request) -> Response:
        return Response(rudderstack_source_config(source=request.auth))
