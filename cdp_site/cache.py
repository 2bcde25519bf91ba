"""The cache backend, and a rate allowance that costs one cache round trip.

Django's Redis client builds a new `redis.Redis` for every operation (its constructor
fills a table of about two hundred response callbacks): a third of a form post's CPU.
`RedisCache` here keeps one client per connection pool — redis-py clients are thread-safe,
the pool hands each command its own connection.

`rate_allow` is a GCRA allowance ("bursts of N, then one every period/N"), read and moved
in one step, that also reads the cache keys the caller needs next: on Redis one Lua script
(atomic, one round trip); on other backends a read and a write (not atomic — they serve
one machine in development).

The cache only ever speeds things up or limits rates, so Redis being down or slow is not a
reason to refuse a sign-up: reads miss, writes are skipped and the rate limit lets requests
through, each with a warning in the log (no keys, no values); a value left stale by a
skipped delete expires with its timeout. Timeouts are short (`REDIS_TIMEOUT`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.cache import BaseCache, caches
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
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


# KEYS[1]: the allowance; KEYS[2..]: values to read with it. ARGV: now, interval, period.
# The allowance is the next time a request is allowed at, stored as a plain number.
_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local allowed_at = tonumber(redis.call('GET', KEYS[1]) or '') or now
if allowed_at < now then allowed_at = now end
local over_by = allowed_at + interval - now - period
if over_by <= 0 then
  redis.call('SET', KEYS[1], tostring(allowed_at + interval), 'EX', math.ceil(period))
end
local values = {}
if #KEYS > 1 then values = redis.call('MGET', unpack(KEYS, 2)) end
return {tostring(over_by), values}
"""


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
        self._script: Any = None

    # Reads miss, writes are skipped: what each operation answers when Redis does not.
    get = _or_when_down("get", lambda key, default=None, version=None: default)
    get_many = _or_when_down("get_many", lambda *args, **kwargs: {})
    set = _or_when_down("set", lambda *args, **kwargs: None)
    add = _or_when_down("add", lambda *args, **kwargs: False)
    delete = _or_when_down("delete", lambda *args, **kwargs: False)
    delete_many = _or_when_down("delete_many", lambda *args, **kwargs: None)

    def rate_allow(
        self, key: str, *, now: float, interval: float, period: float, read: Sequence[str]
    ) -> tuple[float, dict[str, Any]]:
        try:
            return self._rate_allow(key, now=now, interval=interval, period=period, read=read)
        except _UNAVAILABLE:
            logger.warning("cache unavailable: rate limit skipped")
            return -1.0, {}

    def _rate_allow(
        self, key: str, *, now: float, interval: float, period: float, read: Sequence[str]
    ) -> tuple[float, dict[str, Any]]:
        client = self._cache.get_client(key, write=True)
        if self._script is None:
            self._script = client.register_script(_GCRA)
        keys = [self.make_and_validate_key(k) for k in (key, *read)]
        over_by, values = self._script(
            keys=keys, args=[repr(now), repr(interval), repr(period)], client=client
        )
        loads = self._cache._serializer.loads
        found = {k: loads(v) for k, v in zip(read, values, strict=True) if v is not None}
        return float(over_by), found


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    retry_after: float  # seconds until a request would be allowed (0 when allowed)
    values: dict[str, Any]  # the keys asked for that the cache holds


def rate_allow(
    key: str, *, limit: int, period: float, now: float, read: Sequence[str] = ()
) -> Allowance:
    """Spend one of `limit` requests per `period` seconds under `key`; read `read` too."""
    interval = period / limit
    backend: BaseCache = caches["default"]
    if isinstance(backend, RedisCache):
        over_by, values = backend.rate_allow(
            key, now=now, interval=interval, period=period, read=read
        )
    else:
        found = backend.get_many([key, *read])
        stored = found.pop(key, None)
        allowed_at = max(stored, now) if isinstance(stored, float) else now
        over_by = allowed_at + interval - now - period
        if over_by <= 0:
            backend.set(key, allowed_at + interval, math.ceil(period))
        values = found
    return Allowance(allowed=over_by <= 0, retry_after=max(over_by, 0.0), values=values)
