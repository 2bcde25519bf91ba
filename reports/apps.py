from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from consent.registry import person_data_register
        from reports.person_data import REPORTS_PERSON_DATA

        person_data_register(REPORTS_PERSON_DATA)
