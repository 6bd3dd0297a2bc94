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


@pytest.fixture
def trading(org) -> Trading:
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
