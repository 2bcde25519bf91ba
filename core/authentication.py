"""The staff API's token authentication: hashed tokens, bad ones throttled per client."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from core.clients import client_ip
from core.credentials import credential_check, credential_failed
from core.tokens import InvalidToken, api_token_authenticate


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Token <key>` with a key made in admin → API tokens."""

    keyword = "Token"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        scheme, _, key = get_authorization_header(request).partition(b" ")
        if scheme.lower() != self.keyword.lower().encode():
            return None
        client = client_ip(request)
        credential_check(client=client)
        try:
            token = api_token_authenticate(key=key.strip().decode("latin-1"))
        except InvalidToken:
            credential_failed(client=client)
            raise
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiTokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = ApiTokenAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: an API token of a staff user (admin → API tokens).",
        }
