"""CSV and Excel imports: `from collection.services.imports import import_start, ...`."""

from collection.services.imports.files import (
    import_files_delete,
    import_files_expire,
    import_job_ids_of,
)
from collection.services.imports.jobs import (
    ImportPreview,
    PreviewRow,
    import_job_configure,
    import_job_create,
    import_job_fail,
    import_leases_expired_requeue,
    import_preview,
    import_requeue,
    import_slices,
    import_start,
)
from collection.services.imports.mapping import (
    TARGET_LABELS,
    columns_errors,
    columns_propose,
    consent_codes,
    consent_decision,
    import_mapping_save,
    target_suggest,
    trait_key_for,
)
from collection.services.imports.reading import DELIMITERS, ENCODINGS, ImportJobFailed, max_bytes
from collection.services.imports.run import ImportProgress, import_run_batch, import_run_slice

__all__ = [
    "DELIMITERS",
    "ENCODINGS",
    "TARGET_LABELS",
    "ImportJobFailed",
    "ImportPreview",
    "ImportProgress",
    "PreviewRow",
    "columns_errors",
    "columns_propose",
    "consent_codes",
    "consent_decision",
    "import_files_delete",
    "import_files_expire",
    "import_job_configure",
    "import_job_create",
    "import_job_fail",
    "import_job_ids_of",
    "import_leases_expired_requeue",
    "import_mapping_save",
    "import_preview",
    "import_requeue",
    "import_run_batch",
    "import_run_slice",
    "import_slices",
    "import_start",
    "max_bytes",
    "target_suggest",
    "trait_key_for",
]
