"""Admin of the collection app, one module per channel."""

from collection.admin import (  # noqa: F401  (registers the ModelAdmins)
    forms,
    imports,
    intake,
)
