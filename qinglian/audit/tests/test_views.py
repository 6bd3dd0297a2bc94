"""Audit pages and API: the authorization matrix (anonymous, no role, handlers of A and B, IT
admin of A, group IT admin, inspector, auditor), what each page shows, the verification run."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from qinglian.audit.models import AuditChain, AuditEvent
from qinglian.audit.services import chain_key
from qinglian.audit.views import change_rows, trail_url
from qinglian.org.models import Company
from qinglian.org.services import company_update

from .test_services_chain import _bypass_guards

WHO = [
    "anonymous",
    "no_role",
    "handler_a",
    "handler_b",
    "admin_a",
    "admin_group",
    "inspector",
    "auditor",
]
NO_AUDIT_ROLE = {"no_role", "handler_a", "handler_b"}
SEES_ALL = {"admin_group", "inspector", "auditor"}
MAY_VERIFY = {"inspector", "auditor"}


def client_for(org: Any, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(getattr(org, who))
    return client


def assert_login_redirect(response: Any, url: str) -> None:
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("login")
    assert parse_qs(location.query) == {"next": [url]}


def assert_api_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields", "request_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["request_id"] == response["X-Request-ID"]


def event_of(company: Company) -> AuditEvent:
    return AuditEvent.objects.filter(chain__company=company).order_by("seq")[0]


def trail_of(event: AuditEvent) -> str:
    return trail_url(event.object_type, event.object_id)


def page_urls(org: Any) -> dict[str, str]:
    event_a, event_b = event_of(org.company_a), event_of(org.company_b)
    return {
        "list": reverse("audit:event_list"),
        "detail_a": reverse("audit:event_detail", args=[event_a.pk]),
        "detail_b": reverse("audit:event_detail", args=[event_b.pk]),
        "trail_a": trail_of(event_a),
        "trail_b": trail_of(event_b),
        "verify": reverse("audit:verify"),
    }


def expected_page_status(who: str, page: str) -> int:
    if who in NO_AUDIT_ROLE:
        return 403
    if page == "verify":
        return 200 if who in MAY_VERIFY else 403
    if who == "admin_a" and page.endswith("_b"):
        return 404
    return 200


# ---------------------------------------------------------------- pages: authorization


@pytest.mark.parametrize("who", WHO)
def test_page_matrix(org, who):
    client = client_for(org, who)
    for page, url in page_urls(org).items():
        response = client.get(url)
        if who == "anonymous":
            assert_login_redirect(response, url)
            continue
        assert response.status_code == expected_page_status(who, page), (page, url)


@pytest.mark.parametrize("who", WHO)
def test_verify_post_matrix(org, who):
    url = reverse("audit:verify")
    before = AuditEvent.objects.count()
    response = client_for(org, who).post(url)
    if who == "anonymous":
        assert_login_redirect(response, url)
    elif who in MAY_VERIFY:
        assert response.status_code == 200
        assert AuditEvent.objects.count() == before + 1
        return
    else:
        assert response.status_code == 403
    assert AuditEvent.objects.count() == before  # a refusal changes nothing, records nothing


@pytest.mark.parametrize("who", ["admin_a", *sorted(SEES_ALL)])
def test_list_shows_only_the_chains_in_scope(org, who):
    response = client_for(org, who).get(reverse("audit:event_list"))
    shown = {event.pk for event in response.context["page_obj"].paginator.object_list}
    if who == "admin_a":
        expected = set(AuditEvent.objects.filter(chain__company=org.company_a).values_list("pk"))
    else:
        expected = set(AuditEvent.objects.values_list("pk"))
    assert shown == {pk for (pk,) in expected}
    assert response.context["page_obj"].paginator.count == len(expected)


def test_trail_without_audit_role_is_refused_even_without_parameters(org):
    assert client_for(org, "no_role").get(reverse("audit:object_trail")).status_code == 403
    lookup = client_for(org, "inspector").get(reverse("audit:object_trail"))
    assert lookup.status_code == 200
    assert b'data-testid="trail-lookup"' in lookup.content


def test_unknown_event_and_unknown_object_are_not_found(org):
    client = client_for(org, "inspector")
    assert client.get(reverse("audit:event_detail", args=[999999])).status_code == 404
    assert client.get(trail_url("org.company", "999999")).status_code == 404


# ---------------------------------------------------------------- API: authorization


API_EVENTS = "/api/audit/events"


@pytest.mark.parametrize("who", WHO)
def test_api_matrix(org, who):
    client = client_for(org, who)
    event_a, event_b = event_of(org.company_a), event_of(org.company_b)
    before = AuditEvent.objects.count()
    responses = {
        "list": client.get(API_EVENTS),
        "detail_a": client.get(f"{API_EVENTS}/{event_a.pk}"),
        "detail_b": client.get(f"{API_EVENTS}/{event_b.pk}"),
        "verify": client.post("/api/audit/verify"),
    }
    for name, response in responses.items():
        if who == "anonymous":
            assert_api_error(response, 401, "not_authenticated")
            continue
        status = expected_page_status(who, name)
        if status == 200:
            assert response.status_code == 200, (name, response.content)
        else:
            code = {403: "permission_denied", 404: "not_found"}[status]
            assert_api_error(response, status, code)
    if who == "anonymous" or who in NO_AUDIT_ROLE:
        return
    listed = responses["list"].json()
    if who == "admin_a":
        chains = {item["chain"] for item in listed["items"]}
        assert chains == {chain_key(org.company_a.pk)}
        assert listed["count"] == AuditEvent.objects.filter(chain__company=org.company_a).count()
    else:
        assert listed["count"] == before
    assert responses["detail_a"].json()["hash"] == event_a.hash
    if who in MAY_VERIFY:
        body = responses["verify"].json()
        assert body["intact"] is True
        assert body["breaks"] == []
        record = AuditEvent.objects.get(action="audit.chain.verified")
        assert record.actor_id == getattr(org, who).pk
        assert record.changes["intact"] is True
    else:
        assert not AuditEvent.objects.filter(action="audit.chain.verified").exists()


# ---------------------------------------------------------------- list page


def test_list_filters_by_action_object_company_and_actor(org):
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="新地址 1")
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="新地址 2")
    client = client_for(org, "inspector")

    def shown(**query: Any) -> list[AuditEvent]:
        response = client.get(reverse("audit:event_list"), query)
        assert response.status_code == 200
        return [event for event, _label in response.context["rows"]]

    updated = shown(action="org.company.upd")
    assert [e.changes["address"][1] for e in updated] == ["新地址 2", "新地址 1"]  # newest first
    assert {e.action for e in shown(object_type="org.company")} == {
        "org.company.created",
        "org.company.updated",
    }
    by_object = shown(object_type="org.company", object_id=str(org.company_b.pk))
    assert [e.action for e in by_object] == ["org.company.created"]
    by_company = shown(company=org.company_b.pk)
    assert by_company and {e.chain.company_id for e in by_company} == {org.company_b.pk}
    by_actor = shown(actor=org.admin_a.pk)
    assert [e.action for e in by_actor] == ["org.company.updated", "org.company.updated"]
    # A value that does not parse filters nothing instead of failing.
    assert len(shown(company="x")) == len(shown())


def test_list_rows_link_to_their_event(org):
    response = client_for(org, "auditor").get(reverse("audit:event_list"))
    html = response.content.decode()
    for event, _label in response.context["rows"]:
        assert f'href="{reverse("audit:event_detail", args=[event.pk])}"' in html
    assert "甲公司" in html  # chains are labelled with the company name


def test_list_paginates_and_keeps_the_filters(org):
    for number in range(60):
        company_update(actor=org.admin_a, company_id=org.company_a.pk, address=f"地址{number}")
    client = client_for(org, "inspector")
    first = client.get(reverse("audit:event_list"), {"action": "org.company.updated"})
    assert first.context["page_obj"].paginator.count == 60
    assert len(first.context["rows"]) == 50
    assert "?action=org.company.updated&amp;page=2" in first.content.decode()
    second = client.get(reverse("audit:event_list"), {"action": "org.company.updated", "page": "2"})
    addresses = [e.changes["address"][1] for e, _label in second.context["rows"]]
    assert addresses == [f"地址{n}" for n in range(9, -1, -1)]


# session, user, scope (2), company names, count, page, the menu's company, session save (3)
QUERY_BUDGET = 11


def test_list_query_count_does_not_grow_with_the_rows(org, django_assert_max_num_queries):
    client = client_for(org, "inspector")
    url = reverse("audit:event_list")
    client.get(url)  # session and scope caches warm alike for both runs
    with django_assert_max_num_queries(QUERY_BUDGET) as few:
        client.get(url, {"object_type": "org.company"})
    for number in range(40):
        company_update(actor=org.admin_a, company_id=org.company_a.pk, address=f"地址{number}")
    with django_assert_max_num_queries(QUERY_BUDGET) as many:
        response = client.get(url)
    assert len(response.context["rows"]) == 50
    assert len(many.captured_queries) == len(few.captured_queries)


def test_list_htmx_request_gets_only_the_results(org):
    client = client_for(org, "inspector")
    url = reverse("audit:event_list")
    whole = client.get(url)
    part = client.get(url, headers={"HX-Request": "true", "HX-Target": "audit-results"})
    assert part.status_code == 200
    assert part.content.decode().lstrip().startswith('<div id="audit-results"')
    assert b"<html" not in part.content
    assert b"<html" in whole.content
    assert "HX-Target" in part["Vary"]


# ---------------------------------------------------------------- detail and trail


def test_detail_shows_every_field_and_links_to_the_trail(org):
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="新地址")
    event = AuditEvent.objects.get(action="org.company.updated")
    response = client_for(org, "inspector").get(reverse("audit:event_detail", args=[event.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    for text in [event.action, event.hash, event.prev_hash, event.chain.key, "甲管理员", "新地址"]:
        assert text in html
    assert response.context["changes"] == change_rows({"address": ["", "新地址"]})
    assert f'href="{trail_of(event)}"'.replace("&", "&amp;") in html


def test_detail_shows_request_id_and_address_of_a_web_change(org, english):
    # The verification run is a web request: its event carries the request id and address.
    client = client_for(org, "auditor")
    response = client.post(reverse("audit:verify"), headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="audit.chain.verified")
    assert (event.request_id, event.ip_address) == ("req-12345678", "127.0.0.1")
    detail = client.get(reverse("audit:event_detail", args=[event.pk]))
    assert detail.context["chain_label"] == "System"  # verification runs are company-less
    html = detail.content.decode()
    assert "req-12345678" in html
    assert "127.0.0.1" in html
    assert 'data-testid="trail-link"' not in html  # no single object to follow


def test_trail_is_the_whole_history_oldest_first(org):
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="一号路")
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="二号路")
    url = trail_url("org.company", str(org.company_a.pk))
    response = client_for(org, "inspector").get(url)
    assert response.status_code == 200
    entries = response.context["entries"]
    assert [event.action for event, _rows in entries] == [
        "org.company.created",
        "org.company.updated",
        "org.company.updated",
    ]
    last_rows = entries[-1][1]
    assert [(r.field, r.before, r.after) for r in last_rows] == [("address", "一号路", "二号路")]
    html = response.content.decode()
    assert html.index("一号路") < html.index("二号路")
    assert "甲管理员" in html


def test_trail_query_count_does_not_grow_with_the_history(org, django_assert_max_num_queries):
    client = client_for(org, "inspector")
    url = trail_url("org.company", str(org.company_a.pk))
    client.get(url)
    with django_assert_max_num_queries(QUERY_BUDGET) as short:
        client.get(url)
    for number in range(30):
        company_update(actor=org.admin_a, company_id=org.company_a.pk, address=f"地址{number}")
    with django_assert_max_num_queries(QUERY_BUDGET) as long:
        response = client.get(url)
    assert len(response.context["entries"]) == 31
    assert len(long.captured_queries) == len(short.captured_queries)


def test_trail_of_another_company_is_not_found_for_its_administrator(org):
    client = client_for(org, "admin_a")
    assert client.get(trail_url("org.company", str(org.company_a.pk))).status_code == 200
    assert client.get(trail_url("org.company", str(org.company_b.pk))).status_code == 404


def test_change_rows_renders_pairs_and_plain_values():
    rows = change_rows({"name": ["旧", "新"], "count": 3, "flags": [1, 2, 3], "gone": [True, None]})
    assert [(r.field, r.before, r.after, r.is_pair) for r in rows] == [
        ("name", "旧", "新", True),
        ("count", None, "3", False),
        ("flags", None, "[1, 2, 3]", False),
        ("gone", "true", None, True),
    ]
    assert change_rows({}) == []


# ---------------------------------------------------------------- verify page


def test_verify_get_shows_the_button_and_runs_nothing(org):
    before = AuditEvent.objects.count()
    response = client_for(org, "inspector").get(reverse("audit:verify"))
    assert b'data-testid="verify-button"' in response.content
    assert b'hx-post="/audit/verify/"' in response.content
    assert response.context["report"] is None
    assert AuditEvent.objects.count() == before


def test_verify_intact_is_reported_and_recorded(org, english):
    chains, events = AuditChain.objects.count(), AuditEvent.objects.count()
    response = client_for(org, "inspector").post(reverse("audit:verify"))
    html = response.content.decode()
    assert 'data-testid="verify-intact"' in html
    assert f"{chains} chains, {events} events" in html
    assert "alert-success" in html
    record = AuditEvent.objects.get(action="audit.chain.verified")
    assert record.chain.key == "system"
    assert record.actor_id == org.inspector.pk
    assert record.changes == {"intact": True, "chains": chains, "events": events, "breaks": []}


def test_verify_htmx_swaps_in_only_the_result(org):
    response = client_for(org, "auditor").post(
        reverse("audit:verify"), headers={"HX-Request": "true", "HX-Target": "verify-result"}
    )
    html = response.content.decode().strip()
    assert html.startswith('<div id="verify-result"')
    assert "<html" not in html
    assert 'data-testid="verify-intact"' in html


def test_verify_names_every_broken_chain_in_red(org, english):
    chain_a = AuditChain.objects.get(key=chain_key(org.company_a.pk))
    chain_b = AuditChain.objects.get(key=chain_key(org.company_b.pk))
    altered = AuditEvent.objects.get(chain=chain_a, seq=2)
    _bypass_guards()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET object_repr = %s WHERE id = %s", ["篡改", altered.pk]
        )
        cursor.execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq = 3", [chain_b.pk])
    response = client_for(org, "inspector").post(
        reverse("audit:verify"), headers={"HX-Request": "true", "HX-Target": "verify-result"}
    )
    html = response.content.decode()
    assert 'data-testid="verify-broken"' in html
    assert "alert-danger" in html
    assert "2 chains are broken" in html
    assert f"甲公司 ({chain_a.key}), first bad sequence 2" in html
    assert f"乙公司 ({chain_b.key}), first bad sequence 3" in html
    assert f'href="{reverse("audit:event_detail", args=[altered.pk])}"' in html
    record = AuditEvent.objects.get(action="audit.chain.verified")
    assert record.changes["intact"] is False
    assert len(record.changes["breaks"]) == 2
