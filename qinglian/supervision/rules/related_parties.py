"""Rule 7 — conflicts of interest and hidden related parties.

- A partner sharing a phone number, bank account or address with an employee: its phone — or,
  optionally, one of its contacts' — against the employee's phone, its bank account against
  the employee's, its address against the employee's home address. The employee may be behind
  the partner. Every employee counts, whether or not they may sign in: employment is not
  login (people loaded from the old systems have no login rights), and a conflict of interest
  does not end when an account is switched off. The bank account and home address are
  compared once the organisation keeps them on its employees (fields of the same names).
- Partners (two or more distinct companies) sharing a bank account, phone number or address:
  one party behind several names, which defeats the limits set per partner (split purchases,
  concentration, credit). Partners with the same unified social credit code are one company
  registered twice (by the group and by a subsidiary) and count once.

Values are compared after normalisation (digits of phones without country code or extension,
bank accounts without spaces and dashes, addresses without spaces and punctuation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.org.models import User
from qinglian.trading import facts

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._trading import ATTRIBUTES, PARTNER, attribute_keys, partner_link, shared_values

EMPLOYEE = "employee"
PARTNERS = "partners"
# The employee's field a partner's attribute is compared with.
EMPLOYEE_FIELDS = {"phone": "phone", "bank_account": "bank_account", "address": "home_address"}
NORMALISE: dict[str, Callable[[str | None], str]] = {
    "phone": facts.normalise_phone,
    "bank_account": facts.normalise_bank_account,
    "address": facts.normalise_address,
}


def detect(context: RuleContext) -> Iterable[Hit]:
    parameters = context.parameters
    partners = {
        partner.id: partner
        for partner in facts.partner_facts(active_only=parameters["active_only"])
    }
    if not partners:
        return
    hits: list[Hit] = []
    if parameters["check_employees"]:
        hits.extend(_employee_hits(partners, parameters))
    attributes = [code for code in parameters["attributes"] if code in ATTRIBUTES]
    if attributes:
        hits.extend(_partner_hits(partners, attributes))
    yield from sorted(hits, key=lambda hit: (int(hit.subject_id), hit.key))


@dataclass(frozen=True)
class Employee:
    user_id: int
    company_id: int | None
    department_id: int | None
    name: str
    employee_number: str


def employee_holders() -> tuple[dict[int, Employee], dict[tuple[str, str], list[int]]]:
    """Every employee with a usable phone, bank account or home address — signing in or not
    — and who holds each (attribute, normalised value)."""
    fields = EMPLOYEE_FIELDS
    blank = Q()
    for name in fields.values():
        blank &= Q(**{name: ""})
    rows = (
        User.objects.exclude(blank)
        .order_by("id")
        .values_list(
            "id", "company_id", "department_id", "name", "employee_number", *fields.values()
        )
    )
    people: dict[int, Employee] = {}
    holders: dict[tuple[str, str], list[int]] = defaultdict(list)
    for user_id, company_id, department_id, name, number, *values in rows.iterator(chunk_size=2000):
        for attribute, value in zip(fields, values, strict=True):
            key = NORMALISE[attribute](value)
            if key:
                holders[(attribute, key)].append(user_id)
                if user_id not in people:
                    people[user_id] = Employee(user_id, company_id, department_id, name, number)
    return people, holders


def _employee_hits(
    partners: Mapping[int, facts.PartnerFact], parameters: Mapping[str, Any]
) -> list[Hit]:
    people, holders = employee_holders()
    if not holders:
        return []
    # (partner, attribute, where, whose, normalised value)
    values: list[tuple[int, str, str, str, str]] = [
        (partner.id, attribute, "partner", partner.name, value)
        for partner in partners.values()
        for attribute, value in attribute_keys(partner).items()
    ]
    if parameters["include_contacts"]:
        values.extend(
            (
                contact.partner_id,
                "phone",
                "contact",
                contact.name,
                NORMALISE["phone"](contact.phone),
            )
            for contact in facts.partner_contact_facts()
            if contact.partner_id in partners
        )
    matches: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    for partner_id, attribute, where, whose, value in values:
        for user_id in holders.get((attribute, value), []) if value else []:
            matches[(partner_id, user_id)].append(
                {"attribute": attribute, "where": where, "whose": whose, "value": value}
            )
    hits = []
    for (partner_id, user_id), items in sorted(matches.items()):
        partner, employee = partners[partner_id], people[user_id]
        shared = {item["attribute"] for item in items}
        hits.append(
            Hit(
                subject_type=PARTNER,
                subject_id=str(partner_id),
                subject_label=f"{partner.name} · {employee.name}（{employee.employee_number}）",
                key=f"{EMPLOYEE}:{user_id}",
                company_id=employee.company_id or partner.company_id,
                department_id=employee.department_id,
                figures={
                    "kind": EMPLOYEE,
                    "partner": partner.name,
                    "partner_code": partner.code,
                    "employee": employee.name,
                    "employee_number": employee.employee_number,
                    "attributes": [code for code in ATTRIBUTES if code in shared],
                    "matches": items,
                },
                documents=[partner_link(partner_id, partner.name)],
                people=[user_id],
                severity=Severity.HIGH,
            )
        )
    return hits


def _partner_hits(partners: Mapping[int, facts.PartnerFact], attributes: list[str]) -> list[Hit]:
    hits = []
    for shared in shared_values(partners.values(), attributes):
        entities = {partners[pk].uscc or f"#{pk}" for pk in shared.partner_ids}
        if len(entities) < 2:
            continue
        members = [partners[pk] for pk in shared.partner_ids]
        first = members[0]
        hits.append(
            Hit(
                subject_type=PARTNER,
                subject_id=str(first.id),
                subject_label="、".join(member.name for member in members),
                key=f"{shared.attribute}:{shared.value}",
                company_id=first.company_id,
                figures={
                    "kind": PARTNERS,
                    "attribute": shared.attribute,
                    "value": shared.value,
                    "partners": [
                        {
                            "id": member.id,
                            "code": member.code,
                            "name": member.name,
                            "kind": member.kind,
                            "admission": member.admission_status,
                            shared.attribute: getattr(member, shared.attribute),
                        }
                        for member in members
                    ],
                },
                documents=[partner_link(member.id, member.name) for member in members],
                severity=Severity.MEDIUM,
            )
        )
    return hits


ATTRIBUTE_LABELS = {
    "bank_account": gettext_lazy("bank account"),
    "phone": gettext_lazy("phone number"),
    "address": gettext_lazy("address"),
}
# What a partner shares with an employee, named from the employee's side.
EMPLOYEE_LABELS = {
    "bank_account": gettext_lazy("bank account"),
    "phone": gettext_lazy("phone number"),
    "address": gettext_lazy("home address"),
}


def summarize(figures: Mapping[str, Any]) -> str:
    if figures.get("kind") == EMPLOYEE:
        # Findings stored before bank accounts and addresses were compared name no attributes.
        shared = figures.get("attributes") or ["phone"]
        return _("%(partner)s has the %(shared)s of employee %(employee)s (%(number)s)") % {
            "partner": figures.get("partner", ""),
            "shared": get_text_list(
                [str(EMPLOYEE_LABELS.get(str(code), code)) for code in shared], _("and")
            ),
            "employee": figures.get("employee", ""),
            "number": figures.get("employee_number", ""),
        }
    names = "、".join(str(item.get("name", "")) for item in figures.get("partners", []))
    return _("%(partners)s share one %(attribute)s") % {
        "partners": names,
        "attribute": ATTRIBUTE_LABELS.get(str(figures.get("attribute")), figures.get("attribute")),
    }


RULE = register(
    Rule(
        code="related_parties",
        number=7,
        title=gettext_lazy("Conflicts of interest and hidden related parties"),
        explanation=gettext_lazy(
            "Compares normalised phone numbers, bank accounts and addresses. Reports a partner "
            "whose phone number — or a contact's, when contacts are included "
            "(%(include_contacts)s) — bank account or address is an employee's phone number, "
            "bank account or home address, whether or not the employee may sign in (checked: "
            "%(check_employees)s), and partners of different companies that share one of "
            "%(attributes)s. Only active partners: %(active_only)s."
        ),
        area=Area.PEOPLE,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "check_employees",
                gettext_lazy(
                    "Partners with an employee's phone number, bank account or home address"
                ),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "include_contacts",
                gettext_lazy("Include the partners' contacts' phone numbers"),
                ParameterKind.BOOLEAN,
                True,
            ),
            Parameter(
                "attributes",
                gettext_lazy("Shared between partners (bank_account, phone, address)"),
                ParameterKind.CODES,
                list(ATTRIBUTES),
            ),
            Parameter(
                "active_only",
                gettext_lazy("Active partners only"),
                ParameterKind.BOOLEAN,
                True,
            ),
        ),
        detect=detect,
        summarize=summarize,
        reads=(
            "org.user",
            "trading.partner",
            "trading.partnercontact",
        ),
        as_of="none",
    )
)
