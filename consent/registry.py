"""What each app holds about a person: the registry data-subject requests go through.

`consent` is the lowest app, so it owns the registry and knows no other app. Each app
registers, in its `AppConfig.ready()`, one `PersonData` handler:

    from consent.registry import PersonData, person_data_register
    person_data_register(PersonData(app="segments", export=..., erase=...))

- `export(profile_ids)` returns a JSON-serialisable mapping of everything the app holds
  about the person (the given ids are the person's profile and its merged tombstones);
- `erase(profile_ids)` removes or irreversibly anonymises it, inside the caller's
  transaction, and returns how many rows it touched;
- `label` and `labels` (optional): what a steward reads for the app's data and for each
  kind of record its export holds (its keys), on the erasure confirmation.

The app that owns people (profiles) also gives, optionally:
- `locate(email, phone)`: the person's profile ids (survivor and merged tombstones) and
  their normalised identifiers [(kind, value)] (the given ones even if nobody matches),
  which the suppression list hashes;
- `restrict(profile_ids, restricted)`: mark the person restricted (or active again);
- `rectify(profile_ids, changes, actor)`: correct fields; returns the names changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise

ExportFn = Callable[[Sequence[int]], Mapping[str, Any]]
EraseFn = Callable[[Sequence[int]], int]


@dataclass(frozen=True)
class Located:
    profile_ids: list[int]
    identifiers: list[tuple[str, str]]


LocateFn = Callable[[str, str], Located]
RestrictFn = Callable[[Sequence[int], bool], int]
RectifyFn = Callable[[Sequence[int], Mapping[str, Any], Any], list[str]]


@dataclass(frozen=True)
class PersonData:
    app: str
    export: ExportFn
    erase: EraseFn
    locate: LocateFn | None = None
    restrict: RestrictFn | None = None
    rectify: RectifyFn | None = None
    label: str | Promise = ""
    labels: Mapping[str, str | Promise] = field(default_factory=dict)


_HANDLERS: dict[str, PersonData] = {}


def person_data_register(handler: PersonData) -> None:
    """Register (or replace, on a re-run of ready()) one app's export and erase functions."""
    _HANDLERS[handler.app] = handler


def person_data_handlers() -> list[PersonData]:
    """Every registered handler, in app-name order so exports are stable."""
    return [_HANDLERS[name] for name in sorted(_HANDLERS)]


def person_data_owner() -> PersonData:
    """The handler that knows people (locate, restrict, rectify): exactly one must exist."""
    owners = [handler for handler in _HANDLERS.values() if handler.locate is not None]
    if len(owners) != 1:
        raise RuntimeError(f"expected one person-data owner, found {len(owners)}")
    return owners[0]
