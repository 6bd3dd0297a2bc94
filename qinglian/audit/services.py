"""Writing the audit trail, verifying it, and anchoring its heads outside the database."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.request_context import current_request_context
from qinglian.core.rows import row_insert, row_update, rows_read, select_list

from .hashing import event_hash, jsonable, timestamp_text
from .models import GENESIS_HASH, AuditChain, AuditEvent

SYSTEM_CHAIN = "system"


def chain_key(company_id: int | None) -> str:
    return f"company:{company_id}" if company_id is not None else SYSTEM_CHAIN


def _locked_chain(company_id: int | None) -> AuditChain:
    key = chain_key(company_id)
    found = rows_read(_chain_lock_sql(connection.vendor), [key], [AuditChain])
    chain: AuditChain | None = found[0][0] if found else None
    if chain is None:
        # First event of this company: create the head (a racing creator wins, we re-read).
        AuditChain.objects.get_or_create(key=key, defaults={"company_id": company_id})
        chain = AuditChain.objects.select_for_update().get(key=key)
    return chain


@functools.cache
def _chain_lock_sql(vendor: str) -> str:
    """Lock and read a chain head: every audited change runs it, so it is written once instead
    of compiled per call. SQLite has no row locks (its writers queue at BEGIN IMMEDIATE)."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    table = quote(AuditChain._meta.db_table)
    columns = select_list(AuditChain, "c")
    return f"SELECT {columns} FROM {table} c WHERE c.{quote('key')} = %s{lock}"  # noqa: S608


def audit_event_append(
    *,
    actor: Any,
    action: str,
    company_id: int | None,
    target: Model | None,
    object_type: str,
    object_id: str,
    object_repr: str,
    changes: Mapping[str, Any],
) -> AuditEvent:
    """Append to the company's chain. Must run inside the caller's transaction: the chain head
    row lock serialises writers of one company and nobody else."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written inside the transaction of the change")
    context = current_request_context()
    chain = _locked_chain(company_id)
    actor_id = getattr(actor, "pk", None)
    actor_name = (getattr(actor, "name", "") or getattr(actor, "username", "")) if actor else ""
    event = AuditEvent(
        chain=chain,
        seq=chain.last_seq + 1,
        occurred_at=clock.now(),
        actor_id=actor_id,
        actor_name=actor_name[:100],
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        changes=jsonable(dict(changes)),
        request_id=context.request_id,
        ip_address=context.ip_address,
        prev_hash=chain.last_hash,
    )
    event.hash = audit_event_hash(event, chain.key)
    row_insert(event)
    chain.last_seq, chain.last_hash = event.seq, event.hash
    row_update(chain, ["last_seq", "last_hash"])
    return event


def audit_event_hash(event: AuditEvent, key: str) -> str:
    """The hash an event must carry, from its stored fields."""
    return event_hash(
        chain_key=key,
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_name=event.actor_name,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        object_repr=event.object_repr,
        changes=event.changes,
        request_id=event.request_id,
        ip_address=event.ip_address,
        prev_hash=event.prev_hash,
    )


# ---------------------------------------------------------------- verification


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    seq: int
    event_id: int | None
    reason: str


@dataclass
class VerificationReport:
    chains: int = 0
    events: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def is_intact(self) -> bool:
        return not self.breaks

    @property
    def first_break(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


def _verify_chain(chain: AuditChain) -> tuple[int, ChainBreak | None]:
    expected_seq = 1
    previous = GENESIS_HASH
    count = 0
    events: Iterator[AuditEvent] = (
        AuditEvent.objects.filter(chain_id=chain.pk).order_by("seq").iterator(chunk_size=5000)
    )
    for event in events:
        count += 1
        if event.seq != expected_seq:
            return count, ChainBreak(
                chain.key,
                expected_seq,
                None,
                _("event #%(seq)d is missing") % {"seq": expected_seq},
            )
        if event.prev_hash != previous:
            return count, ChainBreak(
                chain.key, event.seq, event.pk, _("does not link to the previous event")
            )
        if audit_event_hash(event, chain.key) != event.hash:
            return count, ChainBreak(
                chain.key, event.seq, event.pk, _("content does not match its hash (altered)")
            )
        previous = event.hash
        expected_seq += 1
    last = expected_seq - 1
    if chain.last_seq != last or chain.last_hash != previous:
        missing = last + 1 if chain.last_seq > last else chain.last_seq
        return count, ChainBreak(
            chain.key,
            missing,
            None,
            _("chain head says #%(head)d, events end at #%(last)d (deleted or rewritten)")
            % {"head": chain.last_seq, "last": last},
        )
    return count, None


def audit_chain_verify() -> VerificationReport:
    """Recompute every chain; record the first broken event of each."""
    report = VerificationReport()
    with _one_snapshot():
        for chain in AuditChain.objects.order_by("key"):
            count, problem = _verify_chain(chain)
            report.chains += 1
            report.events += count
            if problem:
                report.breaks.append(problem)
    return report


def audit_chain_verify_run(*, actor: Any) -> VerificationReport:
    """An inspector's verification run: the check, then a record of who checked, when and what
    they were told (oversight belongs in the trail too). The record goes to the system chain in
    its own short transaction after the check, so the check never holds a chain lock."""
    report = audit_chain_verify()
    with transaction.atomic():
        audit_event_append(
            actor=actor,
            action="audit.chain.verified",
            company_id=None,
            target=None,
            object_type="audit.verification",
            object_id="",
            object_repr="audit chains",
            changes={
                "intact": report.is_intact,
                "chains": report.chains,
                "events": report.events,
                "breaks": [f"{b.chain}#{b.seq}: {b.reason}" for b in report.breaks],
            },
        )
    return report


@contextmanager
def _one_snapshot() -> Iterator[None]:
    """Read the heads and the events from one snapshot: otherwise an event committed between
    reading a head and reading its events looks like a rewritten head. Neither way takes a
    lock, so writers go on. PostgreSQL: a read-only REPEATABLE READ transaction. SQLite: a
    plain (deferred) read transaction gives WAL's snapshot; `atomic()` would BEGIN IMMEDIATE
    here (settings) and stop every writer for the whole run."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:  # the caller's transaction decides what is seen
        yield
    elif connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    elif connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")  # only read: nothing to keep or undo
    else:
        yield


