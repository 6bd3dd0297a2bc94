"""Trading selectors: the warning register. Reads, scoped to the user (and unscoped variants
for the command, the daily job and supervision).

A user reads the warnings of the companies in their data scope; "mine" narrows them to those
the user is responsible for — listed by name, or holding the warning's responsible role in its
company (finance for credit and overdue, the keeper for stocktake variances).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Case, Count, IntegerField, Prefetch, Q, QuerySet, Value, When
from django.utils.translation import gettext as _

from qinglian.core.errors import NotFound
from qinglian.org.scopes import data_scope

from ..models import Contract
from ..models.warnings import (
    KIND_OF_CODE,
    UNRESOLVED_STATES,
    TradingWarning,
    TradingWarningResponsible,
    WarningCode,
    WarningKind,
    WarningState,
    WarningThresholds,
)
from ..permissions import scoped


def responsible_q(user: Any) -> Q:
    """Warnings `user` is responsible for (no query: the roles come from the data scope)."""
    scope = data_scope(user)
    q = Q(responsible__user_id=getattr(user, "pk", None))
    for role in scope.role_codes:
        companies = scope.companies_with_role(role)
        if companies:
            q |= Q(responsible_role=role, company_id__in=sorted(companies))
    return q


def _chain_id(contract_id: int) -> int:
    row = Contract.objects.filter(pk=contract_id).values_list("original_id", flat=True).first()
    return row or contract_id


def _filtered(
    warnings: QuerySet[TradingWarning],
    *,
    user: Any,
    kind: str | None = None,
    code: str | None = None,
    state: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    responsible_to_me: bool = False,
) -> QuerySet[TradingWarning]:
    if kind:
        warnings = warnings.filter(kind=kind)
    if code:
        warnings = warnings.filter(code=code)
    if state == "unresolved":
        warnings = warnings.filter(state__in=UNRESOLVED_STATES)
    elif state:
        warnings = warnings.filter(state=state)
    if company_id:
        warnings = warnings.filter(company_id=company_id)
    if partner_id:
        warnings = warnings.filter(partner_id=partner_id)
    if contract_id:
        warnings = warnings.filter(contract_original_id=_chain_id(contract_id))
    if responsible_to_me:
        mine = TradingWarning.objects.filter(responsible_q(user)).values("pk")
        warnings = warnings.filter(pk__in=mine)
    return warnings


def warning_list(
    *,
    user: Any,
    kind: str | None = None,
    code: str | None = None,
    state: str | None = None,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    responsible_to_me: bool = False,
) -> QuerySet[TradingWarning]:
    """Warnings the user reads, unresolved first, then the most recently detected. `state`
    may also be "unresolved" (open or acknowledged); `contract_id` finds the warnings of any
    revision of the contract."""
    warnings = scoped(TradingWarning.objects.all(), user)
    warnings = _filtered(
        warnings,
        user=user,
        kind=kind,
        code=code,
        state=state,
        company_id=company_id,
        partner_id=partner_id,
        contract_id=contract_id,
        responsible_to_me=responsible_to_me,
    )
    return _ordered(warnings)


def _ordered(warnings: QuerySet[TradingWarning]) -> QuerySet[TradingWarning]:
    rank = Case(
        When(state=WarningState.OPEN, then=Value(0)),
        When(state=WarningState.ACKNOWLEDGED, then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return (
        warnings.select_related("company", "partner", "contract", "warehouse", "commodity")
        .annotate(state_rank=rank)
        .order_by("state_rank", "-last_seen_at", "-id")
    )


def warning_access(*, user: Any, id: int) -> TradingWarning:
    """One warning with its people; NotFound when missing or out of scope."""
    warning = (
        scoped(TradingWarning.objects.all(), user)
        .select_related(
            "company",
            "partner",
            "contract",
            "warehouse",
            "commodity",
            "acknowledged_by",
            "resolved_by",
        )
        .prefetch_related(
            Prefetch(
                "responsible",
                queryset=TradingWarningResponsible.objects.select_related("user").order_by(
                    "user__name", "user_id"
                ),
            )
        )
        .filter(pk=id)
        .first()
    )
    if warning is None:
        raise NotFound(_("Warning not found."))
    return warning


# ---------------------------------------------------------------- counts


@dataclass
class KindCount:
    kind: str
    label: str
    open: int = 0
    acknowledged: int = 0
    resolved: int = 0

    @property
    def unresolved(self) -> int:
        return self.open + self.acknowledged


@dataclass
class WarningCounts:
    kinds: list[KindCount] = field(default_factory=list)

    def kind(self, kind: str) -> KindCount:
        return next(item for item in self.kinds if item.kind == kind)

    @property
    def open(self) -> int:
        return sum(item.open for item in self.kinds)

    @property
    def acknowledged(self) -> int:
        return sum(item.acknowledged for item in self.kinds)

    @property
    def resolved(self) -> int:
        return sum(item.resolved for item in self.kinds)

    @property
    def unresolved(self) -> int:
        return self.open + self.acknowledged

    def summary(self, state: str = "unresolved") -> dict[str, int]:
        """{kind: n, …, "total": n} of one state ("unresolved": open and acknowledged)."""
        numbers = {
            item.kind: item.unresolved if state == "unresolved" else getattr(item, state)
            for item in self.kinds
        }
        return {**numbers, "total": sum(numbers.values())}


def _counts(warnings: QuerySet[TradingWarning]) -> WarningCounts:
    counts = WarningCounts(
        kinds=[KindCount(kind=value, label=str(label)) for value, label in WarningKind.choices]
    )
    rows = warnings.order_by().values("kind", "state").annotate(number=Count("id"))
    for row in rows:
        if row["kind"] in WarningKind.values and row["state"] in WarningState.values:
            item = counts.kind(row["kind"])
            setattr(item, row["state"], getattr(item, row["state"]) + row["number"])
    return counts


def warning_counts(
    *,
    user: Any,
    company_id: int | None = None,
    partner_id: int | None = None,
    contract_id: int | None = None,
    responsible_to_me: bool = False,
) -> WarningCounts:
    """Warnings the user reads, counted per kind and state (one query)."""
    warnings = _filtered(
        scoped(TradingWarning.objects.all(), user),
        user=user,
        company_id=company_id,
        partner_id=partner_id,
        contract_id=contract_id,
        responsible_to_me=responsible_to_me,
    )
    return _counts(warnings)


def warning_counts_unscoped(*, company_ids: Iterable[int] | None = None) -> WarningCounts:
    """Every company's warnings (or those of `company_ids`) counted per kind and state: the
    command, the monitoring and supervision's rules."""
    warnings = TradingWarning.objects.all()
    if company_ids is not None:
        warnings = warnings.filter(company_id__in=sorted(set(company_ids)))
    return _counts(warnings)


