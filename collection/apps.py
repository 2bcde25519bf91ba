from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    """The channels that bring data in: tracking API, forms, imports, the intake buffer."""

    name = "collection"
    verbose_name = _("Collection")

    def ready(self) -> None:
        from collection.panels import collection_facts, collection_panels
        from collection.person_data import COLLECTION_PERSON_DATA
        from collection.services.forms import form_cache_clear_for_source
        from consent.registry import person_data_register
        from profiles.hooks import (
            profile_facts_register,
            profile_panel_register,
            source_changed_register,
        )

        person_data_register(COLLECTION_PERSON_DATA)
        profile_panel_register(app="collection", panels=collection_panels)
        profile_facts_register(app="collection", facts=collection_facts)
        source_changed_register(app="collection", listener=form_cache_clear_for_source)
