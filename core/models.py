"""Operational state shared by every app (no domain models, no personal data)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class RateAllowance(models.Model):
    """A rate limit's state for one client: the next time a request is allowed at (GCRA).

    `key` is a keyed hash of the scope and the client's address, never the address itself.
    A row whose time has passed is the same as no row; `rate_sweep` deletes those.
    """

    key = models.UUIDField(primary_key=True, verbose_name=_("key"))
    allowed_at = models.FloatField(
        help_text=_("Unix time in seconds."), verbose_name=_("allowed at")
    )

    class Meta:
        verbose_name = _("rate allowance")
        verbose_name_plural = _("rate allowances")

    def __str__(self) -> str:
        return str(self.key)


class ApiToken(models.Model):
    """A staff user's token for the REST API, stored as a keyed hash (shown once, at creation).

    `prefix` is the token's first characters, in clear, to find the row; the rest is only
    ever compared through `digest`. A revoked or expired token authenticates nobody.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    name = models.CharField(_("name"), max_length=100, help_text=_("What uses this token."))
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False, verbose_name=_("digest"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Empty: never expires.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"


class JobLease(models.Model):
    """Work a long job still owes, and which runner holds it until when.

    A row exists from the moment the work is owed until it is done. A runner claims it
    (`holder`, `expires_at`) and renews it while it works; a runner killed mid-job stops
    renewing, and beat queues the job's task again once `expires_at` has passed. A
    request made while a runner holds the lease (`requested_at` after `claimed_at`) makes
    the runner queue the job again when it finishes, instead of forgetting it.
    """

    job = models.CharField(max_length=200, unique=True, verbose_name=_("job"))
    task = models.CharField(max_length=200, verbose_name=_("task"))
    kwargs = models.JSONField(default=dict, blank=True, verbose_name=_("arguments"))
    holder = models.CharField(max_length=32, blank=True, verbose_name=_("holder"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("lease expires at"))
    requested_at = models.DateTimeField(verbose_name=_("requested at"))
    claimed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("claimed at"))
    requeued = models.PositiveIntegerField(
        default=0,
        help_text=_("Times beat queued the job again after its lease expired."),
        verbose_name=_("queued again"),
    )

    class Meta:
        verbose_name = _("job lease")
        verbose_name_plural = _("job leases")
        ordering = ["requested_at"]

    def __str__(self) -> str:
        return self.job
