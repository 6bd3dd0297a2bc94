"""Trading services: the warning register — refreshing it from the detection, acknowledging and
resolving warnings, the companies' thresholds.

`warnings_refresh` detects every warning of a company (`warnings_detection`: set-wise — a fixed
number of queries per company whatever the number of contracts, documents or ledger entries),
compares the hits with
the stored warnings by fingerprint and, in one transaction per company (under the company's
thresholds row lock, so a posting's refresh and the daily job never write twins):

- a new fingerprint becomes an open warning;
- a known one takes the latest figures; if its condition had cleared and it was resolved, it
  opens again (recurrence);
- a stored warning whose condition no longer holds is marked cleared and, unless a person
  resolved it already, resolved automatically (`is_auto_resolved`, nobody's name).

One summarised audit event per refresh and company records what opened, reopened and
resolved; each acknowledgement and manual resolution is audited on its own.

Acknowledging and resolving is for the responsible people (listed on the warning, or holding
its responsible role in its company) and the company's general manager and leader in charge;
the oversight roles read and never write.

The posting services call `warnings_refresh_after_commit(contract_ids=..., partner_ids=...,
stocktake_ids=...)` inside their transaction: once it commits, one Huey task per transaction
(`tasks.trading_warnings_refresh_task`) runs `warnings_refresh_for` on what the postings
changed — only those contracts, partners and stocktakes, a fixed number of queries per company.
The person posting waits for the enqueue, never for the detection; a refresh that fails is
logged and retried by the worker, and the daily job (`tasks.trading_warnings_daily`) catches up
on anything missed.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.actors import SYSTEM_ACTOR, is_system
from qinglian.core.audit import audit_record
from qinglian.core.db import retry_on_conflict
from qinglian.core.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationFailed,
)
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope

from ..models import Contract, PartnerBalance
from ..models.stock import Stocktake
from ..models.warnings import (
    KIND_OF_CODE,
    UNRESOLVED_STATES,
    TradingWarning,
    TradingWarningResponsible,
    WarningCode,
    WarningKind,
    WarningState,
    WarningThresholds,
    codes_of_kind,
)
from .warnings_detection import (
    CONTRACT_CODES,
    DEFAULT_THRESHOLDS,
    DETECTORS,
    EVERYTHING,
    MILLI,
    PARTNER_CODES,
    THRESHOLD_FIELDS,
    Context,
    Hit,
    Subjects,
    Thresholds,
    chain_id,
    detect,
)

logger = logging.getLogger(__name__)

CHUNK = 500
# Who may acknowledge or resolve any warning of their company, besides the responsible people.
MANAGER_ROLES = frozenset({RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE})
# Who may change a company's thresholds.
THRESHOLD_ROLES = MANAGER_ROLES


# ---------------------------------------------------------------- thresholds


def thresholds_of(row: WarningThresholds | None) -> Thresholds:
    if row is None:
        return DEFAULT_THRESHOLDS
    return Thresholds(**{name: getattr(row, name) for name in THRESHOLD_FIELDS})


def thresholds_for(company_id: int) -> Thresholds:
    """A company's thresholds (the defaults when it has set none)."""
    return thresholds_of(WarningThresholds.objects.filter(company_id=company_id).first())


def _locked_thresholds(company_id: int) -> WarningThresholds:
    """The company's thresholds row, locked: it serialises the refreshes of one company (the
    daily job and a posting's refresh never write the same fingerprint twice). Created with
    the defaults the first time."""
    row = WarningThresholds.objects.select_for_update().filter(company_id=company_id).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            WarningThresholds.objects.create(company_id=company_id)
    except IntegrityError:  # created by a concurrent first refresh
        pass
    return WarningThresholds.objects.select_for_update().get(company_id=company_id)


def can_edit_thresholds(user: Any, company_id: int | None) -> bool:
    scope = data_scope(user)
    if company_id is None or scope.is_oversight:
        return False
    return bool(scope.roles_by_company.get(company_id, frozenset()) & THRESHOLD_ROLES)


