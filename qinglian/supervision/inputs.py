"""What a rule read, and whether it changed since: the watermarks of incremental runs.

A rule declares the tables its `detect` reads (`Rule.reads`, model labels) and how its result
depends on the run's moment (`Rule.as_of`). A run takes one `Watermark` when it starts: the
highest id of every table read and of the audit trail. The rule's inputs are those ids, its
parameters, a digest of its code and, per `as_of`, the day or the moment; they are stored
with its result (`RuleState`). The next run skips the rule — its findings are seen again as
they were — when all of these are equal and no audit event since the stored watermark is about
one of its tables.

Why that is enough: every change to a row is audited in the transaction that makes it, under
the changed object's type (`AUDITED_WITH` names the tables changed under another object's
events: a contract line's executed quantity with the goods receipt), posted documents are
immutable and ledgers append-only, so what the audit trail does not show is a new row, which
raises its table's highest id. Sign-ins and passwords are audited under the user but change
nothing a rule reads (`INERT_ACTIONS`). An import writes batch events (`legacy.importbatch`)
that do not say which rows of which tables it touched: after one, every rule runs. When in
doubt a rule runs: undeclared reads, a failed last run, a watermark that could not be settled.

Settling the watermark (PostgreSQL): ids are handed out before commit, so a transaction still
open when the watermark is read may commit later an audit event with an id below it, which the
next run (looking after the watermark) would never see. Every audit writer locks its chain head
before it takes an id, so such a transaction has a transaction id, and holds the lock on it,
when the watermark is read; the watermark waits until those open in this database have ended
(`SETTLE_SECONDS`; after that it is marked unsettled and the next run runs everything). The
run decides what to skip, and detects, after that, so it sees their changes too. SQLite has one
writer at a time: ids are committed in order.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import inspect
import json
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Max
from django.utils import timezone

import qinglian
from qinglian.audit.models import AuditEvent

from .registry import Rule

SETTLE_SECONDS = 5.0
# Events that may touch any table (an import of history): after one, no rule is unchanged.
IMPORT_OBJECT_TYPE = "legacy.importbatch"
# Audited actions that change nothing a rule reads: sign-ins, passwords.
INERT_ACTIONS = frozenset(
    {
        "org.user.logged_in",
        "org.user.logged_out",
        "org.user.login_failed",
        "org.user.password_changed",
        "org.user.password_reset",
    }
)
# Read by every rule: a finding's evidence carries the names of the people it names.
EVIDENCE_READS = ("org.user",)
# Tables whose rows (in the columns rules read) change under another object's audit events:
# an approval's steps, tasks and actions with the request; a contract line's executed
# quantity when a goods receipt or issue posts. (A contract's invoiced and settled amounts
# move with invoices and payments; no rule reads them.)
AUDITED_WITH: dict[str, tuple[str, ...]] = {
    "approvals.approvalstep": ("approvals.approvalrequest",),
    "approvals.approvaltask": ("approvals.approvalrequest",),
    "approvals.approvalaction": ("approvals.approvalrequest",),
    "approvals.templateversion": ("approvals.approvaltemplate",),
    "trading.contractline": ("trading.contract", "trading.stockdocument"),
    "trading.stockdocumentline": ("trading.stockdocument",),
    "trading.stocktakeline": ("trading.stocktake",),
    "trading.partnercontact": ("trading.partner",),
    "trading.qualification": ("trading.partner",),
}


def rule_reads(rule: Rule) -> tuple[str, ...] | None:
    """The tables a rule's result depends on, or None when it does not say (never skipped)."""
    if rule.reads is None:
        return None
    return tuple(sorted({*rule.reads, *EVIDENCE_READS}))


def audit_types(label: str) -> tuple[str, ...]:
    """The audit object types of the events that record changes to `label`'s rows."""
    return (label, *AUDITED_WITH.get(label, ()))


# ---------------------------------------------------------------- code


def _source(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # no source here: a digest that never matches
        return repr(time.time_ns()).encode()


@functools.cache
def _shared_code_digest() -> str:
    """Every module of the application but the rule modules themselves (tests and migrations
    left out): the facts, selectors and helpers rules read through, and the run itself."""
    root = Path(qinglian.__file__).resolve().parent
    rules = root / "supervision" / "rules"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if "tests" in relative.parts or "migrations" in relative.parts:
            continue
        if path.parent == rules and not path.name.startswith("_"):
            continue
        digest.update(str(relative).encode())
        digest.update(_source(path))
    return digest.hexdigest()


@functools.cache
def _module_digest(module_name: str) -> str:
    module = sys.modules.get(module_name)
    filename = inspect.getsourcefile(module) if module is not None else None
    source = _source(Path(filename)) if filename else repr(time.time_ns()).encode()
    return hashlib.sha256(source).hexdigest()


def code_digest(rule: Rule) -> str:
    """Changes when the rule's module or any code it may run through changes."""
    own = _module_digest(rule.detect.__module__)
    return hashlib.sha256(f"{_shared_code_digest()}:{own}".encode()).hexdigest()[:32]


# ---------------------------------------------------------------- the watermark


@dataclass(frozen=True)
class Watermark:
    """The highest audit event id (None: not settled, nothing counts as unchanged since) and
    the highest id of each table, read in one statement."""

    audit_id: int | None
    tables: dict[str, int] = field(default_factory=dict)


def _max_id_sql(label: str) -> str:
    model = apps.get_model(label)
    quote = connection.ops.quote_name
    table, column = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"(SELECT MAX({column}) FROM {table})"  # noqa: S608 - names from the model registry


def watermark_take(labels: Iterable[str]) -> Watermark:
    """The watermark now, for the tables `labels` (unknown labels raise LookupError)."""
    labels = sorted(set(labels))
    columns = [_max_id_sql("audit.auditevent"), *(_max_id_sql(label) for label in labels)]
    postgres = connection.vendor == "postgresql"
    if postgres:
        # read after the statement's snapshot: the writers of this database still open
        columns.append(f"(SELECT array_agg(l.transactionid::text) {_OPEN_WRITERS_SQL})")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(columns)}")
        row = cursor.fetchone()
    assert row is not None
    audit_id: int | None = row[0] or 0
    tables = {label: value or 0 for label, value in zip(labels, row[1:], strict=False)}
    if postgres and row[-1] and not _settled(list(row[-1])):
        audit_id = None
    return Watermark(audit_id=audit_id, tables=tables)


