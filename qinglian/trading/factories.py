"""Test data for trading. Master data and contracts are made directly (a contract arrives
already effective here, as if approved) so each area's tests start from what they need; the
services under test then do the real work."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from typing import Any

from qinglian.org.factories import make_uscc
from qinglian.org.models import Company, User

from .enums import AdmissionStatus, ContractKind, ContractStatus, PartnerKind, PaymentTerm
from .models import Commodity, Contract, ContractLine, Partner, Warehouse

_serial = itertools.count(1)


def make_partner(
    *,
    company: Company,
    kind: str = PartnerKind.SUPPLIER,
    admission_status: str | None = None,
    **extra: Any,
) -> Partner:
    serial = next(_serial)
    if admission_status is None:
        admission_status = (
            AdmissionStatus.ADMITTED
            if kind != PartnerKind.CUSTOMER
            else AdmissionStatus.NOT_ADMITTED
        )
    return Partner.objects.create(
        company=company,
        code=extra.pop("code", f"P{serial:04d}"),
        name=extra.pop("name", f"合作方{serial}"),
        uscc=extra.pop("uscc", make_uscc(50000 + serial)),
        kind=kind,
        admission_status=admission_status,
        **extra,
    )


def make_commodity(*, company: Company, **extra: Any) -> Commodity:
    serial = next(_serial)
    return Commodity.objects.create(
        company=company,
        code=extra.pop("code", f"M{serial:04d}"),
        name=extra.pop("name", f"螺纹钢{serial}"),
        spec=extra.pop("spec", "HRB400 Φ20"),
        **extra,
    )


def make_warehouse(*, company: Company, **extra: Any) -> Warehouse:
    serial = next(_serial)
    return Warehouse.objects.create(
        company=company,
        code=extra.pop("code", f"W{serial:03d}"),
        name=extra.pop("name", f"一号库{serial}"),
        kind=extra.pop("kind", "own"),
        **extra,
    )


def make_contract(
    *,
    company: Company,
    partner: Partner,
    owner: User,
    lines: list[tuple[Commodity, str, str]],  # (commodity, quantity, unit price incl. VAT)
    kind: str = ContractKind.PURCHASE,
    status: str = ContractStatus.EFFECTIVE,
    **extra: Any,
) -> Contract:
    serial = next(_serial)
    today = datetime.date(2026, 1, 1)
    contract = Contract.objects.create(
        company=company,
        number=extra.pop(
            "number", f"{'CG' if kind == ContractKind.PURCHASE else 'XS'}-{serial:04d}"
        ),
        kind=kind,
        partner=partner,
        status=status,
        signed_on=extra.pop("signed_on", today),
        effective_on=extra.pop(
            "effective_on", today if status == ContractStatus.EFFECTIVE else None
        ),
        delivery_start=extra.pop("delivery_start", today),
        delivery_end=extra.pop("delivery_end", today + datetime.timedelta(days=365)),
        end_on=extra.pop("end_on", today + datetime.timedelta(days=365)),
        payment_term=extra.pop("payment_term", PaymentTerm.CREDIT),
        credit_days=extra.pop("credit_days", 30),
        owner=owner,
        created_by=owner,
        **extra,
    )
    total_quantity = total_amount = total_tax = Decimal("0")
    for number, (commodity, quantity, price) in enumerate(lines, start=1):
        amount = (Decimal(quantity) * Decimal(price)).quantize(Decimal("0.01"))
        tax = (amount - amount / (1 + commodity.tax_rate)).quantize(Decimal("0.01"))
        ContractLine.objects.create(
            contract=contract,
            line_number=number,
            commodity=commodity,
            quantity=Decimal(quantity),
            unit_price=Decimal(price),
            tax_rate=commodity.tax_rate,
            amount=amount,
            quantity_tolerance_percent=commodity.quantity_tolerance_percent,
        )
        total_quantity += Decimal(quantity)
        total_amount += amount
        total_tax += tax
    contract.total_quantity = total_quantity
    contract.total_amount = total_amount
    contract.total_tax = total_tax
    contract.original = contract
    contract.save(update_fields=["total_quantity", "total_amount", "total_tax", "original"])
    return contract
