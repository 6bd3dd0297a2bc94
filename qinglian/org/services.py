"""Every write to the organisation: atomic, permission-checked, audited in the same transaction."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils.translation import gettext as _

from qinglian.core import clock
from qinglian.core.actors import is_system
from qinglian.core.audit import audit_record, diff_fields
from qinglian.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from qinglian.core.uscc import normalize_uscc

from .enums import OVERSIGHT_ROLES, CompanyKind, OrgErrorCode, ProjectStatus, RoleCode
from .models import ApiToken, Company, Department, Project, Role, RoleAssignment, User
from .scopes import can_administer_org, data_scope, forget_data_scope, group_company_id

# ---------------------------------------------------------------- helpers


def _require_admin(actor: Any, company_id: int | None) -> None:
    """IT administrators of the company may write; others are refused (not found if unseen)."""
    if is_system(actor):
        return
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied(_("Sign in first."))
    if can_administer_org(actor, company_id):
        return
    if data_scope(actor).can_read(company_id):
        raise PermissionDenied(_("Only an IT administrator of this company may do this."))
    raise NotFound(_("Company not found."))


def _can_see(actor: Any, company_id: int | None) -> bool:
    return is_system(actor) or data_scope(actor).can_read(company_id)


def _validated(instance: Model, exclude: Iterable[str] = ()) -> None:
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as error:
        fields = {name: [str(m) for m in messages] for name, messages in error.message_dict.items()}
        summary = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
        raise ValidationFailed(
            _("Please correct the highlighted fields: %(summary)s") % {"summary": summary},
            fields=fields,
        ) from error


def _check_version(instance: Any, expected_version: int | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise Conflict(
            _("Someone else changed this record meanwhile; reload and try again."),
            code=OrgErrorCode.STALE_VERSION,
        )


def _jsonable(value: Any) -> Any:
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, (Decimal, date, datetime)):
        return str(value)
    return value


def _snapshot(instance: Model, fields: Iterable[str]) -> dict[str, Any]:
    return {name: _jsonable(getattr(instance, name)) for name in fields}


def _lock(model: type[Model], pk: int) -> Any:
    instance = model.objects.select_for_update().filter(pk=pk).first()  # type: ignore[attr-defined]
    if instance is None:
        raise NotFound(_("%(model)s not found.") % {"model": model._meta.verbose_name})
    return instance


# ---------------------------------------------------------------- companies

COMPANY_FIELDS = ("code", "name", "short_name", "uscc", "address", "is_active")


@transaction.atomic
def company_create(
    *,
    actor: Any,
    code: str,
    name: str,
    uscc: str,
    parent_id: int | None,
    short_name: str = "",
    address: str = "",
) -> Company:
    """Create a subsidiary under `parent_id`, or the group itself when `parent_id` is None."""
    if parent_id is None:
        if Company.objects.filter(parent__isnull=True).exists():
            raise ValidationFailed(
                _("The group already exists; a new company needs a parent."),
                fields={"parent": [_("This field is required.")]},
            )
        if not is_system(actor):  # only the installer creates the group
            raise PermissionDenied(_("The group company is created at installation."))
        parent = None
    else:
        _require_admin(actor, parent_id)
        parent = _lock(Company, parent_id)
    company = Company(
        code=code.strip(),
        name=name.strip(),
        short_name=short_name.strip(),
        uscc=normalize_uscc(uscc),
        kind=CompanyKind.GROUP if parent is None else CompanyKind.SUBSIDIARY,
        parent=parent,
        address=address.strip(),
    )
    _validated(company)
    company.save()
    company.path = f"{parent.path if parent else '/'}{company.pk}/"
    company.depth = parent.depth + 1 if parent else 0
    company.save(update_fields=["path", "depth"])
    audit_record(
        actor=actor,
        action="org.company.created",
        company_id=company.pk,
        target=company,
        changes={f: [None, _jsonable(getattr(company, f))] for f in (*COMPANY_FIELDS, "parent_id")},
    )
    return company


@transaction.atomic
def company_update(
    *, actor: Any, company_id: int, expected_version: int | None = None, **changes: Any
) -> Company:
    unknown = set(changes) - set(COMPANY_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    _require_admin(actor, company_id)
    company = _lock(Company, company_id)
    _check_version(company, expected_version)
    before = _snapshot(company, COMPANY_FIELDS)
    for field, value in changes.items():
        setattr(company, field, normalize_uscc(value) if field == "uscc" else value)
    if company.kind == CompanyKind.GROUP and changes.get("is_active") is False:
        raise ValidationFailed(_("The group cannot be deactivated."), fields={"is_active": [""]})
    _validated(company)
    delta = diff_fields(before, _snapshot(company, COMPANY_FIELDS))
    if not delta:
        return company
    company.version += 1
    company.save()
    audit_record(
        actor=actor,
        action="org.company.updated",
        company_id=company.pk,
        target=company,
        changes=delta,
    )
    return company


# ---------------------------------------------------------------- departments

DEPARTMENT_FIELDS = ("code", "name", "parent_id", "head_id", "is_active")


def _department_path(department: Department) -> str:
    parent = department.parent
    return f"{parent.path if parent else '/'}{department.pk}/"


@transaction.atomic
def department_create(
    *,
    actor: Any,
    company_id: int,
    code: str,
    name: str,
    parent_id: int | None = None,
    head_id: int | None = None,
) -> Department:
    _require_admin(actor, company_id)
    parent = None
    if parent_id is not None:
        parent = Department.objects.filter(pk=parent_id, company_id=company_id).first()
        if parent is None:
            raise ValidationFailed(
                _("The parent department must belong to the same company."),
                fields={"parent": [_("Not a department of this company.")]},
            )
    _check_head(head_id, company_id)
    department = Department(
        company_id=company_id, code=code.strip(), name=name.strip(), parent=parent, head_id=head_id
    )
    _validated(department)
    department.save()
    department.path = _department_path(department)
    department.save(update_fields=["path"])
    audit_record(
        actor=actor,
        action="org.department.created",
        company_id=company_id,
        target=department,
        changes={f: [None, _jsonable(getattr(department, f))] for f in DEPARTMENT_FIELDS},
    )
    return department


def _check_head(head_id: int | None, company_id: int) -> None:
    if head_id is not None and not User.objects.filter(pk=head_id, company_id=company_id).exists():
        raise ValidationFailed(
            _("The department head must work for the same company."),
            fields={"head": [_("Not an employee of this company.")]},
        )


@transaction.atomic
def department_update(
    *, actor: Any, department_id: int, expected_version: int | None = None, **changes: Any
) -> Department:
    unknown = set(changes) - set(DEPARTMENT_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    current = (
        Department.objects.filter(pk=department_id).values_list("company_id", flat=True).first()
    )
    if current is None:
        raise NotFound(_("Department not found."))
    _require_admin(actor, current)
    department = _lock(Department, department_id)
    _check_version(department, expected_version)
    before = _snapshot(department, DEPARTMENT_FIELDS)
    if "head_id" in changes:
        _check_head(changes["head_id"], department.company_id)
    if "parent_id" in changes and changes["parent_id"] is not None:
        parent = Department.objects.filter(
            pk=changes["parent_id"], company_id=department.company_id
        ).first()
        if parent is None:
            raise ValidationFailed(
                _("The parent department must belong to the same company."),
                fields={"parent": [_("Not a department of this company.")]},
            )
        if parent.path.startswith(department.path):
            raise ValidationFailed(
                _("A department cannot be moved under itself or its own sub-department."),
                code=OrgErrorCode.TREE_CYCLE,
                fields={"parent": [_("Would make a cycle in the tree")]},
            )
    for field, value in changes.items():
        setattr(department, field, value)
    _validated(department)
    delta = diff_fields(before, _snapshot(department, DEPARTMENT_FIELDS))
    if not delta:
        return department
    old_path = department.path
    department.version += 1
    department.save()
    if "parent_id" in delta:
        department.refresh_from_db(fields=["parent"])
        new_path = _department_path(department)
        for descendant in Department.objects.select_for_update().filter(path__startswith=old_path):
            descendant.path = new_path + descendant.path[len(old_path) :]
            descendant.save(update_fields=["path"])
    audit_record(
        actor=actor,
        action="org.department.updated",
        company_id=department.company_id,
        target=department,
        changes=delta,
    )
    return department


# ---------------------------------------------------------------- users

USER_FIELDS = (
    "username",
    "employee_number",
    "name",
    "phone",
    "email",
    "company_id",
    "department_id",
    "position",
    "is_active",
)


def _check_department(department_id: int | None, company_id: int | None) -> None:
    if department_id is not None and (
        company_id is None
        or not Department.objects.filter(pk=department_id, company_id=company_id).exists()
    ):
        raise ValidationFailed(
            _("The department must belong to the user's company."),
            fields={"department": [_("Not a department of this company.")]},
        )


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise ValidationFailed(
            _("The password does not meet the policy."),
            fields={"password": [str(message) for message in error.messages]},
        ) from error


@transaction.atomic
def user_create(
    *,
    actor: Any,
    username: str,
    employee_number: str,
    name: str,
    company_id: int,
    department_id: int | None = None,
    phone: str = "",
    email: str = "",
    position: str = "",
    password: str | None = None,
) -> User:
    """A new employee. Without a password they cannot sign in until one is set."""
    _require_admin(actor, company_id)
    _check_department(department_id, company_id)
    user = User(
        username=username.strip(),
        employee_number=employee_number.strip(),
        name=name.strip(),
        phone=phone.strip(),
        email=email.strip(),
        company_id=company_id,
        department_id=department_id,
        position=position.strip(),
    )
    _validated(user, exclude=["password"])
    if password:
        _check_password(password, user)
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action="org.user.created",
        company_id=company_id,
        target=user,
        changes={f: [None, _jsonable(getattr(user, f))] for f in USER_FIELDS},
    )
    return user


@transaction.atomic
def user_update(
    *, actor: Any, user_id: int, expected_version: int | None = None, **changes: Any
) -> User:
    unknown = set(changes) - set(USER_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    current_company = User.objects.filter(pk=user_id).values_list("company_id", flat=True).first()
    if current_company is None and not User.objects.filter(pk=user_id).exists():
        raise NotFound(_("User not found."))
    _require_admin(actor, current_company)
    if "company_id" in changes:
        _require_admin(actor, changes["company_id"])
    user = _lock(User, user_id)
    _check_version(user, expected_version)
    if user.pk == actor.pk and changes.get("is_active") is False:  # never true for the system
        raise ValidationFailed(_("You cannot deactivate yourself."), fields={"is_active": [""]})
    before = _snapshot(user, USER_FIELDS)
    for field, value in changes.items():
        setattr(user, field, value.strip() if isinstance(value, str) else value)
    _check_department(user.department_id, user.company_id)
    _validated(user, exclude=["password"])
    delta = diff_fields(before, _snapshot(user, USER_FIELDS))
    if not delta:
        return user
    user.version += 1
    user.save()
    forget_data_scope(user)
    audit_record(
        actor=actor,
        action="org.user.updated",
        company_id=user.company_id,
        target=user,
        changes=delta,
    )
    return user


@transaction.atomic
def user_password_reset(*, actor: Any, user_id: int, new_password: str) -> User:
    """An administrator sets a user's password (the user should change it at next sign-in)."""
    company_id = User.objects.filter(pk=user_id).values_list("company_id", flat=True).first()
    _require_admin(actor, company_id)
    user = _lock(User, user_id)
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action="org.user.password_reset",
        company_id=user.company_id,
        target=user,
        changes={"password": ["***", "***"]},
    )
    return user


