"""The canonical form of an event and its hash: pure functions, no ORM."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any


def jsonable(value: Any) -> Any:
    """Plain JSON values, so what is hashed is exactly what the database gives back."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(item) for item in value]
    if isinstance(value, (Decimal, date, datetime)):
        return str(value)
    if value is None or isinstance(value, (str, int, bool, float)):
        return value
    return str(value)


def timestamp_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    chain_key: str,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_name: str,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    changes: dict[str, Any],
    request_id: str,
    ip_address: str | None,
    prev_hash: str,
) -> str:
    payload = [
        chain_key,
        seq,
        timestamp_text(occurred_at),
        actor_id,
        actor_name,
        action,
        object_type,
        object_id,
        object_repr,
        changes,
        request_id,
        ip_address,
        prev_hash,
    ]
    canonical = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