# ---------------------------------------------------------------- anchors kept outside the DB


def anchor_document() -> dict[str, Any]:
    heads = {
        key: {"seq": seq, "hash": head}
        for key, seq, head in AuditChain.objects.order_by("key").values_list(
            "key", "last_seq", "last_hash"
        )
    }
    digest = hashlib.sha256(
        json.dumps(heads, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    return {"generated_at": timestamp_text(clock.now()), "heads": heads, "digest": digest}


def audit_anchor_export(directory: Path | str | None = None) -> Path:
    """Write today's head hashes to `AUDIT_ANCHOR_DIR/anchor-YYYY-MM-DD.json` and return it."""
    target = Path(directory or settings.AUDIT_ANCHOR_DIR)
    target.mkdir(parents=True, exist_ok=True)
    document = anchor_document()
    path = target / f"anchor-{clock.today().isoformat()}.json"
    path.write_text(json.dumps(document, indent=2, sort_keys=True), encoding="utf-8")
    return path


def audit_anchor_check(document: Mapping[str, Any]) -> list[ChainBreak]:
    """Every head an anchor recorded must still be in the database with the same hash."""
    problems: list[ChainBreak] = []
    for key, head in sorted(document.get("heads", {}).items()):
        if head["seq"] == 0:
            continue
        stored = (
            AuditEvent.objects.filter(chain__key=key, seq=head["seq"])
            .values_list("pk", "hash")
            .first()
        )
        if stored is None:
            problems.append(
                ChainBreak(key, head["seq"], None, _("anchored event is missing from the database"))
            )
        elif stored[1] != head["hash"]:
            problems.append(
                ChainBreak(
                    key, head["seq"], stored[0], _("differs from the anchored hash (rewritten)")
                )
            )
    return problems
