"""What the pages show: trees, search and filters, buttons by role, and the house rules for
markup (no inline script or style, no other hosts, tables that stack on a phone)."""

from __future__ import annotations

import re

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, reverse

from qinglian.org import auth_urls
from qinglian.org.enums import RoleCode
from qinglian.org.factories import grant, make_company, make_department, make_user


def _text(response) -> str:
    assert response.status_code == 200
    return response.content.decode()


# ---------------------------------------------------------------- trees


def test_company_list_is_a_tree_in_path_order(client, org):
    a1 = make_company(parent=org.company_a, name="甲一公司")
    client.force_login(org.inspector)
    rows = client.get(reverse("org:company_list")).context["rows"]
    companies = [company for company, _indent in rows]
    assert companies.index(org.group) == 0
    assert companies.index(a1) == companies.index(org.company_a) + 1
    indents = {company: indent for company, indent in rows}
    assert (len(indents[org.group]), len(indents[org.company_a]), len(indents[a1])) == (0, 1, 2)


def test_company_list_indents_relative_to_the_top_of_the_scope(client, org):
    make_company(parent=org.company_a, name="甲一公司")
    client.force_login(org.admin_a)
    rows = client.get(reverse("org:company_list")).context["rows"]
    assert [len(indent) for _company, indent in rows] == [0, 1]


def test_company_search(client, org):
    client.force_login(org.inspector)
    response = client.get(reverse("org:company_list"), {"q": "乙"})
    assert [company for company, _indent in response.context["rows"]] == [org.company_b]


def test_department_list_is_a_tree_per_company(client, org):
    child = make_department(company=org.company_a, name="一组", parent_id=org.department_a.pk)
    client.force_login(org.inspector)
    response = client.get(reverse("org:department_list"), {"company": org.company_a.pk})
    rows = response.context["rows"]
    assert [(department, len(indent)) for department, indent in rows] == [
        (org.department_a, 0),
        (child, 1),
    ]
    page = _text(client.get(reverse("org:department_list")))
    assert page.count('scope="colgroup"') == 2  # one heading row per company


# ---------------------------------------------------------------- search, filters


@pytest.mark.parametrize(
    "query",
    ["甲经办", "handler_a", "E99001", "13612345678"],
    ids=["name", "username", "number", "phone"],
)
def test_user_search_fields(client, org, query):
    person = make_user(
        company=org.company_a,
        username="handler_a2",
        name="甲经办二",
        employee_number="E99001",
        phone="13612345678",
    )
    client.force_login(org.inspector)
    found = list(client.get(reverse("org:user_list"), {"q": query}).context["page_obj"])
    assert person in found
    assert org.handler_b not in found


def test_user_filters_by_company_and_department(client, org):
    client.force_login(org.inspector)
    by_company = client.get(reverse("org:user_list"), {"company": org.company_b.pk})
    assert {p.company_id for p in by_company.context["page_obj"]} == {org.company_b.pk}
    by_department = client.get(
        reverse("org:user_list"),
        {"company": org.company_a.pk, "department": org.department_a.pk},
    )
    assert list(by_department.context["page_obj"]) == [org.handler_a]
    # The department choices follow the chosen company.
    choices = set(by_department.context["form"].fields["department"].queryset)
    assert choices == {org.department_a}


def test_project_filters(client, org):
    client.force_login(org.inspector)
    response = client.get(reverse("org:project_list"), {"company": org.company_b.pk})
    assert list(response.context["page_obj"]) == []
    response = client.get(reverse("org:project_list"), {"q": org.project_a.code})
    assert list(response.context["page_obj"]) == [org.project_a]


def test_invalid_filter_values_are_ignored(client, org):
    client.force_login(org.handler_a)
    response = client.get(
        reverse("org:user_list"), {"company": "abc", "department": "999999", "page": "x"}
    )
    assert {p.company_id for p in response.context["page_obj"]} == {org.company_a.pk}


# ---------------------------------------------------------------- buttons by role


CREATE_BUTTONS = {
    "org:department_list": "add-department",
    "org:user_list": "add-user",
    "org:project_list": "add-project",
}


