"""Models of the collection app: the channels that bring data in."""

from collection.models.forms import Form
from collection.models.imports import ImportJob, ImportMapping, ImportSlice
from collection.models.intake import IntakeBatch

__all__ = ["Form", "ImportJob", "ImportMapping", "ImportSlice", "IntakeBatch"]
