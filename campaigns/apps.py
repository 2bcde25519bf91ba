from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns and journeys")

    def ready(self) -> None:
        # An email service's tracking webhooks (django-anymail) record delivery events.
        from anymail.signals import tracking

        from campaigns.esp import tracking_received

        tracking.connect(tracking_received, dispatch_uid="campaigns.esp.tracking_received")

        from profiles.hooks import events_appended_register

        events_appended_register(app="campaigns", listener=_journeys_soon)

        # An unsubscribe link names the email it came in: that message counts it.
        from campaigns.services.delivery_events import unsubscribe_link_followed
        from consent.hooks import unsubscribed_register

        unsubscribed_register(app="campaigns", listener=unsubscribe_link_followed)


def _journeys_soon(*, kind: str) -> None:
    """New events (tracked, or segment entries): enrol and wake people now, not at the tick."""
    from campaigns.tasks import journeys_tick_task
    from core.wake import task_wake

    task_wake(journeys_tick_task, key=f"journeys-tick:{kind}")