def _threshold_value(name: str, value: Any, problems: dict[str, list[str]]) -> Any:
    if name in ("contract_expiring_days", "overdue_grace_days"):
        try:
            number = int(str(value).strip())
        except ValueError:
            problems[name] = [_("Enter a whole number of days.")]
            return None
        if not 0 <= number <= 3650:
            problems[name] = [_("Between 0 and 3650 days.")]
        return number
    if value is None or str(value).strip() == "":
        if name == "stock_variance_tolerance_percent":
            return None
        problems[name] = [_("This field is required.")]
        return None
    try:
        number_ = Decimal(str(value).strip())
    except ArithmeticError:
        problems[name] = [_("Enter a number.")]
        return None
    if not number_.is_finite() or number_ < 0 or number_.as_tuple().exponent < -2:  # type: ignore[operator]
        problems[name] = [_("A number of at least 0 with at most 2 decimal places.")]
    elif name == "credit_usage_percent" and not 0 < number_ <= 1000:
        problems[name] = [_("Above 0 and at most 1000 %.")]
    elif name != "overdue_min_amount" and number_ > 1000:
        problems[name] = [_("At most 1000 %.")]
    elif name == "overdue_min_amount" and number_ >= Decimal(10) ** 16:
        problems[name] = [_("Too large.")]
    return number_


@transaction.atomic
def warning_thresholds_update(
    *,
    actor: Any,
    company_id: int,
    values: Mapping[str, Any],
    expected_version: int | None = None,
) -> WarningThresholds:
    """A company's general manager or leader in charge sets its warning thresholds (audited;
    the next refresh measures against them). Keys left out keep their value."""
    if not data_scope(actor).can_read(company_id) and not is_system(actor):
        raise NotFound(_("Company not found."))
    if not is_system(actor) and not can_edit_thresholds(actor, company_id):
        raise PermissionDenied(
            _("Only the company's general manager or leader in charge sets warning thresholds.")
        )
    row = _locked_thresholds(company_id)
    if expected_version is not None and expected_version != row.version:
        raise Conflict(_("Someone else changed the thresholds meanwhile; reload and try again."))
    problems: dict[str, list[str]] = {}
    cleaned = {
        name: _threshold_value(name, values[name], problems)
        for name in THRESHOLD_FIELDS
        if name in values
    }
    if problems:
        raise ValidationFailed(_("Please correct the highlighted fields."), fields=problems)
    changes = {
        name: [_plain(getattr(row, name)), _plain(value)]
        for name, value in cleaned.items()
        if getattr(row, name) != value
    }
    if not changes:
        return row
    for name, value in cleaned.items():
        setattr(row, name, value)
    row.updated_by = None if is_system(actor) else actor
    row.version += 1
    row.save()
    audit_record(
        actor=actor,
        action="trading.warning_thresholds.updated",
        company_id=company_id,
        target=row,
        object_repr=str(_("Warning thresholds")),
        changes={**changes, "version": [row.version - 1, row.version]},
    )
    return row


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


# ---------------------------------------------------------------- refresh


@dataclass
class RefreshResult:
    companies: int = 0
    present: int = 0
    opened: int = 0
    reopened: int = 0
    resolved: int = 0
    seconds: float = 0.0
    opened_by_code: dict[str, int] = field(default_factory=dict)

    def add(self, other: RefreshResult) -> None:
        self.companies += other.companies
        self.present += other.present
        self.opened += other.opened
        self.reopened += other.reopened
        self.resolved += other.resolved
        for code, count in other.opened_by_code.items():
            self.opened_by_code[code] = self.opened_by_code.get(code, 0) + count

    def as_dict(self) -> dict[str, Any]:
        return {
            "companies": self.companies,
            "present": self.present,
            "opened": self.opened,
            "reopened": self.reopened,
            "resolved": self.resolved,
            "seconds": round(self.seconds, 3),
        }


# The fields a detection writes on a warning it finds again.
DETECTED_FIELDS = (
    "kind",
    "partner_id",
    "contract_id",
    "contract_original_id",
    "warehouse_id",
    "commodity_id",
    "document_type",
    "document_id",
    "document_label",
    "measured_value",
    "threshold_value",
    "unit",
    "reference_date",
    "details",
    "responsible_role",
)


