"""Merge participants: what higher apps move when two profiles merge, and put back on undo.

`profiles` cannot import the apps above it (segments, campaigns), yet a merge must move
their rows too (segment memberships, journey enrolments). Each such app registers, in its
`AppConfig.ready()`, one `MergeParticipant`:

    from profiles.hooks import MergeParticipant, merge_participant_register
    merge_participant_register(MergeParticipant(app="segments", move=..., restore=...))

- `move(survivor_id=, absorbed_id=)` re-points the absorbed profile's rows at the survivor,
  inside the merge transaction, and returns a JSON-serialisable snapshot (e.g. the ids it
  moved) that is stored in the merge log;
- `restore(survivor_id=, absorbed_id=, snapshot=)` undoes exactly that, inside the undo
  transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol


class MoveFn(Protocol):
    def __call__(self, *, survivor_id: int, absorbed_id: int) -> Mapping[str, Any]: ...


class RestoreFn(Protocol):
    def __call__(
        self, *, survivor_id: int, absorbed_id: int, snapshot: Mapping[str, Any]
    ) -> None: ...


@dataclass(frozen=True)
class MergeParticipant:
    app: str
    move: MoveFn | Callable[..., Mapping[str, Any]]
    restore: RestoreFn | Callable[..., None]


_PARTICIPANTS: dict[str, MergeParticipant] = {}


def merge_participant_register(participant: MergeParticipant) -> None:
    """Register (or replace, on a re-run of ready()) one app's merge move and restore."""
    _PARTICIPANTS[participant.app] = participant


def merge_participants() -> list[MergeParticipant]:
    """Every registered participant, in app-name order so merges are deterministic."""
    return [_PARTICIPANTS[name] for name in sorted(_PARTICIPANTS)]


# --- Panels of the 360° page ------------------------------------------------------------
#
# Higher apps show what they know about a person on the profiles admin's 360° page
# (segments, personas, journeys) without profiles importing them: each registers a panel
# function returning a title and rows; the page renders them in app-name order.


@dataclass(frozen=True)
class Panel:
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


PanelFn = Callable[..., list[Panel]]
_PANELS: dict[str, PanelFn] = {}


def profile_panel_register(*, app: str, panels: PanelFn) -> None:
    """Register (or replace) one app's 360° panels: `panels(profile_id=) -> [Panel]`."""
    _PANELS[app] = panels


def profile_panels(*, profile_id: int) -> list[Panel]:
    """Every registered app's panels for one profile, in app-name order."""
    found: list[Panel] = []
    for app in sorted(_PANELS):
        found.extend(_PANELS[app](profile_id=profile_id))
    return found


# --- Source changes -----------------------------------------------------------------------
#
# Apps above profiles cache what they derive from a source (collection: its forms'
# definitions). `source_cache_clear` tells each registered listener, in app-name order.

SourceChangedFn = Callable[..., None]
_SOURCE_LISTENERS: dict[str, SourceChangedFn] = {}


def source_changed_register(*, app: str, listener: SourceChangedFn) -> None:
    """Register (or replace) one app's `listener(source=)`, called on any source change."""
    _SOURCE_LISTENERS[app] = listener


def source_changed_notify(*, source: Any) -> None:
    """Tell every registered app that this source changed."""
    for app in sorted(_SOURCE_LISTENERS):
        _SOURCE_LISTENERS[app](source=source)


# --- Facts of the 360° view ---------------------------------------------------------------
#
# `profile_360` (the admin page and `GET /api/profiles/<id>/`) also says what higher apps
# know about the person as plain JSON (collection: the imports the person came from).

FactsFn = Callable[..., Mapping[str, Any]]
_FACTS: dict[str, FactsFn] = {}


def profile_facts_register(*, app: str, facts: FactsFn) -> None:
    """Register (or replace) one app's `facts(profile_id=) -> {key: JSON value}`."""
    _FACTS[app] = facts


def profile_facts(*, profile_id: int) -> dict[str, Any]:
    """Every registered app's facts about one profile, merged in app-name order."""
    found: dict[str, Any] = {}
    for app in sorted(_FACTS):
        found.update(_FACTS[app](profile_id=profile_id))
    return found


# --- New events in the log -----------------------------------------------------------------
#
# Readers of the event log above profiles (segments' cursor, journeys' cursor) run on
# beat's ticks; when a worker has just appended events (the intake drain, a segment's
# membership events), `events_appended_notify` wakes them at once instead. A listener only
# asks a worker to run its reader soon (a Celery wake-up); beat stays the safety net.

EventsAppendedFn = Callable[..., None]
_EVENT_LISTENERS: dict[str, EventsAppendedFn] = {}


def events_appended_register(*, app: str, listener: EventsAppendedFn) -> None:
    """Register (or replace) one app's `listener(kind=)`; kind is "intake" or "segments"."""
    _EVENT_LISTENERS[app] = listener


def events_appended_notify(*, kind: str) -> None:
    """Tell every registered reader that events were appended (call after the commit)."""
    for app in sorted(_EVENT_LISTENERS):
        _EVENT_LISTENERS[app](kind=kind)