@pytest.mark.parametrize("page", sorted(CREATE_BUTTONS))
def test_create_buttons_only_for_administrators(client, org, page):
    marker = CREATE_BUTTONS[page]
    client.force_login(org.admin_a)
    assert marker in _text(client.get(reverse(page)))
    # Filtering on a company one reads but does not administer shows no button.
    grant(org.admin_a, RoleCode.HANDLER, org.company_b)
    client.force_login(org.admin_a)
    assert marker not in _text(client.get(reverse(page), {"company": org.company_b.pk}))
    for reader in (org.handler_a, org.inspector, org.no_role):
        client.force_login(reader)
        assert marker not in _text(client.get(reverse(page)))


def test_company_detail_buttons_and_contents(client, org):
    url = reverse("org:company_detail", args=[org.company_a.pk])
    client.force_login(org.admin_a)
    response = client.get(url)
    page = _text(response)
    for marker in ("edit-company", "add-subsidiary", "add-department", "add-project", "add-user"):
        assert marker in page
    assert org.department_a.name in page and org.project_a.name in page
    assert response.context["user_count"] == 3  # handler_a, no_role, admin_a
    trail = (
        f"{reverse('audit:object_trail')}?object_type=org.company&amp;object_id={org.company_a.pk}"
    )
    assert trail in page

    client.force_login(org.inspector)
    page = _text(client.get(url))
    assert "edit-company" not in page and "add-department" not in page
    assert trail in page  # oversight reads the trail

    client.force_login(org.handler_a)
    page = _text(client.get(url))
    assert "edit-company" not in page and "audit-trail-link" not in page


def test_company_list_offers_subsidiaries_only_where_administered(client, org):
    client.force_login(org.admin_group)
    page = _text(client.get(reverse("org:company_list")))
    assert page.count('data-testid="add-subsidiary"') == 3
    client.force_login(org.handler_a)
    assert "add-subsidiary" not in _text(client.get(reverse("org:company_list")))


# ---------------------------------------------------------------- the audit link is optional


def _stub(request: HttpRequest) -> HttpResponse:
    return HttpResponse("stub")


urlpatterns = [  # this module doubles as a URLconf without the audit trail's object page
    path("", _stub, name="home"),
    path("accounts/", include(auth_urls)),
    path("org/", include("qinglian.org.urls")),
    path(
        "audit/",
        include(([path("", _stub, name="event_list")], "audit"), namespace="audit"),
    ),
    path("i18n/", include("django.conf.urls.i18n")),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("page", ["company_detail", "user_detail", "project_detail"])
def test_detail_pages_render_without_the_audit_object_page(client, org, page):
    target = {
        "company_detail": org.company_a,
        "user_detail": org.handler_a,
        "project_detail": org.project_a,
    }[page]
    client.force_login(org.inspector)
    assert "audit-trail-link" not in _text(client.get(reverse(f"org:{page}", args=[target.pk])))


# ---------------------------------------------------------------- markup rules


def _all_pages(org) -> list[str]:
    return [
        reverse("org:company_list"),
        reverse("org:company_detail", args=[org.company_a.pk]),
        reverse("org:company_edit", args=[org.company_a.pk]),
        reverse("org:company_create", args=[org.company_a.pk]),
        reverse("org:department_list"),
        reverse("org:department_create", args=[org.company_a.pk]),
        reverse("org:department_edit", args=[org.department_a.pk]),
        reverse("org:user_list"),
        reverse("org:user_detail", args=[org.handler_a.pk]),
        reverse("org:user_create", args=[org.company_a.pk]),
        reverse("org:user_edit", args=[org.handler_a.pk]),
        reverse("org:project_list"),
        reverse("org:project_detail", args=[org.project_a.pk]),
        reverse("org:project_create", args=[org.company_a.pk]),
        reverse("org:project_edit", args=[org.project_a.pk]),
    ]


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)
OTHER_HOST = re.compile(r"""(?:href|src|action)=["'](?:https?:)?//""", re.IGNORECASE)
TD_TAG = re.compile(r"<td\b[^>]*>")


def test_pages_follow_the_content_security_policy_and_stack_on_phones(client, org):
    client.force_login(org.admin_a)
    for url in _all_pages(org):
        page = _text(client.get(url))
        assert not INLINE_SCRIPT.search(page), url
        assert not INLINE_STYLE.search(page), url
        assert not OTHER_HOST.search(page), url
        assert 'name="viewport"' in page
        for tag in TD_TAG.findall(page):
            assert "data-label=" in tag or "colspan=" in tag, (url, tag)
        if "<table" in page:
            assert "table-responsive-stack" in page, url