def _detected(hit: Hit) -> dict[str, Any]:
    return {
        "kind": KIND_OF_CODE[hit.code],
        "partner_id": hit.partner_id,
        "contract_id": hit.contract_id,
        "contract_original_id": hit.contract_original_id,
        "warehouse_id": hit.warehouse_id,
        "commodity_id": hit.commodity_id,
        "document_type": hit.document_type,
        "document_id": hit.document_id,
        "document_label": hit.document_label[:100],
        "measured_value": hit.measured.quantize(MILLI),
        "threshold_value": hit.threshold.quantize(MILLI),
        "unit": hit.unit,
        "reference_date": hit.reference_date,
        "details": hit.details,
        "responsible_role": hit.responsible_role,
    }


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _reconcile(
    company_id: int,
    passes: Sequence[tuple[Sequence[str], Subjects, list[Hit]]],
    now: datetime.datetime,
) -> RefreshResult:
    """Write one company's detections: create, update, reopen, clear, auto-resolve."""
    result = RefreshResult(companies=1)
    hits: dict[str, Hit] = {}
    universe = Q(pk__in=[])
    for codes, subjects, found in passes:
        universe |= Q(code__in=list(codes)) & subjects.warning_q()
        for hit in found:
            hits.setdefault(hit.fingerprint, hit)
    result.present = len(hits)
    # Locked (in key order): an acknowledgement or resolution by hand meanwhile waits for this
    # refresh, or this refresh reads what it wrote — never overwrites it.
    stored = TradingWarning.objects.filter(universe, company_id=company_id)
    existing = {
        warning.fingerprint: warning
        for warning in stored.select_for_update().filter(is_present=True).order_by("pk")
    }
    # Cleared ones are read only if found again (their fingerprints), not all of history.
    missing = [fingerprint for fingerprint in hits if fingerprint not in existing]
    for chunk in _chunks(missing):
        for cleared in (
            TradingWarning.objects.select_for_update()
            .filter(company_id=company_id, fingerprint__in=list(chunk))
            .order_by("pk")
        ):
            existing[cleared.fingerprint] = cleared
    created: list[TradingWarning] = []
    changed: list[TradingWarning] = []
    seen_ids: list[int] = []
    for fingerprint, hit in hits.items():
        values = _detected(hit)
        warning = existing.get(fingerprint)
        if warning is None:
            created.append(
                TradingWarning(
                    company_id=company_id,
                    code=hit.code,
                    fingerprint=fingerprint,
                    state=WarningState.OPEN,
                    is_present=True,
                    first_seen_at=now,
                    last_seen_at=now,
                    **values,
                )
            )
            result.opened_by_code[hit.code] = result.opened_by_code.get(hit.code, 0) + 1
            continue
        is_changed = any(getattr(warning, name) != value for name, value in values.items())
        if not warning.is_present:
            warning.is_present = True
            warning.cleared_at = None
            is_changed = True
            if warning.state == WarningState.RESOLVED:
                warning.state = WarningState.OPEN
                warning.reopened_count += 1
                warning.acknowledged_by = None
                warning.acknowledged_at = None
                warning.acknowledgement_note = ""
                warning.resolved_by = None
                warning.resolved_at = None
                warning.resolution_note = ""
                warning.is_auto_resolved = False
                result.reopened += 1
        if is_changed:
            for name, value in values.items():
                setattr(warning, name, value)
            warning.last_seen_at = now
            warning.version += 1
            changed.append(warning)
        else:
            seen_ids.append(warning.pk)
    for fingerprint, warning in existing.items():
        if fingerprint in hits or not warning.is_present:
            continue
        warning.is_present = False
        warning.cleared_at = now
        warning.version += 1
        if warning.state in UNRESOLVED_STATES:
            warning.state = WarningState.RESOLVED
            warning.is_auto_resolved = True
            warning.resolved_by = None
            warning.resolved_at = now
            result.resolved += 1
        changed.append(warning)
    result.opened = len(created)
    TradingWarning.objects.bulk_create(created, batch_size=CHUNK)
    if created and not connection.features.can_return_rows_from_bulk_insert:
        ids = dict(
            TradingWarning.objects.filter(
                company_id=company_id, fingerprint__in=[w.fingerprint for w in created]
            ).values_list("fingerprint", "pk")
        )
        for warning in created:
            warning.pk = ids[warning.fingerprint]
    if changed:
        TradingWarning.objects.bulk_update(
            changed,
            [
                *DETECTED_FIELDS,
                "state",
                "is_present",
                "last_seen_at",
                "cleared_at",
                "acknowledged_by",
                "acknowledged_at",
                "acknowledgement_note",
                "resolved_by",
                "resolved_at",
                "resolution_note",
                "is_auto_resolved",
                "reopened_count",
                "version",
            ],
            batch_size=CHUNK,
        )
    if seen_ids:
        # Every warning found again is present now (those cleared were marked otherwise).
        stored.filter(is_present=True).exclude(last_seen_at=now).update(last_seen_at=now)
    _sync_responsible(
        stored,
        {
            warning.pk: hits[warning.fingerprint]
            for warning in [*created, *changed]
            if warning.fingerprint in hits
        },
        {
            existing[fingerprint].pk: hit
            for fingerprint, hit in hits.items()
            if fingerprint in existing
        },
    )
    return result


