"""What a click proves: time, a truncated IP address and the user agent.

Full IP addresses are personal data the proof does not need: IPv4 keeps its /24,
IPv6 its /48.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.utils import timezone

from core.clients import client_ip

__all__ = ["click_proof", "client_ip", "truncate_ip"]

USER_AGENT_MAX_LENGTH = 500


_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"  # no leading zero, as ipaddress
_IPV4 = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}", re.ASCII)


def truncate_ip(ip: str) -> str:
    """IPv4 with its last octet zeroed, IPv6 cut to its /48; "" for anything else."""
    ip = ip.strip()
    if _IPV4.fullmatch(ip):  # the common case, without building address objects
        return ip[: ip.rindex(".")] + ".0"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def click_proof(*, ip: str, user_agent: str, **extra: Any) -> dict[str, Any]:
    """The proof of a person's click on one of our pages."""
    cleaned = "".join(ch for ch in user_agent if ch.isprintable())[:USER_AGENT_MAX_LENGTH]
    return {
        "time": timezone.now().isoformat(),
        "ip": truncate_ip(ip),
        "user_agent": cleaned,
        **extra,
    }
