"""Job leases: the work a long job owes, kept in PostgreSQL, and who runs it until when.

A long job (a duplicate scan, a maintenance or retention run, a segment refresh) records
the work it owes with `job_lease_owe`, in the transaction that creates the work. Its task
claims the lease before working (`job_lease_claim`: refused while another runner holds a
lease that has not expired, so two workers never run the same job at once), keeps it
renewed while it works (`job_lease_kept`), and gives it up at the end of each run
(`job_lease_release`), which hands it to the next run when the task must be queued again:
a job is one chain of tasks, and a stray copy of its task (sent twice) stops at once. A
worker killed mid-job stops renewing: beat's `job_leases_expired_requeue` queues the job's
task again once the lease has expired, and the job resumes from the position its own rows
recorded.

Celery only wakes workers up: a lost or re-delivered task message costs a delay, never work.
"""

from __future__ import annotations

import importlib
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import (
    CharField,
    DateTimeField,
    Exists,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from core.models import JobLease

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Lease:
    """A claimed lease: only the runner holding `token` may renew or release it."""

    job: str
    token: str


def lease_seconds() -> int:
    return int(settings.CDP_JOB_LEASE_SECONDS)


def _until(now: datetime) -> datetime:
    return now + timedelta(seconds=lease_seconds())


def job_lease_owe(*, job: str, task: str, kwargs: Mapping[str, Any] | None = None) -> None:
    """Record that `job` owes a run of the celery task `task(**kwargs)`.

    Call it in the transaction that creates the work. A lease already held stays its
    holder's: the holder queues the job again when it finishes, as a request came after
    its claim. A lease nobody claims within CDP_JOB_LEASE_SECONDS is queued by beat.
    """
    now = timezone.now()
    values = {"task": task, "kwargs": dict(kwargs or {}), "requested_at": now}
    with transaction.atomic():
        if JobLease.objects.filter(job=job).update(**values):
            return
        JobLease.objects.bulk_create(
            [JobLease(job=job, expires_at=_until(now), **values)], ignore_conflicts=True
        )
        # Created meanwhile by another request (and maybe claimed since): ask again.
        JobLease.objects.filter(job=job, requested_at__lt=now).update(**values)


def job_lease_claim(*, job: str, handed: str = "") -> Lease | None:
    """Take the lease of `job` if it is owed and free, its holder's lease expired, or the
    previous run of the job handed it on (`handed`, the token `job_lease_release` gave).

    None: nothing is owed, or another runner holds the lease; the caller does nothing.
    Commits at once when called outside a transaction, so beat sees the holder.
    """
    now = timezone.now()
    token = secrets.token_hex(16)
    free = Q(holder="") | Q(expires_at__lt=now)
    if handed:
        free |= Q(holder=handed)
    claimed = JobLease.objects.filter(free, job=job).update(
        holder=token, claimed_at=now, expires_at=_until(now)
    )
    return Lease(job=job, token=token) if claimed else None


def job_lease_renew(lease: Lease) -> bool:
    """Push the lease's end back; False when the runner lost it (expired and re-claimed)."""
    return bool(
        JobLease.objects.filter(job=lease.job, holder=lease.token).update(
            expires_at=_until(timezone.now())
        )
    )


def job_lease_release(lease: Lease, *, done: bool) -> str | None:
    """Give the lease up after a run; a token when the job's task must be queued again.

    `done`: the work the job owed is finished; the lease goes, unless someone asked for the
    job again after this runner claimed it. Not done (a batched job with batches left), or
    asked again: the lease is handed to the next run, which claims it with the returned
    token (`job_lease_claim(handed=...)`); a stray copy of the task finds it held and stops.
    """
    now = timezone.now()
    with transaction.atomic():
        row = JobLease.objects.select_for_update().filter(job=lease.job, holder=lease.token).first()
        if row is None:
            return None  # the lease expired and another runner carries the job on
        asked_again = row.claimed_at is not None and row.requested_at > row.claimed_at
        if done and not asked_again:
            row.delete()
            return None
        row.holder = secrets.token_hex(16)
        row.expires_at = _until(now)
        row.save(update_fields=["holder", "expires_at"])
        return row.holder


@dataclass(frozen=True)
class LeasedRun(Generic[T]):
    """What `job_lease_run` did: `claimed` False when another runner held the job."""

    claimed: bool
    result: T | None = None
    handed: str | None = None  # the next run's token; None: the job owes nothing more


def job_lease_run(*, job: str, handed: str, step: Callable[[], tuple[T, bool]]) -> LeasedRun[T]:
    """Claim `job`, run `step` (returning its result and whether the job is done) with the
    lease kept renewed, and release it. The caller queues the next run when `handed`."""
    lease = job_lease_claim(job=job, handed=handed)
    if lease is None:
        return LeasedRun(claimed=False)
    with job_lease_kept(lease):
        result, done = step()
    return LeasedRun(claimed=True, result=result, handed=job_lease_release(lease, done=done))


def job_lease_drop(*, job: str) -> None:
    """Forget what `job` owes (its work was deleted, or finished by another path)."""
    JobLease.objects.filter(job=job).delete()


def job_leases_expired_requeue() -> int:
    """Queue again the task of every job whose lease expired (its worker died, or its task
    message was lost); how many. A runner that was only slow loses its lease and stops."""
    now = timezone.now()
    with transaction.atomic():
        expired = list(
            JobLease.objects.select_for_update(skip_locked=True)
            .filter(expires_at__lt=now)
            .order_by("pk")
        )
        for row in expired:
            JobLease.objects.filter(pk=row.pk).update(
                holder="", expires_at=_until(now), requeued=F("requeued") + 1
            )
            logger.info("job %s: lease expired, queued again", row.job)
            transaction.on_commit(partial(job_task_send, task=row.task, kwargs=row.kwargs))
    return len(expired)


def job_task_send(*, task: str, kwargs: Mapping[str, Any]) -> None:
    """Queue the celery task named `task` (its module's routes apply; eager mode runs it)."""
    module, _, name = task.rpartition(".")
    importlib.import_module(module).__dict__[name].apply_async(kwargs=dict(kwargs))


def job_lease_annotations(*, prefix: str) -> dict[str, Any]:
    """Annotations of a queryset whose rows are jobs named `prefix` + pk: `lease_owed` and
    `lease_claimed_at` (set while a runner works on it), for a steward's list."""
    leases = JobLease.objects.filter(job=Concat(Value(prefix), Cast(OuterRef("pk"), CharField())))
    return {
        "lease_owed": Exists(leases),
        "lease_claimed_at": Subquery(
            leases.exclude(holder="").values("claimed_at")[:1], output_field=DateTimeField()
        ),
    }


def _renew_loop(lease: Lease, stop: threading.Event, lost: threading.Event) -> None:
    while not stop.wait(lease_seconds() / 3):
        try:
            if not job_lease_renew(lease):
                lost.set()
                return
        except DatabaseError:  # the main transaction may hold SQLite's lock: try again later
            logger.warning("job %s: lease renewal failed", lease.job, exc_info=True)
            close_old_connections()
        finally:
            connection.close()


@contextmanager
def job_lease_kept(lease: Lease) -> Iterator[threading.Event]:
    """Renew `lease` from a thread of its own while the block runs (a long transaction
    cannot renew it: nobody would see the renewal before the commit). Yields an event set
    when the lease was lost."""
    stop, lost = threading.Event(), threading.Event()
    keeper = threading.Thread(
        target=_renew_loop, args=(lease, stop, lost), name="cdp-lease", daemon=True
    )
    keeper.start()
    try:
        yield lost
    finally:
        stop.set()
        keeper.join()
