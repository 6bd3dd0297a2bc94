"""Who may do what in trading. Every decision is made here, server-side, from the user's role
assignments (`qinglian.org.scopes.data_scope`); views, APIs and services all ask these
predicates. Inspectors and auditors read their scope and change nothing.

Master data (partners, commodities) is owned by a company — normally the group — and shared
with the companies below it: a purchaser of a subsidiary reads the group's suppliers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from django.db.models import Model, QuerySet

from qinglian.org.enums import RoleCode
from qinglian.org.models import Company
from qinglian.org.scopes import data_scope

M = TypeVar("M", bound=Model)


class TradingAction(StrEnum):
    PARTNER_EDIT = "partner_edit"  # register and edit partners, contacts, qualifications
    SUPPLIER_ADMISSION = "supplier_admission"  # apply for admission
    SUPPLIER_SANCTION = "supplier_sanction"  # suspend, blacklist, reinstate
    CREDIT_CHANGE = "credit_change"  # propose a customer's credit terms
    COMMODITY_EDIT = "commodity_edit"
    WAREHOUSE_EDIT = "warehouse_edit"
    PURCHASE_CONTRACT = "purchase_contract"
    SALES_CONTRACT = "sales_contract"
    GOODS_RECEIPT = "goods_receipt"
    GOODS_ISSUE = "goods_issue"
    STOCKTAKE = "stocktake"
    INVOICE = "invoice"
    PAYMENT = "payment"
    OPENING_BALANCES = "opening_balances"  # imports of opening stock and balances


ROLES_FOR: dict[TradingAction, frozenset[str]] = {
    TradingAction.PARTNER_EDIT: frozenset(
        {RoleCode.PURCHASER, RoleCode.SALESPERSON, RoleCode.FINANCE}
    ),
    TradingAction.SUPPLIER_ADMISSION: frozenset({RoleCode.PURCHASER}),
    TradingAction.SUPPLIER_SANCTION: frozenset(
        {RoleCode.GENERAL_MANAGER, RoleCode.LEADER_IN_CHARGE}
    ),
    TradingAction.CREDIT_CHANGE: frozenset({RoleCode.SALESPERSON, RoleCode.FINANCE}),
    TradingAction.COMMODITY_EDIT: frozenset(
        {RoleCode.PURCHASER, RoleCode.SALESPERSON, RoleCode.WAREHOUSE_KEEPER}
    ),
    TradingAction.WAREHOUSE_EDIT: frozenset({RoleCode.WAREHOUSE_KEEPER}),
    TradingAction.PURCHASE_CONTRACT: frozenset({RoleCode.PURCHASER}),
    TradingAction.SALES_CONTRACT: frozenset({RoleCode.SALESPERSON}),
    TradingAction.GOODS_RECEIPT: frozenset({RoleCode.WAREHOUSE_KEEPER}),
    TradingAction.GOODS_ISSUE: frozenset({RoleCode.WAREHOUSE_KEEPER}),
    TradingAction.STOCKTAKE: frozenset({RoleCode.WAREHOUSE_KEEPER}),
    TradingAction.INVOICE: frozenset({RoleCode.FINANCE}),
    TradingAction.PAYMENT: frozenset({RoleCode.FINANCE}),
    TradingAction.OPENING_BALANCES: frozenset({RoleCode.FINANCE}),
}


def can(user: Any, action: TradingAction, company_id: int | None) -> bool:
    """May `user` do `action` for documents of `company_id`? Oversight roles never write."""
    scope = data_scope(user)
    if company_id is None or scope.is_oversight:
        return False
    held = scope.roles_by_company.get(company_id, frozenset())
    return bool(held & ROLES_FOR[action])


def companies_for(user: Any, action: TradingAction) -> list[int]:
    """The companies where `user` may do `action` (for pickers on create forms)."""
    scope = data_scope(user)
    if scope.is_oversight:
        return []
    roles = ROLES_FOR[action]
    return sorted(cid for cid, held in scope.roles_by_company.items() if held & roles)


def can_read(user: Any, company_id: int | None) -> bool:
    """Documents of a company: readable by whoever's scope covers it (oversight included)."""
    return data_scope(user).can_read(company_id)


def scoped(queryset: QuerySet[M], user: Any, field: str = "company_id") -> QuerySet[M]:
    """Documents readable by `user`."""
    return data_scope(user).apply(queryset, field)


def master_data_company_ids(user: Any) -> frozenset[int]:
    """Companies whose master data `user` reads: those in scope and every ancestor of them."""
    scope = data_scope(user)
    if not scope.read_company_ids:
        return frozenset()
    paths = Company.objects.filter(pk__in=scope.read_company_ids).values_list("path", flat=True)
    ancestors = {int(part) for path in paths for part in path.strip("/").split("/") if part}
    return frozenset(ancestors | scope.read_company_ids)


def can_read_master_data(user: Any, owner_company_id: int | None) -> bool:
    return owner_company_id is not None and owner_company_id in master_data_company_ids(user)


def can_edit_master_data(user: Any, action: TradingAction, owner_company_id: int | None) -> bool:
    """Shared master data is edited by the action's roles in any company it is shared with."""
    if owner_company_id is None or data_scope(user).is_oversight:
        return False
    owner_path = Company.objects.filter(pk=owner_company_id).values_list("path", flat=True).first()
    if owner_path is None:
        return False
    return any(
        can(user, action, company_id)
        for company_id in Company.objects.filter(path__startswith=owner_path).values_list(
            "pk", flat=True
        )
    )
