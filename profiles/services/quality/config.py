"""The rules stewards edit, read once and kept for a short while by each process.

Ingestion consults them on every batch; reading four small tables per batch would cost
more round trips than the batch's own statements on PostgreSQL. Each process keeps what
it read for `TTL_SECONDS`; a change made through `quality_rules_changed` clears this
process's copy at once, and the maintenance run it starts re-applies the rules to every
profile (after clearing its own copy), so a batch another process ingested meanwhile with
the old rules is corrected too.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from profiles.models import JobFunctionRule, QualityWeight, SurvivorshipRule
from profiles.normalise_data import DEFAULT_JOB_FUNCTION_RULES

TTL_SECONDS = 30.0
# Used while the weights table is empty (the seed migration writes the same values).
DEFAULT_QUALITY_WEIGHTS = {
    "email": 20,
    "phone": 10,
    "first_name": 10,
    "last_name": 10,
    "company": 10,
    "job_title": 5,
    "country": 5,
    "city": 5,
    "postcode": 5,
    "validity": 20,
}
VALIDITY = "validity"


@dataclass(frozen=True)
class QualityConfig:
    job_rules: tuple[tuple[str, str], ...] = DEFAULT_JOB_FUNCTION_RULES
    weights: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_QUALITY_WEIGHTS))
    # field -> strategy, only for fields with a rule (the others use trust then recency)
    survivorship: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_cached: tuple[float, QualityConfig] | None = None


def quality_config() -> QualityConfig:
    """The current rules, at most `TTL_SECONDS` old (three small queries when refreshed)."""
    global _cached
    now = time.monotonic()
    cached = _cached
    if cached is not None and now - cached[0] < TTL_SECONDS:
        return cached[1]
    job_rules = tuple(
        JobFunctionRule.objects.filter(is_active=True)
        .order_by("position", "id")
        .values_list("keyword", "function")
    )
    weights = dict(QualityWeight.objects.values_list("field", "weight"))
    survivorship = dict(SurvivorshipRule.objects.values_list("field", "strategy"))
    config = QualityConfig(
        job_rules=job_rules,
        weights=weights or dict(DEFAULT_QUALITY_WEIGHTS),
        survivorship=survivorship,
    )
    with _lock:
        _cached = (now, config)
    return config


def quality_config_forget() -> None:
    """Drop this process's copy: the next `quality_config()` reads the tables again."""
    global _cached
    with _lock:
        _cached = None
