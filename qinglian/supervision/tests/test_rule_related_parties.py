"""Rule 7: a partner with an employee's phone number, bank account or home address (every
employee, signing in or not), and partners sharing a bank account, phone number or address."""

import pytest
from django.utils import translation

from qinglian.org.factories import make_user
from qinglian.org.models import User
from qinglian.supervision import registry, services
from qinglian.supervision.enums import Severity
from qinglian.supervision.models import Finding
from qinglian.supervision.tests.helpers import detect
from qinglian.trading import facts
from qinglian.trading.factories import make_partner
from qinglian.trading.models import PartnerContact

RULE = "related_parties"


def employee(company, **details):
    """An employee (never given login rights) with a bank account or home address."""
    user = make_user(company=company, name=details.pop("name", "王五"), **details.pop("user", {}))
    user.is_active = False
    user.save(update_fields=["is_active"])
    User.objects.filter(pk=user.pk).update(**details)
    return user


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("138 0013 8000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("021-6123 4567 转 801", "02161234567"),
        ("(021) 61234567 ext. 9", "02161234567"),
        ("12345", ""),
        ("", ""),
    ],
)
def test_phone_numbers_are_normalised(raw, normalised):
    assert facts.normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("6222 0212-3456 7890", "6222021234567890"),
        ("６２２２０２１２３４５６", "622202123456"),
        ("12345", ""),
    ],
)
def test_bank_accounts_are_normalised(raw, normalised):
    assert facts.normalise_bank_account(raw) == normalised


def test_addresses_are_normalised():
    one = facts.normalise_address("中国 上海市浦东新区 世纪大道 100号，A座 1201室")
    other = facts.normalise_address("上海市浦东新区世纪大道100号A座1201室")
    assert one == other == "上海市浦东新区世纪大道100号a座1201室"
    assert facts.normalise_address("上海市") == ""


def test_a_partner_with_an_employees_phone(org, trading, frozen):
    employee = make_user(
        company=org.company_a, username="buyer_wife", name="王五", phone="13800138000"
    )
    partner = make_partner(company=org.group, phone="+86 138 0013 8000", name="王氏贸易")
    make_partner(company=org.group, phone="13800138001")  # one digit apart
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [
        (str(partner.pk), f"employee:{employee.pk}")
    ]
    hit = hits[0]
    assert hit.severity == Severity.HIGH
    assert hit.company_id == org.company_a.pk
    assert hit.people == [employee.pk]
    assert hit.figures["attributes"] == ["phone"]
    assert hit.figures["matches"] == [
        {"attribute": "phone", "where": "partner", "whose": "王氏贸易", "value": "13800138000"}
    ]
    with translation.override("en"):
        assert registry.rule_get(RULE).summarize(registry.jsonable(hit.figures)) == (
            f"王氏贸易 has the phone number of employee 王五 ({employee.employee_number})"
        )
    assert detect(RULE, check_employees=False) == []


def test_a_contacts_phone_counts_when_contacts_are_included(org, trading, frozen):
    employee = make_user(
        company=org.company_b, username="sales_b2", name="赵六", phone="021-61234567"
    )
    PartnerContact.objects.create(partner=trading.supplier, name="赵先生", phone="(021) 6123 4567")
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key, hit.company_id) for hit in hits] == [
        (str(trading.supplier.pk), f"employee:{employee.pk}", org.company_b.pk)
    ]
    assert hits[0].figures["matches"][0]["where"] == "contact"
    assert detect(RULE, include_contacts=False) == []


def test_employees_without_login_rights_count_inactive_partners_do_not(org, trading, frozen):
    # Employment is not login: imported staff and people who left have no login rights.
    employee = make_user(company=org.company_a, username="gone", name="离职", phone="13900000000")
    employee.is_active = False
    employee.save(update_fields=["is_active"])
    partner = make_partner(company=org.group, phone="13900000000")
    assert [(hit.subject_id, hit.people) for hit in detect(RULE)] == [
        (str(partner.pk), [employee.pk])
    ]
    partner.is_active = False
    partner.save(update_fields=["is_active"])
    assert detect(RULE) == []
    assert len(detect(RULE, active_only=False)) == 1


