"""The supervision API: an authorization matrix over every endpoint, the error shape, and the
closed loop through the API."""

import json

import pytest
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.org.models import User
from qinglian.supervision.enums import CaseStatus, FindingStatus
from qinglian.supervision.models import Case, Finding, Run
from qinglian.supervision.tests.conftest import OVERSIGHT, WHO, user_of

BASE = "/api/supervision"
pytestmark = pytest.mark.usefixtures("english")


def client_for(org, who):
    client = Client()
    user = user_of(org, who)
    if user is not None:
        client.force_login(user)
    return client


def post(client, url, body=None):
    return client.post(url, data=json.dumps(body or {}), content_type="application/json")


def error_code(response):
    return response.json()["error"]["code"]


def read_status(who):
    if who == "anonymous":
        return 401
    return 200 if who in OVERSIGHT else 403


@pytest.mark.parametrize("who", WHO)
@pytest.mark.parametrize(
    "path", ["/rules", "/rules/self_approval", "/runs", "/findings", "/dashboard"]
)
def test_oversight_reads(org, world, who, path):
    response = client_for(org, who).get(BASE + path)
    assert response.status_code == read_status(who), response.content
    if response.status_code != 200:
        assert "error" in response.json()


@pytest.mark.parametrize("who", WHO)
def test_finding_and_case_reads(org, world, who):
    client = client_for(org, who)
    finding = client.get(f"{BASE}/findings/{world['finding_a'].pk}")
    expected = {"anonymous": 401}.get(who, 200 if who in OVERSIGHT else 404)
    assert finding.status_code == expected
    if expected == 200:
        body = finding.json()
        assert body["rule_code"] == "self_approval"
        assert body["evidence"]["parameters"]["lookback_days"] == 365
        assert body["case_id"] == world["case"].pk
    case = client.get(f"{BASE}/cases/{world['case'].pk}")
    expected = {"anonymous": 401, "manager_a": 200}.get(who, 200 if who in OVERSIGHT else 404)
    assert case.status_code == expected
    if expected == 200:
        assert case.json()["rectifications"][0]["attachments"][0]["name"] == "a.pdf"
    listing = client.get(f"{BASE}/cases")
    if who == "anonymous":
        assert listing.status_code == 401
    else:
        assert listing.json()["count"] == (1 if expected == 200 else 0)


@pytest.mark.parametrize("who", WHO)
def test_triage_endpoints(org, world, who):
    client = client_for(org, who)
    finding = world["finding_b"]
    events = AuditEvent.objects.count()
    response = post(client, f"{BASE}/findings/{finding.pk}/dismiss", {"reason": "误报"})
    expected = {"anonymous": 401, "auditor": 403, "inspector": 200}.get(who, 404)
    assert response.status_code == expected
    finding.refresh_from_db()
    if expected == 200:
        assert response.json()["status"] == FindingStatus.DISMISSAL_REQUESTED
        again = post(client, f"{BASE}/findings/{finding.pk}/dismissal/confirm")
        assert again.status_code == 403
        assert error_code(again) == "supervision.four_eyes"
        return
    assert finding.status == FindingStatus.OPEN
    assert AuditEvent.objects.count() == events
    response = post(
        client,
        f"{BASE}/findings/{finding.pk}/case",
        {"company_id": org.company_b.pk, "deadline": "2026-04-30", "instructions": "整改"},
    )
    assert response.status_code == expected
    assert not Case.objects.filter(finding=finding).exists()


def test_case_through_the_api(org, flows, world):
    inspector, second = client_for(org, "inspector"), Client()
    second.force_login(flows.inspector_2)
    finding = world["finding_b"]
    response = post(
        inspector,
        f"{BASE}/findings/{finding.pk}/case",
        {"company_id": org.company_b.pk, "deadline": "2026-04-30", "instructions": "整改"},
    )
    assert response.status_code == 201, response.content
    case_id = response.json()["id"]
    assert response.json()["status"] == CaseStatus.RECTIFYING
    unit = Client()
    unit.force_login(User.objects.get(username="manager_b"))
    response = unit.post(
        f"{BASE}/cases/{case_id}/rectification",
        {"text": "已整改", "files": [__import__("io").BytesIO(b"x")]},
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == CaseStatus.VERIFYING
    response = post(second, f"{BASE}/cases/{case_id}/verify", {"accepted": False})
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"comment": ["This field is required."]}
    response = post(second, f"{BASE}/cases/{case_id}/verify", {"accepted": True})
    assert response.status_code == 200
    assert response.json()["status"] == CaseStatus.CLOSED
    assert [event["kind"] for event in response.json()["events"]] == [
        "opened",
        "rectification_submitted",
        "accepted",
    ]


@pytest.mark.parametrize("who", WHO)
def test_rule_update_and_run_endpoints(org, world, who):
    client = client_for(org, who)
    response = client.put(
        f"{BASE}/rules/threshold_clustering",
        data=json.dumps({"parameters": {"band_percent": "8"}, "expected_version": 1}),
        content_type="application/json",
    )
    if who == "inspector":
        assert response.status_code == 422  # every parameter is required
        assert set(response.json()["error"]["fields"]) == {
            "min_count",
            "window_days",
            "lookback_days",
            "group_thresholds",
            "template_codes",
        }
        response = client.put(
            f"{BASE}/rules/threshold_clustering",
            data=json.dumps(
                {
                    "parameters": {
                        "band_percent": "8",
                        "min_count": 3,
                        "window_days": 90,
                        "lookback_days": 3650,
                        "group_thresholds": ["expense_claim:5000"],
                        "template_codes": [],
                    },
                    "reason": "收紧",
                }
            ),
            content_type="application/json",
        )
        assert response.status_code == 200
        assert response.json()["version"] == 2
    else:
        assert response.status_code == (401 if who == "anonymous" else 403)
    runs = Run.objects.count()
    response = post(client, f"{BASE}/runs", {"rules": ["self_approval"]})
    expected = {"anonymous": 401, "inspector": 201, "inspector_a": 201}.get(who, 403)
    assert response.status_code == expected
    assert Run.objects.count() == runs + (expected == 201)
    if expected == 201:
        assert response.json()["seen_again_count"] == 2


@pytest.mark.parametrize("who", WHO)
def test_document_risks(org, world, who):
    request_id = Finding.objects.get(pk=world["finding_a"].pk).subject_id
    client = client_for(org, who)
    response = client.get(
        f"{BASE}/risks", {"document_type": "approvals.request", "document_id": request_id}
    )
    # Whoever may open the request (its requester, its approvers, the oversight roles).
    expected = {"anonymous": 401, "handler_a": 200}.get(who, 200 if who in OVERSIGHT else 404)
    assert response.status_code == expected
    if expected == 200:
        assert [risk["rule_code"] for risk in response.json()] == ["self_approval"]
    other = client.get(f"{BASE}/risks", {"document_type": "org.company", "document_id": "1"})
    assert other.status_code == read_status(who)


def test_unknown_rule_and_finding(org, world):
    client = client_for(org, "inspector")
    assert client.get(f"{BASE}/rules/nope").status_code == 404
    assert error_code(client.get(f"{BASE}/findings/999999")) == "not_found"