@transaction.atomic
def user_password_change(*, actor: User, old_password: str, new_password: str) -> User:
    user = _lock(User, actor.pk)
    if not user.check_password(old_password):
        raise ValidationFailed(
            _("The current password is wrong."),
            fields={"old_password": [_("The current password is wrong.")]},
        )
    _check_password(new_password, user)
    user.set_password(new_password)
    user.save(update_fields=["password"])
    audit_record(
        actor=user,
        action="org.user.password_changed",
        company_id=user.company_id,
        target=user,
        changes={"password": ["***", "***"]},
    )
    return user


# ---------------------------------------------------------------- sign-in events


@transaction.atomic
def user_login_record(*, user: User) -> None:
    audit_record(actor=user, action="org.user.logged_in", company_id=user.company_id, target=user)


@transaction.atomic
def user_logout_record(*, user: User) -> None:
    audit_record(actor=user, action="org.user.logged_out", company_id=user.company_id, target=user)


@transaction.atomic
def user_login_failure_record(*, username: str) -> None:
    """A failed sign-in, in the chain of the account's company when the name exists."""
    user = User.objects.filter(username=username).only("id", "company_id", "name").first()
    audit_record(
        actor=None,
        action="org.user.login_failed",
        company_id=user.company_id if user else None,
        object_type="org.user",
        object_id=str(user.pk) if user else "",
        object_repr=username[:150],
    )