def test_a_partner_paid_into_an_employees_bank_account(org, trading, frozen):
    person = employee(org.company_b, bank_name="工商银行", bank_account="6222 0212 0000 1234")
    partner = make_partner(company=org.group, name="甲供应链", bank_account="6222021200001234")
    make_partner(company=org.group, bank_account="6222 0212 0000 1235")  # one digit apart
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key, hit.company_id) for hit in hits] == [
        (str(partner.pk), f"employee:{person.pk}", org.company_b.pk)
    ]
    assert hits[0].figures["attributes"] == ["bank_account"]
    assert hits[0].figures["matches"] == [
        {
            "attribute": "bank_account",
            "where": "partner",
            "whose": "甲供应链",
            "value": "6222021200001234",
        }
    ]
    assert detect(RULE, check_employees=False) == []


def test_a_partner_at_an_employees_home_address(org, trading, frozen):
    person = employee(org.company_a, home_address="杭州市西湖区文三路 100 号 2 幢 301 室")
    partner = make_partner(company=org.group, address="杭州市西湖区文三路100号2幢301室")
    make_partner(company=org.group, address="杭州市西湖区文三路100号2幢302室")  # next door
    hits = detect(RULE)
    assert [(hit.subject_id, hit.people) for hit in hits] == [(str(partner.pk), [person.pk])]
    assert hits[0].figures["attributes"] == ["address"]
    with translation.override("en"):
        assert registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures)) == (
            f"{partner.name} has the home address of employee 王五 ({person.employee_number})"
        )


def test_one_finding_per_partner_and_employee_whatever_they_share(org, trading, frozen):
    person = employee(org.company_a, user={"phone": "13812345678"}, bank_account="6222021299998888")
    partner = make_partner(
        company=org.group, name="乙贸易", phone="138-1234-5678", bank_account="6222021299998888"
    )
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [
        (str(partner.pk), f"employee:{person.pk}")
    ]
    assert hits[0].figures["attributes"] == ["bank_account", "phone"]
    with translation.override("en"):
        assert registry.rule_get(RULE).summarize(registry.jsonable(hits[0].figures)) == (
            f"乙贸易 has the bank account and phone number of employee 王五 "
            f"({person.employee_number})"
        )


def test_findings_stored_before_bank_accounts_were_compared_read_as_phone(org):
    figures = {"kind": "employee", "partner": "丙贸易", "employee": "赵六", "employee_number": "E9"}
    with translation.override("en"):
        assert registry.rule_get(RULE).summarize(figures) == (
            "丙贸易 has the phone number of employee 赵六 (E9)"
        )


def test_partners_sharing_a_bank_account_phone_or_address(org, trading, frozen):
    one = make_partner(
        company=org.group,
        name="甲贸易",
        bank_account="6222 0212 3456 7890",
        address="上海市浦东新区世纪大道100号1201室",
    )
    other = make_partner(
        company=org.company_a,
        name="乙贸易",
        bank_account="6222-0212-3456-7890",
        address="上海市 浦东新区 世纪大道 100号 1201室",
    )
    make_partner(company=org.group, name="丙贸易", bank_account="6222021234567891")
    hits = detect(RULE)
    assert [(hit.subject_id, hit.key) for hit in hits] == [
        (str(one.pk), "address:上海市浦东新区世纪大道100号1201室"),
        (str(one.pk), "bank_account:6222021234567890"),
    ]
    assert [item["id"] for item in hits[1].figures["partners"]] == [one.pk, other.pk]
    assert hits[1].severity == Severity.MEDIUM
    assert [(link.type, link.id) for link in hits[1].documents] == [
        ("trading.partner", str(one.pk)),
        ("trading.partner", str(other.pk)),
    ]
    assert [hit.key for hit in detect(RULE, attributes="bank_account")] == [
        "bank_account:6222021234567890"
    ]
    rule = registry.rule_get(RULE)
    assert "甲贸易" in rule.summarize(registry.jsonable(hits[0].figures))


def test_one_company_registered_twice_counts_once(org, trading, frozen):
    make_partner(company=org.group, uscc="91310000MA1FL0001X", phone="13700000000")
    make_partner(company=org.company_a, uscc="91310000MA1FL0001X", phone="13700000000")
    assert detect(RULE) == []


def test_a_rerun_finds_the_same_findings(org, trading, frozen):
    make_user(company=org.company_a, username="buyer2", name="钱七", phone="13800000001")
    make_partner(company=org.group, phone="13800000001", bank_account="6222000011112222")
    make_partner(company=org.group, bank_account="6222000011112222")
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    services.run_rules(actor=org.inspector, rule_codes=[RULE])
    assert sorted(Finding.objects.filter(rule_code=RULE).values_list("seen_count", flat=True)) == [
        2,
        2,
    ]
