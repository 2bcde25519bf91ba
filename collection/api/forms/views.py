"""Public endpoint web forms post to: JSON for scripts, a redirect or a small page for browsers.

A post is answered in HTML (303 to the thank-you URL, or a readable error page) when it is a
plain form post (urlencoded or multipart) from a browser asking for HTML; every other caller
gets JSON in the API's error format.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import IO, Any
from urllib.parse import urlsplit

import orjson
from django.http import HttpResponse, HttpResponseBase, HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import Throttled
from rest_framework.negotiation import BaseContentNegotiation, DefaultContentNegotiation
from rest_framework.parsers import (
    BaseParser,
    FormParser,
    JSONParser,
    MultiPartParser,
    get_encoding,
)
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from collection.errors import CollectionError
from collection.models import Form
from collection.origins import add_cors_headers, origin_allowed, preflight_response
from collection.services.forms import (
    CONSENT_PREFIX,
    NON_FIELD_ERRORS,
    FormChanged,
    FormRateLimited,
    FormUnavailable,
    form_cache_clear,
    form_lookup,
    form_submit,
)
from consent.proof import client_ip
from core.i18n import browser_language
from core.rates import Spend, spend

HTML_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
STALE_RETRIES = 3  # reads of a definition changed under a post before giving up


def _rate(ip: str, scope: str) -> Spend | None:
    """This post against the scope's rate (DRF's DEFAULT_THROTTLE_RATES), per client IP
    (`client_ip`: a client-supplied X-Forwarded-For does not buy a fresh allowance).

    Not a DRF throttle: the allowance is spent by the statement storing the post.
    """
    rate = api_settings.DEFAULT_THROTTLE_RATES.get(scope)
    return spend(scope=scope, ident=ip, rate=rate) if rate else None


_LONG_NUMBER = re.compile(rb"\d{19}")


class FormJSONParser(JSONParser):
    """DRF's JSONParser, reading with orjson (a tenth of the time); what orjson refuses or
    reads otherwise (NaN, a lone surrogate, bad UTF-8, an integer past 64 bits) goes to
    DRF's parser for its usual answer."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        raw = stream.read()
        utf8 = get_encoding(parser_context or {}).lower().replace("-", "") == "utf8"
        # orjson reads an integer past 64 bits as a float: those bodies go to DRF.
        if utf8 and not _LONG_NUMBER.search(raw):
            try:
                return orjson.loads(raw)
            except orjson.JSONDecodeError:
                pass
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Always JSON: a browser's Accept header must not turn an answer into a 406."""

    def select_parser(self, request: Request, parsers: Sequence[BaseParser]) -> BaseParser | None:
        return DefaultContentNegotiation().select_parser(request, parsers)

    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


def wants_html(request: Request) -> bool:
    """A plain HTML form post from a browser, as opposed to a script or a server."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    return content_type in HTML_FORM_TYPES and "text/html" in request.headers.get("Accept", "")


def _posted_data(request: Request) -> Mapping[str, Any]:
    data = request.data
    if isinstance(data, QueryDict):
        # The last value wins, as in Django forms (a hidden "0" before a checkbox "1").
        return {key: data.get(key) for key in data}
    if not isinstance(data, Mapping):
        raise CollectionError(
            gettext("The body must be an object of field values."),
            fields={NON_FIELD_ERRORS: [gettext("Send an object of field values.")]},
        )
    return data


def _back_url(request: Request) -> str:
    referer = request.headers.get("Referer", "")
    return referer if urlsplit(referer).scheme in ("http", "https") else ""


def _error_rows(form: Form | None, fields: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """Field errors in the form's order, each with the label the person saw."""
    labels: dict[str, str] = {}
    if form is not None:
        labels = {field["name"]: field["label"] for field in form.fields}
        labels.update({f"{CONSENT_PREFIX}{code}": code for code in form.consent_purposes})
    order = list(labels)
    rows = []
    for name in sorted(fields, key=lambda key: order.index(key) if key in order else len(order)):
        messages = fields[name] if isinstance(fields[name], list) else [fields[name]]
        rows.append({"label": labels.get(name, ""), "messages": [str(m) for m in messages]})
    return rows