# ---------------------------------------------------------------- roles

# The built-in roles; a migration seeds them, and this puts back any that are missing (a fresh
# database flushed by a test, an installation that deleted one by hand).
BUILTIN_ROLES: tuple[tuple[str, str, bool], ...] = (
    (RoleCode.HANDLER, "经办人", False),
    (RoleCode.PURCHASER, "采购员", False),
    (RoleCode.SALESPERSON, "销售员", False),
    (RoleCode.COST_AUDITOR, "造价审核员", False),
    (RoleCode.LEGAL_REVIEWER, "法务审核", False),
    (RoleCode.FINANCE, "财务", False),
    (RoleCode.WAREHOUSE_KEEPER, "仓库管理员", False),
    (RoleCode.DEPARTMENT_HEAD, "部门负责人", False),
    (RoleCode.LEADER_IN_CHARGE, "分管领导", False),
    (RoleCode.GENERAL_MANAGER, "总经理", False),
    (RoleCode.INSPECTOR, "纪委监督员", True),
    (RoleCode.AUDITOR, "内审员", True),
    (RoleCode.IT_ADMIN, "IT 管理员", False),
)


ROLE_CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,31}$")


def _require_group_admin(actor: Any) -> int:
    """Roles are group-wide reference data: only an IT administrator of the group changes them."""
    group_id = group_company_id()
    _require_admin(actor, group_id)
    assert group_id is not None  # _require_admin refuses a missing company
    return group_id


