"""Who a request comes from, as rate limits, throttles and consent proofs see it."""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.settings import api_settings


def client_ip(request: HttpRequest) -> str:
    """REMOTE_ADDR, unless REST_FRAMEWORK["NUM_PROXIES"] says which forwarded address to trust."""
    num_proxies = api_settings.NUM_PROXIES
    forwarded = request.headers.get("X-Forwarded-For")
    if num_proxies and forwarded:
        addresses = forwarded.split(",")
        return addresses[-min(num_proxies, len(addresses))].strip()
    return request.META.get("REMOTE_ADDR", "")
