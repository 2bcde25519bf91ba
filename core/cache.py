"""The cache backend: one Redis client per connection pool, and a cache that Redis being
down does not break.

Django's Redis client builds a new `redis.Redis` for every operation (its constructor
fills a table of about two hundred response callbacks): a third of a form post's CPU.
`RedisCache` here keeps one client per connection pool — redis-py clients are thread-safe,
the pool hands each command its own connection.

The cache only ever speeds things up, so Redis being down or slow is not a reason to
refuse a request: reads miss and writes are skipped, each with a warning in the log (no
keys, no values); a value left stale by a skipped delete expires with its timeout.
Timeouts are short (`REDIS_TIMEOUT`). Rate limits live in the database (`core.rates`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError)


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]  # Django's private API, not in django-stubs
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]  # Django private, not in stubs
        return client


def _or_when_down(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """Django's `name`, answering `fallback(*args)` with a warning when Redis is down."""
    operation = getattr(DjangoRedisCache, name)

    def method(self: DjangoRedisCache, *args: Any, **kwargs: Any) -> Any:
        try:
            return operation(self, *args, **kwargs)
        except _UNAVAILABLE:
            logger.warning("cache unavailable: %s skipped", name)
            return fallback(*args, **kwargs)

    method.__name__ = name
    return method


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = RedisCacheClient

    # Reads miss, writes are skipped: what each operation answers when Redis does not.
    get = _or_when_down("get", lambda key, default=None, version=None: default)
    get_many = _or_when_down("get_many", lambda *args, **kwargs: {})
    set = _or_when_down("set", lambda *args, **kwargs: None)
    add = _or_when_down("add", lambda *args, **kwargs: False)
    delete = _or_when_down("delete", lambda *args, **kwargs: False)
    delete_many = _or_when_down("delete_many", lambda *args, **kwargs: None)
