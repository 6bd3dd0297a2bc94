"""One row per legacy import: the batch id every imported record carries in `import_batch`,
the folder's fingerprint (one load per fingerprint: loading the same folder again is a no-op),
and the load's report."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        LOADED = "loaded", _("Loaded")

    id = models.CharField(primary_key=True, max_length=32, editable=False)
    fingerprint = models.CharField(_("fingerprint"), max_length=64, unique=True)
    folder = models.CharField(_("folder"), max_length=255)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.LOADED
    )
    # Rows read per table of the format, and records written per target table.
    rows = models.JSONField(_("rows per table"), default=dict)
    written = models.JSONField(_("records written"), default=dict)
    row_total = models.PositiveIntegerField(_("rows"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)
    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name = _("legacy import batch")

    def __str__(self) -> str:
        return self.id
