"""What higher apps hear from consent, without consent importing them.

The unsubscribe and preference links in a campaign's email name the message they were
sent in. When such a link withdraws a purpose (the unsubscribe button, or a box unticked
on the preference page), consent tells the registered listeners (campaigns records an
`Email Unsubscribed` event for that message when it was sent for that purpose, as it does
for an email service's report).
Each app registers its listener in its `AppConfig.ready()`:

    from consent.hooks import unsubscribed_register
    unsubscribed_register(app="campaigns", listener=...)

`listener(profile_ids=, purpose_id=, message_id=, source=)` runs inside the withdrawal's
transaction; `profile_ids` are the profile the link names and the one the decision was
recorded for (the survivor after a merge). The listener checks that the message belongs
to one of them and was sent for that purpose (the preference page tells of every purpose
withdrawn there), and is idempotent: a second click records nothing more.
"""

from __future__ import annotations

from collections.abc import Callable

UnsubscribedFn = Callable[..., None]
_UNSUBSCRIBED: dict[str, UnsubscribedFn] = {}


def unsubscribed_register(*, app: str, listener: UnsubscribedFn) -> None:
    """Register (or replace, on a re-run of ready()) one app's unsubscribe listener."""
    _UNSUBSCRIBED[app] = listener


def unsubscribed_notify(
    *, profile_ids: frozenset[int], purpose_id: int, message_id: int, source: str
) -> None:
    """Tell every registered app, in app-name order, that a link sent in this message
    withdrew this purpose."""
    for app in sorted(_UNSUBSCRIBED):
        _UNSUBSCRIBED[app](
            profile_ids=profile_ids, purpose_id=purpose_id, message_id=message_id, source=source
        )
