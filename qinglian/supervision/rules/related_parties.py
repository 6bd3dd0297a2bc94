"""Rule 7 — conflicts of interest and hidden related parties.

- A partner whose phone number — or, optionally, the phone of one of its contacts — is an
  employee's phone number: the employee may be behind the partner. The organisation keeps only
  a phone number for its employees (no bank account, no address), so that is what is compared.
- Partners (two or more distinct companies) sharing a bank account, phone number or address:
  one party behind several names, which defeats the limits set per partner (split purchases,
  concentration, credit). Partners with the same unified social credit code are one company
  registered twice (by the group and by a subsidiary) and count once.

Values are compared after normalisation (digits of phones without country code or extension,
bank accounts without spaces and dashes, addresses without spaces and punctuation).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from qinglian.trading import facts

from ..enums import Area, ParameterKind, Severity
from ..registry import Hit, Parameter, Rule, RuleContext, register
from ._trading import ATTRIBUTES, PARTNER, employee_phones, partner_link, shared_values

EMPLOYEE = "employee"
PARTNERS = "partners"


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


def _employee_hits(
    partners: Mapping[int, facts.PartnerFact], parameters: Mapping[str, Any]
) -> list[Hit]:
    employees: dict[str, list[Any]] = defaultdict(list)
    for employee in employee_phones():
        employees[employee.phone].append(employee)
    if not employees:
        return []
    phones: list[tuple[int, str, str, str]] = []  # (partner, where, whose, normalised phone)
    for partner in partners.values():
        phones.append((partner.id, "partner", partner.name, facts.normalise_phone(partner.phone)))
    if parameters["include_contacts"]:
        for contact in facts.partner_contact_facts():
            if contact.partner_id in partners:
                phones.append(
                    (
                        contact.partner_id,
                        "contact",
                        contact.name,
                        facts.normalise_phone(contact.phone),
                    )
                )
    matches: dict[tuple[int, int], list[dict[str, str]]] = defaultdict(list)
    found: dict[int, Any] = {}
    for partner_id, where, whose, phone in phones:
        for employee in employees.get(phone, []) if phone else []:
            matches[(partner_id, employee.user_id)].append(
                {"where": where, "whose": whose, "phone": phone}
            )
            found[employee.user_id] = employee
    hits = []
    for (partner_id, user_id), items in sorted(matches.items()):
        partner, employee = partners[partner_id], found[user_id]
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


def summarize(figures: Mapping[str, Any]) -> str:
    if figures.get("kind") == EMPLOYEE:
        return _("%(partner)s has the phone number of employee %(employee)s (%(number)s)") % {
            "partner": figures.get("partner", ""),
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
            "(%(include_contacts)s) — is an employee's (checked: %(check_employees)s; the "
            "organisation keeps no bank account or address for employees), and partners of "
            "different companies that share one of %(attributes)s. Only active partners: "
            "%(active_only)s."
        ),
        area=Area.PEOPLE,
        severity=Severity.HIGH,
        parameters=(
            Parameter(
                "check_employees",
                gettext_lazy("Partners with an employee's phone number"),
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
    )
)