_ERROR_SCHEMA = inline_serializer(
    "FormError",
    fields={
        "error": inline_serializer(
            "FormErrorBody",
            fields={
                "status": serializers.IntegerField(),
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
        )
    },
)


class FormSubmitView(APIView):
    """POST /api/forms/<slug>/submissions: one submission of a web form."""

    authentication_classes: Sequence[type] = []
    permission_classes = [AllowAny]
    parser_classes = [FormJSONParser, FormParser, MultiPartParser]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = JSONOnlyNegotiation
    throttle_classes: Sequence[type] = []  # the form rate is spent by FormGuard
    throttle_scope = "form"

    def _form(self) -> Form | None:
        if not hasattr(self, "_cached_form"):
            self._cached_form = form_lookup(slug=self.kwargs.get("slug", ""))
        return self._cached_form

    def options(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return preflight_response(origin=request.headers.get("Origin"))

    @extend_schema(
        operation_id="forms_submit",
        summary="Submit a web form",
        description=(
            "Posts one submission of the form `slug`: field values by the form's field names, "
            "`consent_<purpose>` checkboxes, and the honeypot field left empty. JSON, "
            "urlencoded and multipart bodies are accepted. A browser's plain HTML post "
            "(urlencoded or multipart, Accept: text/html) is redirected (303) to the form's "
            "thank-you URL, or shown a page listing the errors. Throttled per client IP "
            '(scope "form").'
        ),
        tags=["forms"],
        auth=[],
        request={
            "application/json": OpenApiTypes.OBJECT,
            "application/x-www-form-urlencoded": OpenApiTypes.OBJECT,
            "multipart/form-data": OpenApiTypes.OBJECT,
        },
        responses={
            201: inline_serializer("FormSubmitted", fields={"success": serializers.BooleanField()}),
            303: OpenApiResponse(description="Plain HTML post: redirect to the thank-you URL."),
            400: OpenApiResponse(_ERROR_SCHEMA, description="Field messages by field name."),
            403: OpenApiResponse(_ERROR_SCHEMA, description="origin_not_allowed"),
            404: OpenApiResponse(_ERROR_SCHEMA, description="Unknown or inactive form."),
            429: OpenApiResponse(_ERROR_SCHEMA, description="Too many submissions."),
        },
    )
    def post(self, request: Request, slug: str) -> HttpResponseBase:
        data = _posted_data(request)
        ip = client_ip(request)
        rate = _rate(ip, self.throttle_scope)
        for attempt in range(1, STALE_RETRIES + 1):
            form = self._form()
            if form is None:
                raise FormUnavailable(gettext("Not found."))
            try:
                form_submit(
                    form=form,
                    data=data,
                    origin=request.headers.get("Origin"),
                    ip=ip,
                    user_agent=request.headers.get("User-Agent", ""),
                    page_url=_back_url(request),
                    rate=rate,
                    locale=browser_language(accept_language=request.headers.get("Accept-Language"))
                    or "",
                )
                break
            except FormRateLimited as exc:
                raise Throttled(wait=exc.retry_after) from exc
            except FormChanged:  # another process saved it: read it again, check again
                form_cache_clear(slugs=[slug])
                del self._cached_form
                if attempt == STALE_RETRIES:
                    raise FormUnavailable(
                        gettext("The form is being changed; try again.")
                    ) from None
        if not wants_html(request):
            return Response({"success": True}, status=status.HTTP_201_CREATED)
        if form.thank_you_url:
            return HttpResponseRedirect(form.thank_you_url, status=status.HTTP_303_SEE_OTHER)
        return render(request._request, "collection/forms/thanks.html", {"form": form})

    def handle_exception(self, exc: Exception) -> HttpResponseBase:
        response = super().handle_exception(exc)
        if not wants_html(self.request) or not isinstance(response, Response):
            return response
        error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
        page = render(
            self.request._request,
            "collection/forms/errors.html",
            {
                "form": self._form(),
                "status": response.status_code,
                "message": error.get("message", ""),
                "rows": _error_rows(self._form(), error.get("fields") or {}),
                "back_url": _back_url(self.request),
            },
            status=response.status_code,
        )
        if response.has_header("Retry-After"):
            page["Retry-After"] = response["Retry-After"]
        return page

    def finalize_response(
        self, request: Request, response: HttpResponseBase, *args: Any, **kwargs: Any
    ) -> HttpResponseBase:
        response = super().finalize_response(request, response, *args, **kwargs)
        origin = request.headers.get("Origin")
        form = self._form() if origin and request.method != "OPTIONS" else None
        if form is not None and origin_allowed(source=form.source, origin=origin):
            vary = response.get("Vary")
            add_cors_headers(response, origin=origin)
            if vary:
                patch_vary_headers(response, [part.strip() for part in vary.split(",")])
        return response
