from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent and GDPR"

    def ready(self) -> None:
        from consent.person_data import consent_erase, consent_export
        from consent.registry import PersonData, person_data_register

        person_data_register(PersonData(app="consent", export=consent_export, erase=consent_erase))
