"""The one way in: validate -> normalise -> resolve identity -> upsert with provenance -> events.

Every channel (the /v1 API, forms, imports, CRM sync, admin) calls `ingest_messages` with a
batch. The batch is handled as a set: a handful of queries whatever its size, valid
messages kept, invalid ones reported, and one message never half-written.

- `pipeline`: the steps of one batch, in one transaction.
- `resolve`: identity resolution in memory.
- `store`: the reads and writes through the ORM (the reference, and SQLite's path);
  `postgres`: the same statements hand-written for PostgreSQL's hot path.
"""

from profiles.services.ingest.pipeline import WRITTEN_MODELS, ingest_messages
from profiles.services.ingest.results import BatchResult, MessageResult
from profiles.services.ingest.suppression import SUPPRESSED

__all__ = ["SUPPRESSED", "WRITTEN_MODELS", "BatchResult", "MessageResult", "ingest_messages"]