def _sync_responsible(
    stored: QuerySet[TradingWarning], fresh: Mapping[int, Hit], known: Mapping[int, Hit]
) -> None:
    """Make the responsible people of the detected warnings (`stored`: the refresh's
    warnings; `fresh`: created or changed, `known`: found again) those of their hits."""
    wanted = {pk: hit.responsible_user_ids for pk, hit in {**known, **fresh}.items()}
    if not wanted:
        return
    have: dict[int, dict[int, int]] = defaultdict(dict)
    if known:
        for pk, warning_id, user_id in TradingWarningResponsible.objects.filter(
            warning__in=stored.order_by().values("pk")
        ).values_list("pk", "warning_id", "user_id"):
            if warning_id in known:
                have[warning_id][user_id] = pk
    add = [
        TradingWarningResponsible(warning_id=warning_id, user_id=user_id)
        for warning_id, users in wanted.items()
        for user_id in sorted(users - set(have[warning_id]))
    ]
    remove = [
        pk
        for warning_id, users in have.items()
        for user_id, pk in users.items()
        if user_id not in wanted.get(warning_id, frozenset())
    ]
    TradingWarningResponsible.objects.bulk_create(add, batch_size=CHUNK)
    for chunk in _chunks(remove):
        TradingWarningResponsible.objects.filter(pk__in=list(chunk)).delete()


def _as_ids(codes_or_kinds: Iterable[str] | None) -> list[str]:
    """Warning codes from codes and kinds ("contract" = every contract code)."""
    if codes_or_kinds is None:
        return list(DETECTORS)
    codes: list[str] = []
    for item in codes_or_kinds:
        if item in WarningKind.values:
            codes.extend(codes_of_kind(item))
        elif item in WarningCode.values:
            codes.append(item)
        else:
            raise ValidationFailed(
                _("Unknown warning kind or code: %(value)s") % {"value": item},
                fields={"scope": [str(item)]},
            )
    return list(dict.fromkeys(codes))


@retry_on_conflict()
@transaction.atomic
def _refresh_company(
    *,
    actor: Any,
    company_id: int,
    on_date: datetime.date,
    passes: Sequence[tuple[Sequence[str], Subjects]],
) -> RefreshResult:
    started = time.monotonic()
    thresholds = thresholds_of(_locked_thresholds(company_id))
    now = clock.now()
    detected = []
    for codes, subjects in passes:
        ctx = Context(
            company_id=company_id, on_date=on_date, thresholds=thresholds, subjects=subjects
        )
        detected.append((codes, subjects, detect(ctx, codes)))
    result = _reconcile(company_id, detected, now)
    result.seconds = time.monotonic() - started
    if result.opened or result.reopened or result.resolved:
        audit_record(
            actor=actor,
            action="trading.warnings.refreshed",
            company_id=company_id,
            object_type="trading.warnings",
            object_id=str(company_id),
            object_repr=str(_("Warnings")),
            changes={
                "on_date": [None, on_date.isoformat()],
                "codes": [None, sorted({code for codes, _s in passes for code in codes})],
                "opened": [None, result.opened],
                "opened_by_code": [None, dict(sorted(result.opened_by_code.items()))],
                "reopened": [None, result.reopened],
                "resolved": [None, result.resolved],
                "present": [None, result.present],
            },
        )
    return result


