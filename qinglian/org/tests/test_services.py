import pytest

from qinglian.audit.models import AuditEvent
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.org import services
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_department, make_uscc
from qinglian.org.models import Company, RoleAssignment


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_company_create_audits_in_the_company_chain(org):
    company = services.company_create(
        actor=org.admin_group, code="C", name="丙公司", uscc=make_uscc(901), parent_id=org.group.pk
    )
    assert company.path == f"{org.group.path}{company.pk}/"
    assert company.depth == 1
    [event] = _events("org.company.created")[-1:]
    assert event.object_id == str(company.pk)
    assert event.actor_id == org.admin_group.pk
    assert event.chain.key == f"company:{company.pk}"
    assert event.changes["uscc"] == [None, make_uscc(901)]


def test_bad_uscc_is_refused_with_the_field_and_nothing_is_written(org, english):
    companies, events = Company.objects.count(), AuditEvent.objects.count()
    bad = make_uscc(902)[:-1] + ("0" if make_uscc(902)[-1] != "0" else "1")
    with pytest.raises(ValidationFailed) as refused:
        services.company_create(
            actor=org.admin_group, code="C", name="丙公司", uscc=bad, parent_id=org.group.pk
        )
    assert list(refused.value.fields) == ["uscc"]
    assert "check character" in refused.value.fields["uscc"][0]
    assert (Company.objects.count(), AuditEvent.objects.count()) == (companies, events)


def test_subsidiary_admin_cannot_create_under_the_group(org):
    before = AuditEvent.objects.count()
    with pytest.raises(NotFound):
        services.company_create(
            actor=org.admin_a, code="C", name="丙公司", uscc=make_uscc(903), parent_id=org.group.pk
        )
    assert AuditEvent.objects.count() == before


def test_inspector_reads_but_never_writes(org):
    before = AuditEvent.objects.count()
    with pytest.raises(PermissionDenied):
        services.company_update(actor=org.inspector, company_id=org.company_a.pk, address="x")
    with pytest.raises(PermissionDenied):
        services.role_assignment_grant(
            actor=org.inspector,
            user_id=org.handler_a.pk,
            role_code=RoleCode.FINANCE,
            company_id=org.company_a.pk,
        )
    org.company_a.refresh_from_db()
    assert org.company_a.address == ""
    assert AuditEvent.objects.count() == before


def test_update_records_only_changed_fields_and_checks_the_version(org):
    company = services.company_update(
        actor=org.admin_a, company_id=org.company_a.pk, expected_version=1, address="舟山"
    )
    assert company.version == 2
    assert _events("org.company.updated")[-1].changes == {"address": ["", "舟山"]}
    with pytest.raises(Conflict):
        services.company_update(
            actor=org.admin_a, company_id=org.company_a.pk, expected_version=1, address="宁波"
        )
    org.company_a.refresh_from_db()
    assert org.company_a.address == "舟山"


def test_department_cannot_move_under_its_own_child(org):
    child = make_department(company=org.company_a, parent_id=org.department_a.pk)
    assert child.path == f"{org.department_a.path}{child.pk}/"
    with pytest.raises(ValidationFailed) as refused:
        services.department_update(
            actor=org.admin_a, department_id=org.department_a.pk, parent_id=child.pk
        )
    assert "parent" in refused.value.fields


def test_moving_a_department_moves_its_subtree(org):
    child = make_department(company=org.company_a, parent_id=org.department_a.pk)
    other = make_department(company=org.company_a)
    services.department_update(
        actor=org.admin_a, department_id=org.department_a.pk, parent_id=other.pk
    )
    child.refresh_from_db()
    assert child.path == f"{other.path}{org.department_a.pk}/{child.pk}/"


def test_department_from_another_company_is_refused(org):
    with pytest.raises(ValidationFailed):
        services.user_update(
            actor=org.admin_a, user_id=org.handler_a.pk, department_id=org.department_b.pk
        )
    org.handler_a.refresh_from_db()
    assert org.handler_a.department_id == org.department_a.pk


def test_role_grant_and_revoke_are_audited_and_change_the_scope(org):
    assignment = services.role_assignment_grant(
        actor=org.admin_a,
        user_id=org.no_role.pk,
        role_code=RoleCode.FINANCE,
        company_id=org.company_a.pk,
    )
    assert _events("org.role_assignment.granted")[-1].changes["role"] == [None, "finance"]
    with pytest.raises(Conflict):
        services.role_assignment_grant(
            actor=org.admin_a,
            user_id=org.no_role.pk,
            role_code=RoleCode.FINANCE,
            company_id=org.company_a.pk,
        )
    services.role_assignment_revoke(actor=org.admin_a, assignment_id=assignment.pk)
    assert not RoleAssignment.objects.filter(pk=assignment.pk).exists()
    assert _events("org.role_assignment.revoked")[-1].changes["role"] == ["finance", None]


def test_nobody_makes_themselves_administrator(org):
    with pytest.raises(PermissionDenied):
        services.role_assignment_grant(
            actor=org.admin_group,
            user_id=org.admin_group.pk,
            role_code=RoleCode.IT_ADMIN,
            company_id=org.company_a.pk,
        )


def test_oversight_and_administration_are_segregated(org):
    with pytest.raises(ValidationFailed):
        services.role_assignment_grant(
            actor=org.admin_group,
            user_id=org.inspector.pk,
            role_code=RoleCode.IT_ADMIN,
            company_id=org.group.pk,
        )
    with pytest.raises(ValidationFailed):
        services.role_assignment_grant(
            actor=org.admin_group,
            user_id=org.admin_a.pk,
            role_code=RoleCode.AUDITOR,
            company_id=org.group.pk,
        )


def test_password_policy(org):
    with pytest.raises(ValidationFailed) as refused:
        services.user_password_reset(
            actor=org.admin_a, user_id=org.handler_a.pk, new_password="short"
        )
    assert "password" in refused.value.fields
    with pytest.raises(ValidationFailed):
        services.user_password_reset(
            actor=org.admin_a, user_id=org.handler_a.pk, new_password="onlylettersxyz"
        )
    services.user_password_reset(
        actor=org.admin_a, user_id=org.handler_a.pk, new_password="Harbour2026x"
    )
    org.handler_a.refresh_from_db()
    assert org.handler_a.check_password("Harbour2026x")
    assert _events("org.user.password_reset")[-1].changes == {"password": ["***", "***"]}


def test_project_dates_and_leader_company_are_checked(org):
    import datetime

    with pytest.raises(ValidationFailed) as refused:
        services.project_create(
            actor=org.admin_a,
            company_id=org.company_a.pk,
            code="PX",
            name="x",
            leader_id=org.handler_b.pk,
        )
    assert "leader" in refused.value.fields
    with pytest.raises(ValidationFailed):
        services.project_create(
            actor=org.admin_a,
            company_id=org.company_a.pk,
            code="PX",
            name="x",
            leader_id=org.handler_a.pk,
            start_date=datetime.date(2022, 1, 2),
            end_date=datetime.date(2022, 1, 1),
        )


def test_api_token_is_stored_hashed_and_revocable(org):
    issued = services.api_token_create(actor=org.handler_a, name="ERP")
    assert issued.secret.startswith("ql_")
    assert issued.secret not in issued.token.key_hash
    assert services.api_token_authenticate(issued.secret) == org.handler_a
    services.api_token_revoke(actor=org.handler_a, token_id=issued.token.pk)
    assert services.api_token_authenticate(issued.secret) is None
    with pytest.raises(NotFound):
        services.api_token_revoke(actor=org.handler_b, token_id=issued.token.pk)
