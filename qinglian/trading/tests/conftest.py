"""Trading fixtures on top of the root `org` fixture: in company A (and B) a purchaser, a
salesperson, a warehouse keeper and finance; group-owned master data; A's warehouse."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_user
from qinglian.org.models import User
from qinglian.trading.enums import PartnerKind
from qinglian.trading.factories import make_commodity, make_partner, make_warehouse
from qinglian.trading.models import Commodity, Partner, Warehouse


@dataclass
class Trading:
    purchaser_a: User
    salesperson_a: User
    keeper_a: User
    finance_a: User
    manager_a: User  # general manager of A
    purchaser_b: User
    keeper_b: User
    supplier: Partner  # group-owned, admitted
    customer: Partner  # group-owned
    steel: Commodity  # group-owned, tolerance 0.30 %, VAT 13 %
    coal: Commodity
    warehouse_a: Warehouse
    warehouse_b: Warehouse


def build_trading(org) -> Trading:
    def person(company, role, username, name):
        return make_user(company=company, roles=(role,), username=username, name=name)

    a, b = org.company_a, org.company_b
    return Trading(
        purchaser_a=person(a, RoleCode.PURCHASER, "purchaser_a", "甲采购"),
        salesperson_a=person(a, RoleCode.SALESPERSON, "salesperson_a", "甲销售"),
        keeper_a=person(a, RoleCode.WAREHOUSE_KEEPER, "keeper_a", "甲库管"),
        finance_a=person(a, RoleCode.FINANCE, "finance_a", "甲财务"),
        manager_a=person(a, RoleCode.GENERAL_MANAGER, "manager_a", "甲总经理"),
        purchaser_b=person(b, RoleCode.PURCHASER, "purchaser_b", "乙采购"),
        keeper_b=person(b, RoleCode.WAREHOUSE_KEEPER, "keeper_b", "乙库管"),
        supplier=make_partner(
            company=org.group, kind=PartnerKind.SUPPLIER, name="华北钢铁贸易有限公司"
        ),
        customer=make_partner(
            company=org.group, kind=PartnerKind.CUSTOMER, name="东海建材有限公司", payment_days=30
        ),
        steel=make_commodity(company=org.group, code="STEEL", name="螺纹钢", spec="HRB400 Φ20"),
        coal=make_commodity(company=org.group, code="COAL", name="动力煤", spec="5500 大卡"),
        warehouse_a=make_warehouse(company=a, code="WA", name="甲一号库"),
        warehouse_b=make_warehouse(company=b, code="WB", name="乙一号库"),
    )


@pytest.fixture
def trading(org, shared_layers) -> Trading:
    return shared_layers.get("trading", build_trading, org)


# ---------------------------------------------------------------- stock (goods in and out)


@dataclass
class StockWorld:
    """Company A's effective purchase contract (steel 1,000 t at 4,520.00 incl. 13 % VAT, coal
    500 t at 904.00) and sales contract (steel 800 t at 5,000.00, coal 400 t at 1,100.00),
    company B's purchase contract for steel, and shortcuts that receive and issue goods through
    the services as A's keeper."""

    trading: Trading
    purchase: object
    sales: object
    purchase_b: object

    def receive(self, quantity, *, commodity=None, on=None, post=True, actor=None, **extra):
        return self._document("receipt", self.purchase, quantity, commodity, on, post, actor, extra)

    def issue(self, quantity, *, commodity=None, on=None, post=True, actor=None, **extra):
        return self._document("issue", self.sales, quantity, commodity, on, post, actor, extra)

    def _document(self, kind, contract, quantity, commodity, on, post, actor, extra):
        import datetime as _datetime
        from decimal import Decimal as _Decimal

        from qinglian.core import clock
        from qinglian.trading.services import stock as stock_services

        commodity = commodity or self.trading.steel
        line = {
            "commodity_id": commodity.pk,
            "quantity": _Decimal(str(quantity)),
            **{k: extra.pop(k) for k in ("weighed_quantity", "difference_reason") if k in extra},
        }
        return stock_services.stock_document_create(
            actor=actor or self.trading.keeper_a,
            kind=kind,
            contract_id=contract.pk,
            warehouse_id=extra.pop("warehouse_id", self.trading.warehouse_a.pk),
            posting_date=on if isinstance(on, _datetime.date) else clock.today(),
            lines=extra.pop("lines", [line]),
            post=post,
            **extra,
        )