def warnings_refresh(
    *,
    company: Company | int | None = None,
    on_date: datetime.date | None = None,
    scope: Iterable[str] | None = None,
    actor: Any = SYSTEM_ACTOR,
) -> RefreshResult:
    """Detect every warning (or those of `scope`: kinds or codes) of one company or of all of
    them as of `on_date` (today), one transaction per company."""
    on_date = on_date or clock.today()
    codes = _as_ids(scope)
    if company is None:
        company_ids = list(Company.objects.order_by("pk").values_list("pk", flat=True))
    else:
        company_ids = [company if isinstance(company, int) else company.pk]
    started = time.monotonic()
    total = RefreshResult()
    for company_id in company_ids:
        total.add(
            _refresh_company(
                actor=actor, company_id=company_id, on_date=on_date, passes=[(codes, EVERYTHING)]
            )
        )
    total.seconds = time.monotonic() - started
    logger.info("trading warnings refreshed: %s", total.as_dict())
    return total


def _company_rows(model: Any, field_name: str, ids: Sequence[int]) -> list[tuple[int, Any]]:
    """(company id, `field_name`) of the rows of `model` whose `field_name` is in `ids`,
    read in chunks."""
    rows: list[tuple[int, Any]] = []
    for chunk in _chunks(ids):
        rows.extend(
            model.objects.filter(**{f"{field_name}__in": list(chunk)})
            .order_by()
            .values_list("company_id", field_name)
            .distinct()
        )
    return rows


def _narrowed(ids: set[int]) -> frozenset[int] | None:
    """The subjects of a pass, or None (the whole company: detection is set-wise, so a long
    list of ids costs more than reading everything)."""
    return frozenset(ids) if len(ids) <= CHUNK else None


def warnings_refresh_for(
    *,
    contract_ids: Iterable[int] = (),
    partner_ids: Iterable[int] = (),
    stocktake_ids: Iterable[int] = (),
    company_id: int | None = None,
    on_date: datetime.date | None = None,
    actor: Any = SYSTEM_ACTOR,
) -> RefreshResult:
    """The cheap refresh after postings, in one transaction per company concerned (in company
    order):

    - contracts (goods or money moved on them, or their state changed): the contract and
      shipment warnings of their chains, and their counterparties as below;
    - partners (money moved with them, their credit terms or qualifications changed): their
      credit, overdue and qualification warnings in every company that deals with them
      (master data and credit are group-wide) — or only in `company_id`;
    - stocktakes and warehouse statements (saved, submitted, decided, cancelled): their
      stock-variance warnings."""
    on_date = on_date or clock.today()
    chains: dict[int, set[int]] = defaultdict(set)
    partners = {int(pk) for pk in partner_ids}
    for chunk in _chunks(sorted({int(pk) for pk in contract_ids})):
        for row in Contract.objects.filter(pk__in=list(chunk)).values(
            "id", "original_id", "company_id", "partner_id"
        ):
            chains[row["company_id"]].add(chain_id(row))
            partners.add(row["partner_id"])
    dealing: dict[int, set[int]] = defaultdict(set)
    for model in (Contract, PartnerBalance, TradingWarning):
        for company, partner in _company_rows(model, "partner_id", sorted(partners)):
            dealing[company].add(partner)
    counts: dict[int, set[int]] = defaultdict(set)
    for company, stocktake in _company_rows(
        Stocktake, "id", sorted({int(pk) for pk in stocktake_ids})
    ):
        counts[company].add(stocktake)
    companies = sorted({*chains, *dealing, *counts})
    if company_id is not None:
        companies = [company for company in companies if company == company_id]
    total = RefreshResult()
    for company in companies:
        passes: list[tuple[Sequence[str], Subjects]] = []
        if chains[company]:
            passes.append(
                (CONTRACT_CODES, Subjects(contract_original_ids=_narrowed(chains[company])))
            )
        if dealing[company]:
            passes.append(
                (
                    (*PARTNER_CODES, WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED),
                    Subjects(partner_ids=_narrowed(dealing[company])),
                )
            )
        if counts[company]:
            passes.append(
                ((WarningCode.STOCK_VARIANCE,), Subjects(stocktake_ids=_narrowed(counts[company])))
            )
        total.add(_refresh_company(actor=actor, company_id=company, on_date=on_date, passes=passes))
    return total


def warnings_refresh_for_contract(
    contract_id: int, *, on_date: datetime.date | None = None, actor: Any = SYSTEM_ACTOR
) -> RefreshResult:
    """After goods or money moved on a contract (or it changed state): its contract and
    shipment warnings, then the credit, overdue and qualification warnings of its
    counterparty in every company dealing with it (credit is group-wide)."""
    return warnings_refresh_for(contract_ids=[contract_id], on_date=on_date, actor=actor)


