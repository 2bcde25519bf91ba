"""Sources and their write keys: shown once, stored as a keyed hash, checked in constant time."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext

from core.credentials import credential_block_key, credential_check, credential_failed
from core.keys import key_digest, key_is_plausible, key_matches, key_new
from profiles.errors import InvalidWriteKey, ProfilesError
from profiles.hooks import source_changed_notify
from profiles.models import Source

KEY_PREFIX_LENGTH = 12  # "wk_" + 9 characters, stored in clear to find the row


def _hash_key(key: str) -> str:
    return key_digest(key=key, pepper=settings.CDP_WRITE_KEY_PEPPER)


def _new_key() -> str:
    return key_new(kind="wk")


@transaction.atomic
def source_create(
    *,
    name: str,
    kind: str,
    slug: str = "",
    allowed_origins: list[str] | None = None,
    default_phone_region: str = "",
    trust_rank: int = 50,
) -> tuple[Source, str]:
    """Create a source and return it with its write key, which is never shown again."""
    if kind not in Source.Kind.values:
        raise ProfilesError(
            gettext("unknown source kind %(kind)s") % {"kind": repr(kind)},
            fields={"kind": [gettext("one of %(values)s") % {"values": Source.Kind.values}]},
        )
    slug = slug or slugify(name)[:60]
    if not slug:
        raise ProfilesError(
            gettext("a source needs a name"), fields={"name": [gettext("is required")]}
        )
    if Source.objects.filter(slug=slug).exists():
        raise ProfilesError(
            gettext("a source %(slug)s exists already") % {"slug": repr(slug)},
            fields={"slug": [gettext("is already taken")]},
        )
    key = _new_key()
    source = Source.objects.create(
        name=name,
        slug=slug,
        kind=kind,
        write_key_prefix=key[:KEY_PREFIX_LENGTH],
        write_key_hash=_hash_key(key),
        allowed_origins=list(allowed_origins or []),
        default_phone_region=default_phone_region.upper(),
        trust_rank=trust_rank,
    )
    return source, key


@transaction.atomic
def source_rotate_key(*, source: Source) -> str:
    """Give the source a new write key; the old one stops working at once."""
    source_cache_clear(source=source)
    key = _new_key()
    source.write_key_prefix = key[:KEY_PREFIX_LENGTH]
    source.write_key_hash = _hash_key(key)
    source.key_rotated_at = timezone.now()
    source.save(
        update_fields=["write_key_prefix", "write_key_hash", "key_rotated_at", "updated_at"]
    )
    return key


# A bound for changes made outside the services and the source admin (a shell's update()).
SOURCE_CACHE_SECONDS = 60


def _key_cache_key(prefix: str) -> str:
    return f"cdp:source-key:{prefix}"


def source_cache_clear(*, source: Source) -> None:
    """Forget what the cache holds for this source (its key look-up, what other apps derive).

    Call on any change to a source: now, and again once committed (a request that read the
    old row meanwhile may have cached it again).
    """
    stored = Source.objects.filter(pk=source.pk).values_list("write_key_prefix", flat=True)
    keys = [_key_cache_key(prefix) for prefix in {source.write_key_prefix, *stored}]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
    source_changed_notify(source=source)


def _source_by_prefix(prefix: str, *, client: str) -> Source | None:
    """The source of this key prefix; raises TooManyFailures while the client is blocked."""
    key = _key_cache_key(prefix)
    block = credential_block_key(client=client)
    cached = cache.get_many([key, block])  # one round trip for both
    credential_check(client=client, cached=cached)
    source = cached.get(key)
    if source is None:
        source = Source.objects.filter(write_key_prefix=prefix).first()
        if source is not None:  # an unknown prefix is not cached: nothing to fill it with
            cache.set(key, source, SOURCE_CACHE_SECONDS)
    return source


def source_authenticate(*, write_key: str, client: str) -> Source:
    """The active source this write key belongs to, or InvalidWriteKey.

    The row is cached by key prefix; the key itself is checked against its hash each time.
    A client (address) that sent too many bad keys gets TooManyFailures instead, for a while.
    """
    if not key_is_plausible(write_key, prefix_length=KEY_PREFIX_LENGTH):
        credential_check(client=client)
        credential_failed(client=client)
        raise InvalidWriteKey(gettext("unknown or revoked write key"))
    source = _source_by_prefix(write_key[:KEY_PREFIX_LENGTH], client=client)
    digest = source.write_key_hash if source else None
    matches = key_matches(key=write_key, digest=digest, pepper=settings.CDP_WRITE_KEY_PEPPER)
    if source is None or not matches or not source.is_active:
        credential_failed(client=client)
        raise InvalidWriteKey(gettext("unknown or revoked write key"))
    return source
