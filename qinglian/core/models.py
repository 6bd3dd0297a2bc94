"""Abstract bases only: core holds no business tables."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class Imported(models.Model):
    """A record that may come from an old system (legacy intake): `source_id` is the old
    system's identifier, verbatim; `import_batch` the id of the import batch that loaded it.
    Both are empty for records made here. Imported records are history: read-only."""

    # Database defaults too: some services insert with plain SQL naming their own columns.
    source_id = models.CharField(
        _("source identifier"), max_length=64, blank=True, default="", db_default=""
    )
    import_batch = models.CharField(
        max_length=32, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        abstract = True

    @property
    def is_imported(self) -> bool:
        return bool(self.import_batch)
