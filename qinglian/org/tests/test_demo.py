from io import StringIO

from django.core.management import call_command

from qinglian.audit.services import audit_chain_verify
from qinglian.org.enums import RoleCode
from qinglian.org.models import Company, Project, RoleAssignment, User
from qinglian.org.scopes import data_scope


def test_demo_load_builds_the_group_once_and_prints_a_login_per_role(db):
    out = StringIO()
    call_command("demo_load", stdout=out)
    assert Company.objects.count() == 5
    assert 38 <= User.objects.count() <= 45
    assert Project.objects.count() == 2
    held = set(RoleAssignment.objects.values_list("role__code", flat=True))
    assert held == set(RoleCode.values)
    text = out.getvalue()
    assert "Qinglian2026" in text
    for role in RoleCode:
        assert str(role.label) in text
    counts = (Company.objects.count(), User.objects.count(), RoleAssignment.objects.count())
    call_command("demo_load", stdout=StringIO())
    again = (Company.objects.count(), User.objects.count(), RoleAssignment.objects.count())
    assert again == counts
    assert audit_chain_verify().is_intact


def test_demo_inspector_is_group_wide_and_handlers_see_their_company(db):
    call_command("demo_load", stdout=StringIO())
    assert data_scope(User.objects.get(username="chenjianguo")).is_group_wide
    handler = User.objects.get(username="liuyang")
    assert data_scope(handler).read_company_ids == {handler.company_id}
    assert User.objects.get(username="liuyang").check_password("Qinglian2026")
