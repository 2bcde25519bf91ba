"""Changing the data-quality rules: every change re-applies the rules to every profile."""

from __future__ import annotations

from functools import partial

from django.db import transaction
from django.db.models import Model

from profiles.models import JobFunctionRule, MaintenanceRun, QualityWeight, SurvivorshipRule
from profiles.services.quality.config import quality_config_forget
from profiles.services.quality.maintenance import maintenance_start

RULE_MODELS = (JobFunctionRule, QualityWeight, SurvivorshipRule)


def quality_rules_changed(*, reason: str, actor_id: int | None = None) -> MaintenanceRun:
    """Forget the cached rules and (re)start the run that re-applies them, after commit."""
    from profiles.tasks import quality_maintain_task

    quality_config_forget()
    run = maintenance_start(
        kind=MaintenanceRun.Kind.RENORMALISE, reason=reason, actor_id=actor_id, restart=True
    )
    transaction.on_commit(
        partial(quality_maintain_task.apply_async, kwargs={"kind": run.kind, "run_id": run.pk})
    )
    transaction.on_commit(quality_config_forget)
    return run


@transaction.atomic
def quality_rule_save(*, rule: Model, actor_id: int | None = None) -> MaintenanceRun:
    """Save a job-function rule, weight or survivorship rule, then re-apply the rules."""
    if not isinstance(rule, RULE_MODELS):
        raise TypeError(f"not a data-quality rule: {type(rule).__name__}")
    rule.full_clean()
    rule.save()
    return quality_rules_changed(
        reason=f"{rule._meta.verbose_name} “{rule}” saved", actor_id=actor_id
    )


@transaction.atomic
def quality_rule_delete(*, rule: Model, actor_id: int | None = None) -> MaintenanceRun:
    """Delete a rule, then re-apply the rules (a field without a rule uses the default)."""
    if not isinstance(rule, RULE_MODELS):
        raise TypeError(f"not a data-quality rule: {type(rule).__name__}")
    label = f"{rule._meta.verbose_name} “{rule}” deleted"
    rule.delete()
    return quality_rules_changed(reason=label, actor_id=actor_id)
