from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = _("Profiles")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from profiles.folding import register_sqlite_fold

        connection_created.connect(register_sqlite_fold, dispatch_uid="profiles.sqlite_fold")

        from consent.registry import person_data_register
        from profiles.person_data import PROFILES_PERSON_DATA

        person_data_register(PROFILES_PERSON_DATA)

        from profiles.services.duplicates.person_data import DUPLICATES_PERSON_DATA

        person_data_register(DUPLICATES_PERSON_DATA)
