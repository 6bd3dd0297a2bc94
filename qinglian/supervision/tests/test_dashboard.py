"""The dashboard's server-side aggregates and their drill-down URLs; the monthly report."""

import datetime
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from qinglian.supervision import services
from qinglian.supervision.dashboard import DashboardFilter, dashboard_data, month_keys
from qinglian.supervision.models import Finding
from qinglian.supervision.reports import monthly_report, previous_month
from qinglian.supervision.tests.conftest import days_ago, history_request

pytestmark = pytest.mark.usefixtures("english")


def charts(data):
    return {chart["id"]: chart for chart in data["charts"]}


def query(url):
    parsed = urlparse(url)
    return parsed.path, {key: values[0] for key, values in parse_qs(parsed.query).items()}


def load(org, flows):
    for requester in (org.handler_a, org.handler_a, org.handler_b):
        history_request(
            requester=requester,
            amount="80000.00",
            submitted_at=days_ago(5),
            decisions=((requester, days_ago(4), 600, False),),
        )
    services.run_rules(actor=org.inspector)
    finding = Finding.objects.filter(company=org.company_a).first()
    case = services.case_open(
        actor=org.inspector,
        finding_id=finding.pk,
        company_id=org.company_a.pk,
        deadline=datetime.date(2026, 3, 12),
        instructions="整改",
    )
    services.case_rectification_submit(actor=flows.manager_a, case_id=case.pk, text="已整改")
    services.case_verify(actor=org.inspector, case_id=case.pk, is_accepted=True)
    return case


def test_month_keys():
    assert month_keys(datetime.date(2026, 2, 15), 3) == ["2025-12", "2026-01", "2026-02"]


def test_figures_and_drill_down(org, flows, frozen):
    load(org, flows)
    data = dashboard_data(user=org.inspector)
    kpis = data["kpis"]
    assert (kpis["findings"], kpis["cases"], kpis["closed_cases"]) == (3, 1, 1)
    assert kpis["rectification_rate"] == 100.0
    assert kpis["average_days_to_close"] == 0.0
    by_company = charts(data)["by-company"]
    assert by_company["categories"] == ["甲公司", "乙公司"]
    high = next(series for series in by_company["series"] if series["key"] == "high")
    assert [point["value"] for point in high["data"]] == [2, 1]
    path, params = query(high["data"][1]["url"])
    assert path == reverse("supervision:finding_list")
    assert params == {"company": str(org.company_b.pk), "severity": "high"}
    by_rule = charts(data)["by-rule"]
    assert by_rule["categories"] == ["1. Self-approval and segregation of duties"]
    assert query(by_rule["series"][0]["data"][0]["url"])[1] == {"rule": "self_approval"}
    area = charts(data)["by-area"]
    assert [(item["key"], item["value"]) for item in area["data"]] == [("power", 3)]
    trend = charts(data)["trend"]
    assert trend["categories"][-1] == "2026-03"
    found = next(series for series in trend["series"] if series["key"] == "findings")
    assert found["data"][-1]["value"] == 3
    assert query(found["data"][-1]["url"])[1] == {"month": "2026-03"}
    closed = next(series for series in trend["series"] if series["key"] == "closed")
    assert query(closed["data"][-1]["url"])[1] == {"closed_month": "2026-03"}
    rate = charts(data)["rectification-rate"]
    assert rate["series"][0]["data"][0]["value"] == 100.0


def test_scope_and_company_filter(org, flows, frozen):
    load(org, flows)
    only_a = dashboard_data(user=flows.inspector_a)
    assert only_a["kpis"]["findings"] == 2
    filtered = dashboard_data(
        user=org.inspector, filters=DashboardFilter(company_id=org.company_b.pk)
    )
    assert filtered["kpis"]["findings"] == 1
    assert dashboard_data(user=org.handler_a)["kpis"]["findings"] == 0


def test_monthly_report(org, flows, frozen):
    load(org, flows)
    report = monthly_report(user=org.inspector, month="2026-03")
    assert report is not None
    assert len(report.findings) == 3
    assert len(report.cases_opened) == len(report.cases_closed) == 1
    assert report.by_company[0][1:] == (2, 1, 1)
    assert monthly_report(user=org.inspector, month="2026-13") is None
    assert len(monthly_report(user=org.inspector, month="2026-02").findings) == 0
    assert previous_month(datetime.date(2026, 1, 5)) == "2025-12"
