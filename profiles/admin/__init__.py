"""Admin of the profiles app, one module per concern."""

from profiles.admin import core, forms, imports, merges, quality  # noqa: F401  (registers the ModelAdmins)
