"""The data-scope matrix at the selector layer every page and API uses."""

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser

from qinglian.core.errors import NotFound
from qinglian.org import selectors
from qinglian.org.enums import RoleCode
from qinglian.org.factories import grant, make_company, make_user
from qinglian.org.scopes import data_scope


def _visible_company_codes(user):
    return sorted(c.code for c in selectors.company_list(user=user))


def test_company_list_matrix(org):
    assert _visible_company_codes(AnonymousUser()) == []
    assert _visible_company_codes(org.no_role) == []
    assert _visible_company_codes(org.handler_b) == ["B"]
    assert _visible_company_codes(org.handler_a) == ["A"]
    assert _visible_company_codes(org.admin_a) == ["A"]
    assert _visible_company_codes(org.inspector) == ["A", "B", "G"]
    assert _visible_company_codes(org.auditor) == ["A", "B", "G"]


@pytest.mark.parametrize(
    ("who", "sees_a"),
    [("no_role", False), ("handler_b", False), ("handler_a", True), ("inspector", True)],
)
def test_out_of_scope_answers_not_found_exactly_like_missing(org, who, sees_a):
    user = getattr(org, who)
    checks: list[tuple[Any, dict[str, int]]] = [
        (selectors.company_access, {"company_id": org.company_a.pk}),
        (selectors.department_access, {"department_id": org.department_a.pk}),
        (selectors.user_access, {"user_id": org.handler_a.pk}),
        (selectors.project_access, {"project_id": org.project_a.pk}),
    ]
    for access, kwargs in checks:
        if sees_a:
            assert access(user=user, **kwargs).pk == next(iter(kwargs.values()))
        else:
            with pytest.raises(NotFound) as out_of_scope:
                access(user=user, **kwargs)
            with pytest.raises(NotFound) as missing:
                access(user=user, **dict.fromkeys(kwargs, 999_999))
            assert str(out_of_scope.value) == str(missing.value)


def test_subtree_assignment_covers_companies_added_later(org):
    deep = make_company(parent=org.company_a, name="甲子公司", code="A1")
    assert data_scope(org.admin_a).can_read(deep.pk)
    assert not data_scope(org.admin_a).can_read(org.company_b.pk)


def test_assignment_without_subtree_covers_only_that_company(org):
    child = make_company(parent=org.company_a, name="甲子公司", code="A1")
    from qinglian.core.actors import SYSTEM_ACTOR
    from qinglian.org.services import role_assignment_grant

    user = make_user(company=org.company_a)
    role_assignment_grant(
        actor=SYSTEM_ACTOR,
        user_id=user.pk,
        role_code=RoleCode.FINANCE,
        company_id=org.company_a.pk,
        include_subtree=False,
    )
    scope = data_scope(user)
    assert scope.can_read(org.company_a.pk)
    assert not scope.can_read(child.pk)


def test_inactive_user_sees_nothing(org):
    org.inspector.is_active = False
    assert selectors.company_list(user=org.inspector).count() == 0


def test_roles_are_per_company(org):
    grant(org.handler_a, RoleCode.FINANCE, org.company_b)
    scope = data_scope(org.handler_a)
    assert scope.has_role(RoleCode.FINANCE, org.company_b.pk)
    assert not scope.has_role(RoleCode.FINANCE, org.company_a.pk)
    assert _visible_company_codes(org.handler_a) == ["A", "B"]


def test_scope_is_computed_once_per_user_object(org, django_assert_num_queries):
    user = type(org.inspector).objects.get(pk=org.inspector.pk)
    with django_assert_num_queries(2):
        data_scope(user)
        data_scope(user)
        data_scope(user)
