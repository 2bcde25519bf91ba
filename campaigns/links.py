"""Signed tracking links: the open pixel and click redirects of one message.

A click token signs the message and the destination together, so the redirect goes only
where the email pointed (never an open redirect). Tokens carry ids only; the salts keep
one kind from being replayed as another.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.core import signing
from django.utils.translation import gettext

from campaigns.errors import NotFound
from core.signing import token_path, token_sign, token_sign_object

OPEN_SALT = "campaigns.open"
CLICK_SALT = "campaigns.click"
_HREF = re.compile(r'href="(https?://[^"]+)"')


def _public(path: str) -> str:
    return getattr(settings, "CDP_PUBLIC_URL", "http://localhost:8000").rstrip("/") + path


def open_url(*, message_pk: int) -> str:
    token = token_sign(value=str(message_pk), salt=OPEN_SALT)
    return _public(token_path(name="campaigns:open", token=token))


def click_url(*, message_pk: int, url: str) -> str:
    token = token_sign_object(obj={"m": message_pk, "u": url}, salt=CLICK_SALT, compress=True)
    return _public(token_path(name="campaigns:click", token=token))


def open_token_read(*, token: str) -> int:
    try:
        value = signing.Signer(salt=OPEN_SALT).unsign(token)
    except signing.BadSignature as error:
        raise NotFound(gettext("This link is not valid.")) from error
    if not value.isdigit():
        raise NotFound(gettext("This link is not valid."))
    return int(value)


def click_token_read(*, token: str) -> tuple[int, str]:
    """(message pk, destination) of a click link; only http(s) destinations exist."""
    try:
        payload: Any = signing.Signer(salt=CLICK_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError) as error:
        raise NotFound(gettext("This link is not valid.")) from error
    if not isinstance(payload, dict):
        raise NotFound(gettext("This link is not valid."))
    pk, url = payload.get("m"), payload.get("u")
    if not isinstance(pk, int) or not isinstance(url, str):
        raise NotFound(gettext("This link is not valid."))
    if not url.startswith(("http://", "https://")):
        raise NotFound(gettext("This link is not valid."))
    return pk, url


def links_track(*, html: str, message_pk: int) -> str:
    """Every http(s) link through the click redirect, except the consent pages; plus the pixel."""
    own = _public("/consent/")

    def rewrite(match: re.Match[str]) -> str:
        url = match.group(1).replace("&amp;", "&")
        if url.startswith(own):
            return match.group(0)
        return f'href="{click_url(message_pk=message_pk, url=url)}"'

    pixel = (
        f'<img src="{open_url(message_pk=message_pk)}" width="1" height="1" alt="" '
        'style="display:block;border:0;height:1px;width:1px">'
    )
    html = _HREF.sub(rewrite, html)
    if "</body>" in html:
        return html.replace("</body>", pixel + "</body>", 1)
    return html + pixel
