"""Which language a person reads: theirs if we know it, else their browser's, else ours.

The admin follows the steward (the language switch's cookie, else the browser, through
Django's LocaleMiddleware). A person's pages and emails follow the person: the language
on their profile when it names one of `settings.LANGUAGES` ("fr", "fr-FR", "fr_CA" all
read as French), else the language already active (the browser's on a request, the
organisation's `LANGUAGE_CODE` in a worker). See docs/i18n.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


def language_supported(*, stated: str | None) -> str | None:
    """The language of `settings.LANGUAGES` that `stated` names, or None."""
    if not stated:
        return None
    code = stated.strip().replace("_", "-").lower()
    available = {language for language, _name in settings.LANGUAGES}
    if code in available:
        return code
    primary = code.split("-", 1)[0]
    return primary if primary in available else None


def browser_language(*, accept_language: str | None) -> str | None:
    """The first language of an Accept-Language header, by preference, that we support."""
    if not accept_language:
        return None
    for code, _quality in parse_accept_lang_header(accept_language):
        supported = language_supported(stated=code)
        if supported:
            return supported
    return None


def person_language(*, stated: str | None) -> str:
    """The person's language when stated and supported, else the active one."""
    return language_supported(stated=stated) or translation.get_language() or settings.LANGUAGE_CODE


@contextmanager
def in_person_language(*, stated: str | None) -> Iterator[str]:
    """Render a page or an email in the person's language (see `person_language`)."""
    language = person_language(stated=stated)
    with translation.override(language):
        yield language
