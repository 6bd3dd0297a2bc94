"""Gap-free document numbers per company, prefix and day (RK20261129-0001)."""

from __future__ import annotations

from django.db import models


class DocumentCounter(models.Model):
    company = models.ForeignKey("org.Company", on_delete=models.PROTECT, related_name="+")
    prefix = models.CharField(max_length=8)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["company", "prefix", "day"], name="trading_document_counter_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}{self.day:%Y%m%d}-{self.last:04d}"