def warning_list_unscoped(
    *,
    company_ids: Iterable[int] | None = None,
    kind: str | None = None,
    code: str | None = None,
    state: str | None = None,
) -> QuerySet[TradingWarning]:
    """Warnings for supervision's rules and jobs (no user)."""
    warnings = TradingWarning.objects.all()
    if company_ids is not None:
        warnings = warnings.filter(company_id__in=sorted(set(company_ids)))
    if kind:
        warnings = warnings.filter(kind=kind)
    if code:
        warnings = warnings.filter(code=code)
    if state == "unresolved":
        warnings = warnings.filter(state__in=UNRESOLVED_STATES)
    elif state:
        warnings = warnings.filter(state=state)
    return _ordered(warnings)


def warning_thresholds_get(*, user: Any, company_id: int) -> WarningThresholds:
    """A company's thresholds (unsaved defaults when it has set none); NotFound out of scope."""
    if not data_scope(user).can_read(company_id):
        raise NotFound(_("Company not found."))
    row = WarningThresholds.objects.filter(company_id=company_id).first()
    return row or WarningThresholds(company_id=company_id)


# ---------------------------------------------------------------- wording


def _number(value: Any) -> str:
    if isinstance(value, Decimal):
        text = f"{value.normalize():f}"
        return text
    return str(value)


