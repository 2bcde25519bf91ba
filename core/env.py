"""Read configuration from environment variables, failing loudly in production."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_MISSING = object()


class ImproperlyConfiguredEnv(RuntimeError):
    """A required environment variable is missing or malformed."""


def is_production() -> bool:
    """`CDP_ENV=production` switches on strict settings and required variables."""
    return os.environ.get("CDP_ENV", "local").strip().lower() == "production"


def _to_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _to_list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def get_from_env(
    key: str,
    default: object = _MISSING,
    *,
    cast: Callable[[str], T] | None = None,
    required_in_production: bool = False,
) -> T:
    """Return the variable cast to a type; in production a required one must be set."""
    raw = os.environ.get(key)
    if raw is None or raw == "":
        if required_in_production and is_production():
            raise ImproperlyConfiguredEnv(f"{key} must be set when CDP_ENV=production")
        if default is _MISSING:
            raise ImproperlyConfiguredEnv(f"{key} must be set")
        return default  # type: ignore[return-value]  # typed object; callers pass a T
    if cast is None:
        return raw  # type: ignore[return-value]  # with no cast, callers ask for str
    try:
        return cast(raw)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{key}: {exc}") from exc


def env_bool(key: str, default: bool) -> bool:
    return get_from_env(key, default, cast=_to_bool)


def env_int(key: str, default: int) -> int:
    return get_from_env(key, default, cast=int)


def env_float(key: str, default: float) -> float:
    return get_from_env(key, default, cast=float)


def env_list(key: str, default: list[str], *, required_in_production: bool = False) -> list[str]:
    return get_from_env(key, default, cast=_to_list, required_in_production=required_in_production)


_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@functools.lru_cache(maxsize=64)
def parse_rate(rate: str) -> tuple[int, float]:
    """DRF's notation, "30/min", "5/s", "1000/hour": (requests, seconds)."""
    number, _, period = rate.partition("/")
    seconds = _PERIODS.get(period.strip()[:1].lower())
    if not number.strip().isdigit() or int(number) < 1 or seconds is None:
        raise ValueError(f"not a rate: {rate!r} (use N/s, N/min, N/hour or N/day)")
    return int(number), float(seconds)


def env_rate(key: str, default: str) -> str:
    """A rate in DRF's notation ("30/min"), checked when the settings load."""
    value: str = get_from_env(key, default)
    try:
        parse_rate(value)
    except ValueError as exc:
        raise ImproperlyConfiguredEnv(f"{key}: {exc}") from exc
    return value