@transaction.atomic
def role_create(*, actor: Any, code: str, name: str, description: str = "") -> Role:
    """A custom role (e.g. 招标专员) that approval routes can name; it grants no rights itself."""
    group_id = _require_group_admin(actor)
    code = code.strip().lower()
    if not ROLE_CODE_PATTERN.match(code):
        raise ValidationFailed(
            _("Use 2 to 32 lower-case letters, digits or underscores, starting with a letter."),
            fields={"code": [_("Not a valid role code.")]},
        )
    role = Role(code=code, name=name.strip(), description=description.strip())
    _validated(role)
    role.save()
    audit_record(
        actor=actor,
        action="org.role.created",
        company_id=group_id,
        target=role,
        changes={
            "code": [None, role.code],
            "name": [None, role.name],
            "description": [None, role.description],
        },
    )
    return role


@transaction.atomic
def role_update(*, actor: Any, role_id: int, name: str, description: str | None = None) -> Role:
    """Rename a custom role; `description` None leaves it as it is."""
    group_id = _require_group_admin(actor)
    role = _lock(Role, role_id)
    if role.code in RoleCode.values:
        raise ValidationFailed(
            _("Built-in roles are fixed; add a custom role instead."),
            fields={"name": [_("Built-in roles are fixed; add a custom role instead.")]},
        )
    before = {"name": role.name, "description": role.description}
    role.name = name.strip()
    if description is not None:
        role.description = description.strip()
    _validated(role)
    delta = diff_fields(before, {"name": role.name, "description": role.description})
    if delta:
        role.save()
        audit_record(
            actor=actor,
            action="org.role.updated",
            company_id=group_id,
            target=role,
            changes=delta,
        )
    return role


