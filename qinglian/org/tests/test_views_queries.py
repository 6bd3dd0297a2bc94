"""Query budgets: a list page costs the same whatever the number of rows it shows."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from qinglian.org.factories import make_company, make_department, make_project, make_user

# Session (read and save), user, data scope (assignments, company paths), validating and
# rendering the filter choices, the count and the rows. The growth tests below are exact.
BUDGET = 15


def _queries(client, url: str, params: dict[str, object] | None = None) -> int:
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(context.captured_queries)


def _grow(org, count: int) -> None:
    """`count` more of everything in companies A and B, with heads, leaders and sub-departments."""
    for index in range(count):
        company = org.company_a if index % 2 else org.company_b
        person = make_user(company=company, phone=f"1390000{index:04d}")
        department = make_department(company=company, head_id=person.pk)
        make_department(company=company, parent_id=department.pk)
        make_project(company=company, leader=person, department_id=department.pk)
        make_company(parent=company)


@pytest.mark.parametrize(
    ("page", "params"),
    [
        ("org:company_list", {}),
        ("org:company_list", {"q": "公司"}),
        ("org:department_list", {}),
        ("org:department_list", {"company": "A"}),
        ("org:user_list", {}),
        ("org:user_list", {"company": "A", "department": "D", "q": "1"}),
        ("org:user_list", {"page": "2"}),
        ("org:project_list", {}),
        ("org:project_list", {"company": "A", "q": "工程"}),
    ],
)
@pytest.mark.parametrize("actor", ["inspector", "admin_a"])
def test_list_pages_do_not_grow_with_the_rows(
    client, org, django_assert_max_num_queries, page, params, actor
):
    client.force_login(getattr(org, actor))
    params = {
        name: {"A": org.company_a.pk, "D": org.department_a.pk}.get(value, value)
        for name, value in params.items()
    }
    url = reverse(page)
    with django_assert_max_num_queries(BUDGET):
        client.get(url, params)
    baseline = _queries(client, url, params)
    # Ten more of everything (five in each company, all on the first page): a query per row
    # would add five or ten to the count.
    _grow(org, 10)
    assert _queries(client, url, params) == baseline


@pytest.mark.parametrize(
    "page",
    ["org:company_detail", "org:user_detail", "org:project_detail"],
)
def test_detail_pages_do_not_grow_with_the_rows(client, org, page):
    client.force_login(org.admin_a)
    target = {
        "org:company_detail": org.company_a,
        "org:user_detail": org.handler_a,
        "org:project_detail": org.project_a,
    }[page]
    url = reverse(page, args=[target.pk])
    assert _queries(client, url) <= BUDGET  # the first page after login saves the session
    baseline = _queries(client, url)
    assert baseline <= BUDGET
    _grow(org, 10)
    assert _queries(client, url) == baseline


def test_user_list_pages_fifty_at_a_time(client, org):
    for _ in range(55):
        make_user(company=org.company_a)
    client.force_login(org.admin_a)
    first = client.get(reverse("org:user_list"))
    total = first.context["page_obj"].paginator.count
    assert len(first.context["page_obj"].object_list) == 50
    last = client.get(reverse("org:user_list"), {"page": "2"})
    assert len(last.context["page_obj"].object_list) == total - 50
    assert 'href="?page=2"' in first.content.decode()