def warnings_refresh_for_partner(
    partner_id: int,
    *,
    company_id: int | None = None,
    on_date: datetime.date | None = None,
    actor: Any = SYSTEM_ACTOR,
) -> RefreshResult:
    """After money moved with a partner (invoices, receipts, opening balances) or its credit
    terms or qualifications changed: its credit, overdue and qualification warnings in one
    company, or — without `company_id` (master data is shared) — in every company that deals
    with it."""
    return warnings_refresh_for(
        partner_ids=[partner_id], company_id=company_id, on_date=on_date, actor=actor
    )


def warnings_refresh_for_stocktake(
    stocktake_id: int, *, on_date: datetime.date | None = None, actor: Any = SYSTEM_ACTOR
) -> RefreshResult:
    """After a stocktake or warehouse statement was saved, submitted, decided or cancelled."""
    return warnings_refresh_for(stocktake_ids=[stocktake_id], on_date=on_date, actor=actor)


# ---------------------------------------------------------------- after a posting commits


@dataclass(eq=False)
class _PendingRefresh:
    """What one transaction's postings changed, refreshed once it commits: one Huey task
    (`tasks.trading_warnings_refresh_task`) with the union of the ids."""

    contract_ids: set[int] = field(default_factory=set)
    partner_ids: set[int] = field(default_factory=set)
    stocktake_ids: set[int] = field(default_factory=set)
    is_queued: bool = False

    def enqueue(self) -> None:
        """Queue the refresh, once. Never raises: a failure to queue (the queue's store is
        down) must not fail the postings that committed — the daily job catches up."""
        if self.is_queued:
            return
        self.is_queued = True
        ids = sorted(self.contract_ids), sorted(self.partner_ids), sorted(self.stocktake_ids)
        try:
            from ..tasks import trading_warnings_refresh_task  # the tasks import this module

            trading_warnings_refresh_task(*ids)
        except Exception:
            logger.exception(
                "trading warnings: the refresh after a posting could not be queued (contracts "
                "%s, partners %s, stocktakes %s); the daily job catches up",
                *ids,
            )


@dataclass(eq=False)
class _OnCommit:
    """One `transaction.on_commit` registration of a pending refresh, made in the savepoint
    `savepoints` (Django drops it if that savepoint rolls back). The first hook call of a
    transaction registers one; a call in another savepoint registers another of the same
    refresh, so the refresh survives as long as any savepoint that added to it does; whichever
    runs first at the commit queues it, the others find it queued."""

    refresh: _PendingRefresh
    savepoints: tuple[str, ...]

    def run(self) -> None:
        self.refresh.enqueue()


def _registered(connection: Any) -> _OnCommit | None:
    """The latest registration of the transaction's pending refresh, if any (the callbacks
    waiting for the commit are the transaction's: Django empties the list at the commit and
    the rollback, and drops a rolled-back savepoint's)."""
    for _savepoints, callback, _robust in reversed(connection.run_on_commit):
        registration = getattr(callback, "__self__", None)
        if isinstance(registration, _OnCommit) and not registration.refresh.is_queued:
            return registration
    return None


def warnings_refresh_after_commit(
    *,
    contract_ids: Iterable[int | None] = (),
    partner_ids: Iterable[int | None] = (),
    stocktake_ids: Iterable[int | None] = (),
    using: str | None = None,
) -> None:
    """For the posting services, inside their transaction: once it commits, refresh the
    warnings of these contracts (with their counterparties), partners and stocktakes in the
    background (`warnings_refresh_for` in a Huey task), so the person posting never waits for
    the detection. All the calls of one transaction make one task with the union of their
    ids; a transaction that rolls back queues nothing. (Ids added in a savepoint that rolls
    back while the transaction goes on may still be refreshed: harmless, a refresh reads only
    what committed.) Outside a transaction the task is queued at once."""
    contracts = {int(pk) for pk in contract_ids if pk}
    partners = {int(pk) for pk in partner_ids if pk}
    stocktakes = {int(pk) for pk in stocktake_ids if pk}
    if not (contracts or partners or stocktakes):
        return
    connection = transaction.get_connection(using)
    savepoints = tuple(connection.savepoint_ids)
    latest = _registered(connection) if connection.in_atomic_block else None
    refresh = latest.refresh if latest is not None else _PendingRefresh()
    refresh.contract_ids |= contracts
    refresh.partner_ids |= partners
    refresh.stocktake_ids |= stocktakes
    if latest is None or latest.savepoints != savepoints:
        transaction.on_commit(_OnCommit(refresh, savepoints).run, using=using, robust=True)