@pytest.fixture
def stock(org, trading, shared_layers) -> StockWorld:
    return shared_layers.get("stock", build_stock, org, trading)


def build_stock(org, trading) -> StockWorld:
    from qinglian.trading.enums import ContractKind
    from qinglian.trading.factories import make_contract

    t = trading
    return StockWorld(
        trading=t,
        purchase=make_contract(
            company=org.company_a,
            partner=t.supplier,
            owner=t.purchaser_a,
            kind=ContractKind.PURCHASE,
            lines=[(t.steel, "1000", "4520.00"), (t.coal, "500", "904.00")],
        ),
        sales=make_contract(
            company=org.company_a,
            partner=t.customer,
            owner=t.salesperson_a,
            kind=ContractKind.SALES,
            lines=[(t.steel, "800", "5000.00"), (t.coal, "400", "1100.00")],
        ),
        purchase_b=make_contract(
            company=org.company_b,
            partner=t.supplier,
            owner=t.purchaser_b,
            kind=ContractKind.PURCHASE,
            lines=[(t.steel, "1000", "4520.00")],
        ),
    )


# ---------------------------------------------------------------- master data (admission, credit)


@dataclass
class MasterFlows:
    """The supplier-admission and credit-change flows loaded, and company A's legal reviewer
    and leader in charge (the admission route: A's general manager as the purchaser's superior,
    legal review, leader in charge; the credit route: finance, general manager)."""

    legal_a: User
    leader_a: User


def build_master_flows(org, trading) -> MasterFlows:
    from qinglian.approvals.services import template_save
    from qinglian.core.actors import SYSTEM_ACTOR
    from qinglian.trading.services.master import APPROVAL_FLOWS

    for flow in APPROVAL_FLOWS:
        template_save(actor=SYSTEM_ACTOR, **flow)
    return MasterFlows(
        legal_a=make_user(
            company=org.company_a,
            roles=(RoleCode.LEGAL_REVIEWER,),
            username="master_legal_a",
            name="甲法务审核",
        ),
        leader_a=make_user(
            company=org.company_a,
            roles=(RoleCode.LEADER_IN_CHARGE,),
            username="master_leader_a",
            name="甲分管领导",
        ),
    )


@pytest.fixture
def master_flows(org, trading, shared_layers) -> MasterFlows:
    return shared_layers.get("master_flows", build_master_flows, org, trading)


# ---------------------------------------------------------------- contracts and money
# The contract and payment approval flows with the people they route to in company A: the legal
# reviewer (初审), finance (复核, and the finance check of payments), the leader in charge.


@dataclass
class MoneyFlows:
    legal_a: User
    leader_a: User
    finance_b: User
    salesperson_b: User


def build_money_flows(org, trading) -> MoneyFlows:
    from qinglian.approvals.services import template_save
    from qinglian.core.actors import SYSTEM_ACTOR
    from qinglian.trading.services import contracts as contract_services
    from qinglian.trading.services import money as money_services

    for flow in [*contract_services.APPROVAL_FLOWS, *money_services.APPROVAL_FLOWS]:
        template_save(actor=SYSTEM_ACTOR, **flow)
    a, b = org.company_a, org.company_b
    return MoneyFlows(
        legal_a=make_user(
            company=a, roles=(RoleCode.LEGAL_REVIEWER,), username="legal_a", name="甲法务"
        ),
        leader_a=make_user(
            company=a, roles=(RoleCode.LEADER_IN_CHARGE,), username="leader_a", name="甲分管领导"
        ),
        finance_b=make_user(
            company=b, roles=(RoleCode.FINANCE,), username="finance_b", name="乙财务"
        ),
        salesperson_b=make_user(
            company=b, roles=(RoleCode.SALESPERSON,), username="salesperson_b", name="乙销售"
        ),
    )


@pytest.fixture
def money_flows(trading, org, shared_layers) -> MoneyFlows:
    return shared_layers.get("money_flows", build_money_flows, org, trading)
