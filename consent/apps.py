from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = _("Consent and GDPR")

    def ready(self) -> None:
        from consent.person_data import consent_erase, consent_export
        from consent.registry import PersonData, person_data_register

        person_data_register(
            PersonData(
                app="consent",
                export=consent_export,
                erase=consent_erase,
                label=_("Consent"),
                labels={"consents": _("consent decisions")},
            )
        )
