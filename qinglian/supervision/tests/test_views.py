"""The supervision pages: an authorization matrix over every page (anonymous, no role, a
handler, the group's IT administrator, a subsidiary's leaders, the auditor, the group's and a
subsidiary's inspectors), the case's closed loop through the pages, and query budgets."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qinglian.audit.models import AuditEvent
from qinglian.supervision import services
from qinglian.supervision.enums import CaseStatus, FindingStatus
from qinglian.supervision.models import Case, Finding, RuleParameterVersion, Run
from qinglian.supervision.tests.conftest import (
    OVERSIGHT,
    WHO,
    client_for,
    days_ago,
    history_request,
    user_of,
)

pytestmark = pytest.mark.usefixtures("english")


def expected_for_oversight_page(who):
    if who == "anonymous":
        return 302
    return 200 if who in OVERSIGHT else 403


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    "name",
    [
        "supervision:dashboard",
        "supervision:finding_list",
        "supervision:rule_list",
        "supervision:run_list",
        "supervision:monthly_report",
        "supervision:monthly_report_xlsx",
        "supervision:monthly_report_pdf",
    ],
)
def test_oversight_pages(client, org, world, who, name):
    response = client_for(client, user_of(org, who)).get(reverse(name))
    assert response.status_code == expected_for_oversight_page(who)


@pytest.mark.parametrize("who", WHO)
def test_rule_page(client, org, world, who):
    url = reverse("supervision:rule_edit", args=["self_approval"])
    response = client_for(client, user_of(org, who)).get(url)
    assert response.status_code == expected_for_oversight_page(who)
    if who in OVERSIGHT:
        assert (b'data-testid="rule-form"' in response.content) == (who == "inspector")


FINDING_A = {
    "anonymous": 302,
    "no_role": 404,
    "handler_a": 404,
    "admin_group": 404,
    "manager_a": 404,  # the unit sees its case, not the finding's page
    "manager_b": 404,
    "auditor": 200,
    "inspector": 200,
    "inspector_a": 200,
}


@pytest.mark.parametrize("who", WHO)
def test_finding_page(client, org, world, who):
    client = client_for(client, user_of(org, who))
    url = reverse("supervision:finding_detail", args=[world["finding_a"].pk])
    assert client.get(url).status_code == FINDING_A[who]
    other = reverse("supervision:finding_detail", args=[world["finding_b"].pk])
    expected_b = {"inspector_a": 404}.get(who, FINDING_A[who])
    assert client.get(other).status_code == expected_b


CASE_PAGE = {
    "anonymous": 302,
    "no_role": 404,
    "handler_a": 404,
    "admin_group": 404,
    "manager_a": 200,
    "manager_b": 404,
    "auditor": 200,
    "inspector": 200,
    "inspector_a": 200,
}


@pytest.mark.parametrize("who", WHO)
def test_case_pages(client, org, world, who):
    client = client_for(client, user_of(org, who))
    case = world["case"]
    assert (
        client.get(reverse("supervision:case_detail", args=[case.pk])).status_code
        == (CASE_PAGE[who])
    )
    attachment = reverse("supervision:attachment", args=[case.pk, world["attachment"].pk])
    response = client.get(attachment)
    assert response.status_code == CASE_PAGE[who]
    if response.status_code == 200:
        assert b"".join(response.streaming_content) == b"%PDF"
    listing = client.get(reverse("supervision:case_list"))
    if who == "anonymous":
        assert listing.status_code == 302
        return
    assert listing.status_code == 200
    assert listing.content.count(b'data-testid="case-row"') == (1 if CASE_PAGE[who] == 200 else 0)


OPEN_CASE_PAGE = {
    "anonymous": 302,
    "no_role": 404,
    "handler_a": 404,
    "admin_group": 404,
    "manager_a": 404,
    "manager_b": 404,
    "auditor": 403,
    "inspector": 200,
    "inspector_a": 404,  # the open finding is B's
}


@pytest.mark.parametrize("who", WHO)
def test_triage_writes(client, org, world, who):
    """Dismissal and opening a case: only an inspector of the finding's company; the others'
    attempts change nothing."""
    client = client_for(client, user_of(org, who))
    finding = world["finding_b"]
    url = reverse("supervision:case_open", args=[finding.pk])
    assert client.get(url).status_code == OPEN_CASE_PAGE[who]
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("supervision:finding_dismiss", args=[finding.pk]), {"reason": "误报"}
    )
    finding.refresh_from_db()
    if who == "inspector":
        assert response.status_code == 302
        assert finding.status == FindingStatus.DISMISSAL_REQUESTED
        return
    assert response.status_code == {200: 403}.get(OPEN_CASE_PAGE[who], OPEN_CASE_PAGE[who])
    assert finding.status == FindingStatus.OPEN
    assert AuditEvent.objects.count() == events


VERIFY = {
    "anonymous": 302,
    "no_role": 404,
    "handler_a": 404,
    "admin_group": 404,
    "manager_a": 403,
    "manager_b": 404,
    "auditor": 403,
    "inspector": 302,
    "inspector_a": 302,
}


@pytest.mark.parametrize("who", WHO)
def test_verify_write(client, org, world, who):
    client = client_for(client, user_of(org, who))
    case = world["case"]
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("supervision:case_verify", args=[case.pk]), {"decision": "accept", "comment": ""}
    )
    assert response.status_code == VERIFY[who]
    case.refresh_from_db()
    if VERIFY[who] == 302 and who != "anonymous":
        assert case.status == CaseStatus.CLOSED
    else:
        assert case.status == CaseStatus.VERIFYING
        assert AuditEvent.objects.count() == events


RECTIFY = {
    "anonymous": 302,
    "no_role": 404,
    "handler_a": 404,
    "admin_group": 404,
    "manager_a": 302,
    "manager_b": 404,
    "auditor": 403,
    "inspector": 403,
    "inspector_a": 403,
}


@pytest.mark.parametrize("who", WHO)
def test_rectify_write(client, org, world, who):
    case = world["case"]
    services.case_verify(actor=org.inspector, case_id=case.pk, is_accepted=False, comment="不全")
    client = client_for(client, user_of(org, who))
    events = AuditEvent.objects.count()
    response = client.post(
        reverse("supervision:case_rectify", args=[case.pk]), {"text": "补充材料"}
    )
    assert response.status_code == RECTIFY[who]
    case.refresh_from_db()
    if who == "manager_a":
        assert case.status == CaseStatus.VERIFYING
    else:
        assert case.status == CaseStatus.RECTIFYING
        assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("who", WHO)
def test_rule_edit_and_run_writes(client, org, world, who):
    client = client_for(client, user_of(org, who))
    runs = Run.objects.count()
    response = client.post(
        reverse("supervision:rule_edit", args=["threshold_clustering"]),
        {
            "p_band_percent": "8",
            "p_min_count": "3",
            "p_window_days": "90",
            "p_lookback_days": "3650",
            "p_group_thresholds": "expense_claim:5000, trading_contract:1000000",
            "p_template_codes": "",
            "is_enabled": "on",
            "reason": "收紧",
            "version": "1",
        },
    )
    expected = {"anonymous": 302, "inspector": 302}.get(who, 403)
    assert response.status_code == expected
    versions = RuleParameterVersion.objects.filter(rule_code="threshold_clustering", number=2)
    assert versions.exists() == (who == "inspector")
    response = client.post(reverse("supervision:run_list"))
    assert response.status_code == {"anonymous": 302, "auditor": 403}.get(
        who, 302 if who in OVERSIGHT else 403
    )
    assert Run.objects.count() == runs + (1 if who in {"inspector", "inspector_a"} else 0)


def test_closed_loop_through_the_pages(client, org, flows):
    history_request(
        requester=org.handler_a,
        amount="990000.00",
        submitted_at=days_ago(5),
        decisions=((org.handler_a, days_ago(4), 600, False),),
    )
    client.force_login(org.inspector)
    assert client.post(reverse("supervision:run_list")).status_code == 302
    finding = Finding.objects.get()
    page = client.get(reverse("supervision:finding_detail", args=[finding.pk]))
    assert b"the requester approved their own request" in page.content
    assert b'data-testid="parameters-used"' in page.content
    response = client.post(
        reverse("supervision:case_open", args=[finding.pk]),
        {
            "company": org.company_a.pk,
            "department": org.department_a.pk,
            "assignee": "",
            "deadline": "2026-04-10",
            "instructions": "说明原因并整改",
        },
    )
    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("supervision:case_detail", args=[case.pk])
    client.force_login(flows.head_a)
    page = client.get(reverse("supervision:case_detail", args=[case.pk]))
    assert b'data-testid="rectify-form"' in page.content
    response = client.post(
        reverse("supervision:case_rectify", args=[case.pk]),
        {
            "text": "已整改",
            "attachments": [
                SimpleUploadedFile("1.jpg", b"one", content_type="image/jpeg"),
                SimpleUploadedFile("2.jpg", b"two", content_type="image/jpeg"),
            ],
        },
    )
    assert response.status_code == 302
    assert case.rectifications.get().attachments.count() == 2
    client.force_login(org.inspector)
    response = client.post(
        reverse("supervision:case_verify", args=[case.pk]), {"decision": "reject", "comment": ""}
    )
    assert response.status_code == 422
    assert b"This field is required." in response.content
    response = client.post(
        reverse("supervision:case_verify", args=[case.pk]), {"decision": "accept", "comment": "好"}
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED


def test_case_open_form_errors_stay_on_the_form(client, org, world):
    client.force_login(org.inspector)
    response = client.post(
        reverse("supervision:case_open", args=[world["finding_b"].pk]),
        {
            "company": org.company_b.pk,
            "department": org.department_a.pk,
            "deadline": "2020-01-01",
            "instructions": "整改",
        },
    )
    assert response.status_code == 422
    assert b"Not a department of the responsible company." in response.content
    assert b"The deadline cannot be in the past." in response.content
    assert not Case.objects.filter(finding=world["finding_b"]).exists()


def test_rule_edit_errors_stay_on_the_form(client, org, world):
    client.force_login(org.inspector)
    response = client.post(
        reverse("supervision:rule_edit", args=["threshold_clustering"]),
        {
            "p_band_percent": "80",
            "p_min_count": "3",
            "p_window_days": "90",
            "p_lookback_days": "3650",
            "version": "1",
        },
    )
    assert response.status_code == 422
    assert b"At most 50." in response.content


def test_filters_and_drill_down(client, org, world):
    client.force_login(org.inspector)
    url = reverse("supervision:finding_list")
    assert client.get(url).content.count(b'data-testid="finding-row"') == 2
    only_b = client.get(url, {"company": org.company_b.pk})
    assert only_b.content.count(b'data-testid="finding-row"') == 1
    assert client.get(url, {"status": "in_case"}).content.count(b'data-testid="finding-row"') == 1
    assert client.get(url, {"month": "2026-03", "rule": "self_approval", "severity": "high"})
    none = client.get(url, {"month": "2025-01"})
    assert none.content.count(b'data-testid="finding-row"') == 0


def test_list_query_budgets(client, org, world, django_assert_max_num_queries):
    client.force_login(org.inspector)
    for name in ("supervision:finding_list", "supervision:case_list", "supervision:dashboard"):
        client.get(reverse(name))  # warm the session
        with django_assert_max_num_queries(25):
            assert client.get(reverse(name)).status_code == 200


def test_monthly_excel(client, org, world):
    client.force_login(org.auditor)
    response = client.get(reverse("supervision:monthly_report_xlsx"), {"month": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="supervision-2026-03.xlsx"'
    import io

    import openpyxl

    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    assert workbook.sheetnames == ["Summary", "Findings", "Cases opened", "Cases closed", "Overdue"]
    rows = list(workbook["Findings"].iter_rows(values_only=True))
    assert len(rows) == 3  # the header and two findings
    assert list(workbook["Summary"].iter_rows(values_only=True))[3][:2] == ("Findings found", 2)


def test_monthly_pdf(client, org, world):
    import io

    import pypdf

    client.force_login(org.auditor)
    response = client.get(reverse("supervision:monthly_report_pdf"), {"month": "2026-03"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="supervision-2026-03.pdf"'
    pdf = pypdf.PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "Supervision monthly report 2026-03" in text
    assert "Page 2" in text  # the findings start on their own page
    for finding in Finding.objects.filter(first_seen_at__month=3):
        assert finding.subject_label[:12] in text.replace("\n", "")


def test_monthly_pdf_in_chinese(client, org, world):
    """The default language: the Chinese text is in the PDF (a font that has the glyphs)."""
    import io

    import pypdf
    from django.utils import translation

    client.force_login(org.auditor)
    with translation.override("zh-hans"):
        response = client.get(
            reverse("supervision:monthly_report_pdf"),
            {"month": "2026-03"},
            HTTP_ACCEPT_LANGUAGE="zh-hans",
        )
    text = "".join(
        page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages
    )
    assert "监督月报" in text.replace("\n", "")