# Every transaction that has written holds the lock on its own id until it ends.
_OPEN_WRITERS_SQL = (
    "FROM pg_locks l WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' "
    "AND l.granted AND l.pid <> pg_backend_pid() AND coalesce("
    "(SELECT a.datname FROM pg_stat_activity a WHERE a.pid = l.pid), current_database()"
    ") = current_database()"
)


def _settled(transaction_ids: list[str]) -> bool:
    """Wait until these transactions have committed or rolled back; False after
    SETTLE_SECONDS."""
    deadline = time.monotonic() + SETTLE_SECONDS
    pause = 0.01
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT count(*) {_OPEN_WRITERS_SQL} AND l.transactionid::text = ANY(%s)",
                [transaction_ids],
            )
            row = cursor.fetchone()
        if not row or not row[0]:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.2)


# ---------------------------------------------------------------- changes since


@dataclass(frozen=True)
class AuditChanges:
    """The audit events after `since`: the highest id per object type."""

    since: int
    last_ids: dict[str, int]

    def touches(self, labels: Iterable[str], after: int) -> bool:
        """Whether an event after id `after` (not below `since`) is about one of `labels`'
        rows, or is an import."""
        if after < self.since:
            return True  # not looked at: assume so
        types = {IMPORT_OBJECT_TYPE, *(kind for label in labels for kind in audit_types(label))}
        return any(self.last_ids.get(kind, 0) > after for kind in types)


def audit_changes(since: int) -> AuditChanges:
    rows = (
        AuditEvent.objects.filter(id__gt=since)
        .exclude(action__in=INERT_ACTIONS)
        .order_by()
        .values_list("object_type")
        .annotate(last=Max("id"))
    )
    return AuditChanges(since=since, last_ids={kind: last for kind, last in rows})


# ---------------------------------------------------------------- a rule's inputs


def as_of_key(rule: Rule, now: datetime.datetime) -> str:
    if rule.as_of == "none":
        return ""
    if rule.as_of == "day":
        return timezone.localdate(now).isoformat()
    return now.isoformat()


def _parameters_digest(parameters: Mapping[str, Any]) -> str:
    text = json.dumps(parameters, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rule_inputs(
    rule: Rule,
    *,
    parameter_version: int,
    parameters: Mapping[str, Any],
    now: datetime.datetime,
    watermark: Watermark,
) -> dict[str, Any]:
    """What the rule's result is a function of, as stored with it (JSON)."""
    reads = rule_reads(rule)
    if reads is not None and not set(reads) <= set(watermark.tables):
        reads = None  # a table the watermark does not know: not watched, always run
    return {
        "code": code_digest(rule),
        "parameter_version": parameter_version,
        "parameters": _parameters_digest(parameters),
        "as_of": as_of_key(rule, now),
        "audit_id": watermark.audit_id,
        "tables": None if reads is None else {label: watermark.tables[label] for label in reads},
    }


COMPARED = ("code", "parameter_version", "parameters", "as_of", "tables")


def may_be_unchanged(
    rule: Rule, stored: Mapping[str, Any], *, now: datetime.datetime, watermark: Watermark
) -> bool:
    """The checks that need no query (code, day or moment, the tables' highest ids): a run
    reads the audit trail only after the oldest watermark that passes them."""
    reads = rule_reads(rule)
    if reads is None or stored.get("audit_id") is None or not set(reads) <= set(watermark.tables):
        return False
    return (
        stored.get("code") == code_digest(rule)
        and stored.get("as_of") == as_of_key(rule, now)
        and stored.get("tables") == {label: watermark.tables[label] for label in reads}
    )


def is_unchanged(
    stored: Mapping[str, Any], current: Mapping[str, Any], changes: AuditChanges | None
) -> bool:
    """Whether a rule whose last successful run read `stored` would find the same now."""
    if not stored or current.get("tables") is None or changes is None:
        return False
    if stored.get("audit_id") is None or current.get("audit_id") is None:
        return False
    if any(stored.get(key) != current[key] for key in COMPARED):
        return False
    return not changes.touches(current["tables"], int(stored["audit_id"]))