@transaction.atomic
def role_builtin_ensure() -> int:
    """Create the built-in roles that are missing; returns how many were created."""
    existing = set(Role.objects.values_list("code", flat=True))
    missing = [
        Role(code=code, name=name, is_oversight=is_oversight)
        for code, name, is_oversight in BUILTIN_ROLES
        if code not in existing
    ]
    Role.objects.bulk_create(missing)
    return len(missing)


@transaction.atomic
def role_assignment_grant(
    *,
    actor: Any,
    user_id: int,
    role_code: str,
    company_id: int,
    include_subtree: bool = True,
) -> RoleAssignment:
    _require_admin(actor, company_id)
    target = User.objects.filter(pk=user_id).first()
    if target is None or not _can_see(actor, target.company_id):
        raise NotFound(_("User not found."))
    role = Role.objects.filter(code=role_code).first()
    if role is None:
        raise ValidationFailed(_("Unknown role."), fields={"role": [_("Unknown role.")]})
    if actor.pk == user_id and role_code == RoleCode.IT_ADMIN:
        raise PermissionDenied(_("You cannot grant yourself administrator rights."))
    target_scope = data_scope(target)
    conflict = (role_code in OVERSIGHT_ROLES and target_scope.has_role(RoleCode.IT_ADMIN)) or (
        role_code == RoleCode.IT_ADMIN and target_scope.is_oversight
    )
    if conflict:
        raise ValidationFailed(
            _("Oversight roles cannot be combined with IT administration (segregation of duties)."),
            fields={"role": [_("Conflicts with a role the user already holds.")]},
        )
    try:
        with transaction.atomic():
            assignment = RoleAssignment.objects.create(
                user_id=user_id,
                role=role,
                company_id=company_id,
                include_subtree=include_subtree,
                granted_by=None if is_system(actor) else actor,
            )
    except IntegrityError as error:
        raise Conflict(
            _("This user already holds this role for this company."), code=OrgErrorCode.DUPLICATE
        ) from error
    forget_data_scope(target)
    audit_record(
        actor=actor,
        action="org.role_assignment.granted",
        company_id=target.company_id,
        target=assignment,
        changes={
            "user_id": [None, user_id],
            "role": [None, role_code],
            "company_id": [None, company_id],
            "include_subtree": [None, include_subtree],
        },
    )
    return assignment


@transaction.atomic
def role_assignment_revoke(*, actor: Any, assignment_id: int) -> None:
    assignment = (
        RoleAssignment.objects.select_for_update()
        .select_related("role", "user")
        .filter(pk=assignment_id)
        .first()
    )
    if assignment is None or not _can_see(actor, assignment.user.company_id):
        raise NotFound(_("Role assignment not found."))
    _require_admin(actor, assignment.company_id)
    if assignment.user_id == actor.pk and assignment.role.code == RoleCode.IT_ADMIN:
        raise PermissionDenied(
            _("Ask another administrator to remove your own administrator role.")
        )
    audit_record(
        actor=actor,
        action="org.role_assignment.revoked",
        company_id=assignment.user.company_id,
        target=assignment,
        changes={
            "user_id": [assignment.user_id, None],
            "role": [assignment.role.code, None],
            "company_id": [assignment.company_id, None],
        },
    )
    assignment.delete()
    forget_data_scope(assignment.user)


