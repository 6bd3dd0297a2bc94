"""Document numbers: `<PREFIX><yyyymmdd>-<nnnn>`, gap-free per company, prefix and day.

One upsert statement takes the next number and holds the counter row until the posting
transaction ends, so concurrent postings of one company queue for a moment instead of
colliding, and a rolled-back posting gives its number back.
"""

from __future__ import annotations

import datetime

from django.db import connection

from .models import DocumentCounter

_TABLE = DocumentCounter._meta.db_table

# The table name is ours, not input.
_UPSERT = f"""
INSERT INTO {_TABLE} (company_id, prefix, day, last) VALUES (%s, %s, %s, 1)
ON CONFLICT (company_id, prefix, day) DO UPDATE SET last = {_TABLE}.last + 1
RETURNING last
"""  # noqa: S608


def next_number(*, company_id: int, prefix: str, day: datetime.date) -> str:
    """Call inside the transaction that saves the document."""
    with connection.cursor() as cursor:
        cursor.execute(_UPSERT, [company_id, prefix, day])
        (last,) = cursor.fetchone()
    return f"{prefix}{day:%Y%m%d}-{last:04d}"
