"""Admin of the profiles app, one module per concern."""

from profiles.admin import (  # noqa: F401  (registers the ModelAdmins)
    core,
    duplicates,
    merges,
    quality,
)