# ---------------------------------------------------------------- projects

PROJECT_FIELDS = (
    "code",
    "name",
    "leader_id",
    "department_id",
    "status",
    "budget",
    "start_date",
    "end_date",
    "description",
)


@transaction.atomic
def project_create(
    *,
    actor: Any,
    company_id: int,
    code: str,
    name: str,
    leader_id: int,
    department_id: int | None = None,
    status: str = ProjectStatus.ACTIVE,
    budget: Decimal | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
    description: str = "",
) -> Project:
    _require_admin(actor, company_id)
    project = Project(
        company_id=company_id,
        code=code.strip(),
        name=name.strip(),
        leader_id=leader_id,
        department_id=department_id,
        status=status,
        budget=budget,
        start_date=start_date,
        end_date=end_date,
        description=description,
    )
    _check_project(project)
    project.save()
    audit_record(
        actor=actor,
        action="org.project.created",
        company_id=company_id,
        target=project,
        changes={f: [None, _jsonable(getattr(project, f))] for f in PROJECT_FIELDS},
    )
    return project


def _check_project(project: Project) -> None:
    if not User.objects.filter(pk=project.leader_id, company_id=project.company_id).exists():
        raise ValidationFailed(
            _("The leader in charge must work for the project's company."),
            fields={"leader": [_("Not an employee of this company.")]},
        )
    _check_department(project.department_id, project.company_id)
    _validated(project)
    if project.start_date and project.end_date and project.start_date > project.end_date:
        raise ValidationFailed(
            _("The project cannot end before it starts."),
            fields={"end_date": [_("Must not be before the start date.")]},
        )


@transaction.atomic
def project_update(
    *, actor: Any, project_id: int, expected_version: int | None = None, **changes: Any
) -> Project:
    unknown = set(changes) - set(PROJECT_FIELDS)
    if unknown:
        raise ValidationFailed(_("Unknown fields: %s") % ", ".join(sorted(unknown)))
    company_id = Project.objects.filter(pk=project_id).values_list("company_id", flat=True).first()
    if company_id is None:
        raise NotFound(_("Project not found."))
    _require_admin(actor, company_id)
    project = _lock(Project, project_id)
    _check_version(project, expected_version)
    before = _snapshot(project, PROJECT_FIELDS)
    for field, value in changes.items():
        setattr(project, field, value)
    _check_project(project)
    delta = diff_fields(before, _snapshot(project, PROJECT_FIELDS))
    if not delta:
        return project
    project.version += 1
    project.save()
    audit_record(
        actor=actor,
        action="org.project.updated",
        company_id=company_id,
        target=project,
        changes=delta,
    )
    return project


# ---------------------------------------------------------------- API tokens


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown once, never stored


def api_token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, actor: User, name: str, expires_at: datetime | None = None) -> IssuedToken:
    if not name.strip():
        raise ValidationFailed(
            _("Name the token."), fields={"name": [_("This field is required.")]}
        )
    secret = "ql_" + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=actor,
        name=name.strip()[:60],
        key_hash=api_token_hash(secret),
        prefix=secret[:8],
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action="org.api_token.created",
        company_id=actor.company_id,
        target=token,
        changes={"name": [None, token.name]},
    )
    return IssuedToken(token, secret)


@transaction.atomic
def api_token_revoke(*, actor: User, token_id: int) -> None:
    token = ApiToken.objects.select_for_update().filter(pk=token_id, user_id=actor.pk).first()
    if token is None or token.revoked_at is not None:
        raise NotFound(_("Token not found."))
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="org.api_token.revoked",
        company_id=actor.company_id,
        target=token,
    )


def api_token_authenticate(secret: str) -> User | None:
    """The active user a bearer secret belongs to, or None. Records the last use."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=api_token_hash(secret), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = clock.now()
    if token.expires_at is not None and token.expires_at <= now:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