# ---------------------------------------------------------------- acknowledge and resolve


def responsible_user_ids(warning: TradingWarning) -> set[int]:
    return set(
        TradingWarningResponsible.objects.filter(warning=warning).values_list("user_id", flat=True)
    )


def can_handle(
    user: Any, warning: TradingWarning, responsible: Iterable[int] | None = None
) -> bool:
    """May `user` acknowledge or resolve `warning`: a responsible person (listed, or holding
    the warning's responsible role in its company) or a manager of the company; never the
    oversight roles."""
    scope = data_scope(user)
    if scope.is_oversight or not scope.can_read(warning.company_id):
        return False
    roles = scope.roles_by_company.get(warning.company_id, frozenset())
    if roles & MANAGER_ROLES:
        return True
    if warning.responsible_role and warning.responsible_role in roles:
        return True
    ids = set(responsible) if responsible is not None else responsible_user_ids(warning)
    return getattr(user, "pk", None) in ids


def _locked_warning(actor: Any, warning_id: int) -> TradingWarning:
    warning = TradingWarning.objects.select_for_update().filter(pk=warning_id).first()
    if warning is None or not data_scope(actor).can_read(warning.company_id):
        raise NotFound(_("Warning not found."))
    if not can_handle(actor, warning):
        raise PermissionDenied(
            _("Only the people responsible and the company's managers handle this warning.")
        )
    return warning


def _check_version(warning: TradingWarning, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != warning.version:
        raise Conflict(_("The warning changed meanwhile; reload and try again."))


@transaction.atomic
def warning_acknowledge(
    *, actor: Any, warning_id: int, note: str = "", expected_version: int | None = None
) -> TradingWarning:
    """The responsible person has seen the warning and is dealing with it."""
    warning = _locked_warning(actor, warning_id)
    _check_version(warning, expected_version)
    if warning.state != WarningState.OPEN:
        raise InvalidTransition(_("Only an open warning can be acknowledged."))
    note = (note or "").strip()[:2000]
    warning.state = WarningState.ACKNOWLEDGED
    warning.acknowledged_by = actor
    warning.acknowledged_at = clock.now()
    warning.acknowledgement_note = note
    warning.version += 1
    warning.save(
        update_fields=[
            "state",
            "acknowledged_by",
            "acknowledged_at",
            "acknowledgement_note",
            "version",
        ]
    )
    audit_record(
        actor=actor,
        action="trading.warning.acknowledged",
        company_id=warning.company_id,
        target=warning,
        changes={"state": [WarningState.OPEN.value, warning.state], "note": [None, note]},
    )
    return warning


@transaction.atomic
def warning_resolve(
    *, actor: Any, warning_id: int, reason: str, expected_version: int | None = None
) -> TradingWarning:
    """Resolve a warning by hand, with the reason (the condition may still hold: the warning
    stays resolved until it clears and comes back)."""
    reason = (reason or "").strip()[:2000]
    warning = _locked_warning(actor, warning_id)
    _check_version(warning, expected_version)
    if warning.state not in UNRESOLVED_STATES:
        raise InvalidTransition(_("This warning is resolved already."))
    if not reason:
        raise ValidationFailed(
            _("Say how the warning was resolved."),
            fields={"reason": [_("Say how the warning was resolved.")]},
        )
    before = warning.state
    warning.state = WarningState.RESOLVED
    warning.resolved_by = actor
    warning.resolved_at = clock.now()
    warning.resolution_note = reason
    warning.is_auto_resolved = False
    warning.version += 1
    warning.save(
        update_fields=[
            "state",
            "resolved_by",
            "resolved_at",
            "resolution_note",
            "is_auto_resolved",
            "version",
        ]
    )
    audit_record(
        actor=actor,
        action="trading.warning.resolved",
        company_id=warning.company_id,
        target=warning,
        changes={"state": [before, warning.state], "reason": [None, reason]},
    )
    return warning
