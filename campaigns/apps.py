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
