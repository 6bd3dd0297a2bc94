"""Test data through the services, so trees, paths and the audit trail are always real."""

from __future__ import annotations

import itertools
from typing import Any

from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.uscc import check_character

from . import services
from .models import Company, Department, Project, RoleAssignment, User

_serial = itertools.count(1)
PASSWORD = "Testing12345"


def make_uscc(serial: int | None = None) -> str:
    first17 = f"91330100MA2T{serial if serial is not None else next(_serial):05d}"
    return first17 + check_character(first17)


def make_company(
    *, parent: Company | None = None, name: str | None = None, **extra: Any
) -> Company:
    serial = next(_serial)
    if parent is None:
        parent = Company.objects.filter(parent__isnull=True).first()
    return services.company_create(
        actor=SYSTEM_ACTOR,
        code=extra.pop("code", f"C{serial}"),
        name=name or f"测试公司{serial}",
        uscc=extra.pop("uscc", make_uscc(serial)),
        parent_id=parent.pk if parent else None,
        **extra,
    )


def make_department(*, company: Company, name: str | None = None, **extra: Any) -> Department:
    serial = next(_serial)
    return services.department_create(
        actor=SYSTEM_ACTOR,
        company_id=company.pk,
        code=extra.pop("code", f"D{serial}"),
        name=name or f"部门{serial}",
        **extra,
    )


def make_user(
    *,
    company: Company,
    roles: tuple[str, ...] = (),
    role_company: Company | None = None,
    department: Department | None = None,
    username: str | None = None,
    **extra: Any,
) -> User:
    serial = next(_serial)
    user = services.user_create(
        actor=SYSTEM_ACTOR,
        username=username or f"user{serial}",
        employee_number=extra.pop("employee_number", f"E{serial:05d}"),
        name=extra.pop("name", f"员工{serial}"),
        company_id=company.pk,
        department_id=department.pk if department else None,
        password=extra.pop("password", PASSWORD),
        **extra,
    )
    for role in roles:
        services.role_assignment_grant(
            actor=SYSTEM_ACTOR,
            user_id=user.pk,
            role_code=role,
            company_id=(role_company or company).pk,
        )
    return user


def make_project(*, company: Company, leader: User, **extra: Any) -> Project:
    serial = next(_serial)
    return services.project_create(
        actor=SYSTEM_ACTOR,
        company_id=company.pk,
        code=extra.pop("code", f"P{serial}"),
        name=extra.pop("name", f"工程项目{serial}"),
        leader_id=leader.pk,
        **extra,
    )


def grant(user: User, role: str, company: Company) -> RoleAssignment:
    return services.role_assignment_grant(
        actor=SYSTEM_ACTOR, user_id=user.pk, role_code=role, company_id=company.pk
    )
