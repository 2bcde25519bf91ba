from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from consent.registry import person_data_register
        from reports.person_data import REPORTS_PERSON_DATA

        person_data_register(REPORTS_PERSON_DATA)
