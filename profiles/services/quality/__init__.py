"""Data quality: rules stewards edit, issues on profiles, scores, survivorship, maintenance.

- `config`: the editable rules, cached briefly per process;
- `score`: the quality score as one SQL expression (and its Python reference);
- `survivorship`: which source's value of a field wins;
- `maintenance`: the batched runs beat starts (re-apply rules, stale flags, scores);
- `rules`: saving rules from the admin, which starts a maintenance run.

Ingestion imports `config`, `score` and `survivorship`; import `maintenance` and `rules`
from their modules (they use ingestion's store).
"""
