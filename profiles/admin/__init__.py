"""Admin of the profiles app, one module per concern."""

from profiles.admin import core, duplicates, forms, imports  # noqa: F401  (registers the ModelAdmins)