def warning_message(warning: TradingWarning) -> str:
    """One sentence saying what was found, in the reader's language, from the stored figures
    (the details the detection kept)."""
    d: dict[str, Any] = warning.details or {}
    measured, threshold = _number(warning.measured_value), _number(warning.threshold_value)
    date = warning.reference_date.isoformat() if warning.reference_date else ""
    code = warning.code
    if code == WarningCode.CREDIT_OVER_LIMIT:
        return _(
            "Credit exposure %(exposure)s is above %(percent)s %% of the credit limit "
            "%(limit)s (threshold %(threshold)s)."
        ) % {
            "exposure": measured,
            "percent": d.get("usage_percent", "100"),
            "limit": d.get("credit_limit", ""),
            "threshold": threshold,
        }
    if code == WarningCode.RECEIVABLE_OVERDUE:
        return _(
            "%(amount)s overdue by more than %(grace)s days; the oldest item fell due on "
            "%(date)s (%(days)s days ago)."
        ) % {
            "amount": measured,
            "grace": d.get("grace_days", 0),
            "date": date,
            "days": d.get("oldest_days", ""),
        }
    if code == WarningCode.CONTRACT_EXPIRING:
        return _("Contract %(contract)s expires on %(date)s, in %(days)s days.") % {
            "contract": d.get("contract", ""),
            "date": date,
            "days": measured,
        }
    if code == WarningCode.CONTRACT_OVER_EXECUTED:
        return _(
            "Contract %(contract)s line %(line)s (%(commodity)s): %(executed)s executed, at "
            "most %(allowance)s allowed with the tolerance."
        ) % {
            "contract": d.get("contract", ""),
            "line": d.get("line", ""),
            "commodity": d.get("commodity", ""),
            "executed": measured,
            "allowance": threshold,
        }
    if code == WarningCode.CONTRACT_UNDER_EXECUTED:
        return _(
            "Contract %(contract)s expired on %(date)s with line %(line)s (%(commodity)s) "
            "executed %(executed)s, less than the %(minimum)s expected."
        ) % {
            "contract": d.get("contract", ""),
            "date": date,
            "line": d.get("line", ""),
            "commodity": d.get("commodity", ""),
            "executed": measured,
            "minimum": threshold,
        }
    if code == WarningCode.CONTRACT_NOT_EFFECTIVE:
        return _(
            "%(count)s documents were booked against contract %(contract)s outside the period "
            "it was in force (from %(start)s to %(end)s)."
        ) % {
            "count": measured,
            "contract": d.get("contract", ""),
            "start": d.get("effective_on") or "—",
            "end": d.get("end_on") or "—",
        }
    if code == WarningCode.COUNTERPARTY_QUALIFICATION_EXPIRED:
        names = ", ".join(item.get("name", "") for item in d.get("qualifications", []))
        return _(
            "The counterparty of contract %(contract)s holds an expired qualification "
            "(%(names)s), expired on %(date)s."
        ) % {"contract": d.get("contract", ""), "names": names, "date": date}
    if code == WarningCode.DELIVERY_OVERDUE:
        return _(
            "Delivery under contract %(contract)s was due by %(date)s: %(delivered)s delivered "
            "of at least %(required)s."
        ) % {
            "contract": d.get("contract", ""),
            "date": date,
            "delivered": measured,
            "required": threshold,
        }
    if code == WarningCode.ISSUED_BEFORE_PREPAYMENT:
        return _(
            "Goods were issued under contract %(contract)s on %(date)s with %(received)s "
            "received of the %(required)s prepayment agreed."
        ) % {
            "contract": d.get("contract", ""),
            "date": date,
            "received": measured,
            "required": threshold,
        }
    if code == WarningCode.STOCK_VARIANCE:
        return _(
            "%(commodity)s: %(book)s on the books, %(counted)s counted — a variance of "
            "%(percent)s %%, beyond the tolerance of %(tolerance)s %%."
        ) % {
            "commodity": d.get("commodity", ""),
            "book": d.get("book", ""),
            "counted": d.get("counted", ""),
            "percent": measured,
            "tolerance": threshold,
        }
    return str(warning)


def kind_of(code: str) -> str:
    return KIND_OF_CODE.get(code, "")
