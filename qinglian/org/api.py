"""Org endpoints: thin; selectors read through the data scope, services write."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from qinglian.core.api import ERROR_RESPONSES

from . import selectors, services
from .models import User
from .scopes import data_scope

router = Router()


# ---------------------------------------------------------------- schemas


class CompanyOut(Schema):
    id: int
    code: str
    name: str
    short_name: str
    uscc: str
    kind: str
    parent_id: int | None
    depth: int
    address: str
    is_active: bool
    version: int


class CompanyIn(Schema):
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    uscc: str = Field(max_length=18)
    parent_id: int
    short_name: str = ""
    address: str = ""


class CompanyPatch(Schema):
    version: int | None = None
    code: str | None = None
    name: str | None = None
    short_name: str | None = None
    uscc: str | None = None
    address: str | None = None
    is_active: bool | None = None


class DepartmentOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    parent_id: int | None
    head_id: int | None
    is_active: bool
    version: int


class DepartmentIn(Schema):
    company_id: int
    code: str = Field(max_length=32)
    name: str = Field(max_length=100)
    parent_id: int | None = None
    head_id: int | None = None


class DepartmentPatch(Schema):
    version: int | None = None
    code: str | None = None
    name: str | None = None
    parent_id: int | None = None
    head_id: int | None = None
    is_active: bool | None = None


class UserOut(Schema):
    id: int
    username: str
    employee_number: str
    name: str
    phone: str
    email: str
    company_id: int | None
    department_id: int | None
    position: str
    is_active: bool
    version: int


class UserIn(Schema):
    username: str = Field(max_length=150)
    employee_number: str = Field(max_length=32)
    name: str = Field(max_length=60)
    company_id: int
    department_id: int | None = None
    phone: str = ""
    email: str = ""
    position: str = ""
    password: str | None = None


class UserPatch(Schema):
    version: int | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None
    department_id: int | None = None
    position: str | None = None
    is_active: bool | None = None


class RoleOut(Schema):
    id: int
    code: str
    label: str
    is_oversight: bool


class RoleIn(Schema):
    code: str = Field(max_length=32)
    name: str = Field(max_length=60)
    description: str = ""


class RolePatch(Schema):
    name: str = Field(max_length=60)
    description: str | None = None


class RoleAssignmentOut(Schema):
    id: int
    user_id: int
    role: str = Field(alias="role.code")
    company_id: int
    include_subtree: bool
    granted_at: datetime


class RoleAssignmentIn(Schema):
    user_id: int
    role: str
    company_id: int
    include_subtree: bool = True


class ProjectOut(Schema):
    id: int
    company_id: int
    code: str
    name: str
    leader_id: int
    department_id: int | None
    status: str
    budget: Decimal | None
    start_date: date | None
    end_date: date | None
    version: int


class ProjectIn(Schema):
    company_id: int
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    leader_id: int
    department_id: int | None = None
    status: str = "active"
    budget: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    description: str = ""


class ProjectPatch(Schema):
    version: int | None = None
    name: str | None = None
    leader_id: int | None = None
    department_id: int | None = None
    status: str | None = None
    budget: Decimal | None = None
    start_date: date | None = None
    end_date: date | None = None
    description: str | None = None


class MeOut(Schema):
    user: UserOut
    roles: list[RoleAssignmentOut]
    readable_company_ids: list[int]
    is_group_wide: bool


class TokenIn(Schema):
    name: str = Field(max_length=60)
    expires_at: datetime | None = None


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class IssuedTokenOut(TokenOut):
    secret: str


class ListFilter(Schema):
    company_id: int | None = None
    search: str = ""


def _actor(request: HttpRequest) -> User:
    """The authenticated user (both authenticators refuse anonymous requests)."""
    return cast(User, request.user)


def _patch(payload: Schema) -> tuple[int | None, dict[str, Any]]:
    data = payload.dict(exclude_unset=True)
    return data.pop("version", None), data


# ---------------------------------------------------------------- me and tokens


@router.get("/me", response={200: MeOut, **ERROR_RESPONSES})
def me(request: HttpRequest) -> dict[str, Any]:
    scope = data_scope(request.user)
    return {
        "user": request.user,
        "roles": list(selectors.own_role_assignments(user=request.user)),
        "readable_company_ids": sorted(scope.read_company_ids),
        "is_group_wide": scope.is_group_wide,
    }


@router.get("/tokens", response={200: list[TokenOut], **ERROR_RESPONSES})
def token_list(request: HttpRequest) -> Any:
    return selectors.api_token_list(user=request.user)


@router.post("/tokens", response={201: IssuedTokenOut, **ERROR_RESPONSES})
def token_create(request: HttpRequest, payload: TokenIn) -> Any:
    issued = services.api_token_create(
        actor=_actor(request), name=payload.name, expires_at=payload.expires_at
    )
    return 201, {**TokenOut.from_orm(issued.token).dict(), "secret": issued.secret}


@router.delete("/tokens/{token_id}", response={204: None, **ERROR_RESPONSES})
def token_revoke(request: HttpRequest, token_id: int) -> Any:
    services.api_token_revoke(actor=_actor(request), token_id=token_id)
    return 204, None


# ---------------------------------------------------------------- companies


@router.get("/companies", response={200: list[CompanyOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def company_list(request: HttpRequest, filters: Query[ListFilter]) -> Any:
    return selectors.company_list(user=request.user, search=filters.search)


@router.get("/companies/{company_id}", response={200: CompanyOut, **ERROR_RESPONSES})
def company_detail(request: HttpRequest, company_id: int) -> Any:
    return selectors.company_access(user=request.user, company_id=company_id)


@router.post("/companies", response={201: CompanyOut, **ERROR_RESPONSES})
def company_create(request: HttpRequest, payload: CompanyIn) -> Any:
    return 201, services.company_create(actor=_actor(request), **payload.dict())


@router.patch("/companies/{company_id}", response={200: CompanyOut, **ERROR_RESPONSES})
def company_update(request: HttpRequest, company_id: int, payload: CompanyPatch) -> Any:
    version, changes = _patch(payload)
    return services.company_update(
        actor=_actor(request), company_id=company_id, expected_version=version, **changes
    )


# ---------------------------------------------------------------- departments


@router.get("/departments", response={200: list[DepartmentOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def department_list(request: HttpRequest, filters: Query[ListFilter]) -> Any:
    return selectors.department_list(
        user=request.user, company_id=filters.company_id, search=filters.search
    )


@router.get("/departments/{department_id}", response={200: DepartmentOut, **ERROR_RESPONSES})
def department_detail(request: HttpRequest, department_id: int) -> Any:
    return selectors.department_access(user=request.user, department_id=department_id)


@router.post("/departments", response={201: DepartmentOut, **ERROR_RESPONSES})
def department_create(request: HttpRequest, payload: DepartmentIn) -> Any:
    return 201, services.department_create(actor=_actor(request), **payload.dict())


@router.patch("/departments/{department_id}", response={200: DepartmentOut, **ERROR_RESPONSES})
def department_update(request: HttpRequest, department_id: int, payload: DepartmentPatch) -> Any:
    version, changes = _patch(payload)
    return services.department_update(
        actor=_actor(request), department_id=department_id, expected_version=version, **changes
    )


# ---------------------------------------------------------------- users


@router.get("/users", response={200: list[UserOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def user_list(request: HttpRequest, filters: Query[ListFilter]) -> Any:
    return selectors.user_list(
        user=request.user, company_id=filters.company_id, search=filters.search
    )


@router.get("/users/{user_id}", response={200: UserOut, **ERROR_RESPONSES})
def user_detail(request: HttpRequest, user_id: int) -> Any:
    return selectors.user_access(user=request.user, user_id=user_id)


@router.post("/users", response={201: UserOut, **ERROR_RESPONSES})
def user_create(request: HttpRequest, payload: UserIn) -> Any:
    return 201, services.user_create(actor=_actor(request), **payload.dict())


@router.patch("/users/{user_id}", response={200: UserOut, **ERROR_RESPONSES})
def user_update(request: HttpRequest, user_id: int, payload: UserPatch) -> Any:
    version, changes = _patch(payload)
    return services.user_update(
        actor=_actor(request), user_id=user_id, expected_version=version, **changes
    )


# ---------------------------------------------------------------- roles


@router.get("/roles", response={200: list[RoleOut], **ERROR_RESPONSES})
def role_list(request: HttpRequest) -> Any:
    return selectors.role_list()


@router.post("/roles", response={201: RoleOut, **ERROR_RESPONSES})
def role_create(request: HttpRequest, payload: RoleIn) -> Any:
    return 201, services.role_create(actor=_actor(request), **payload.dict())


@router.patch("/roles/{role_id}", response={200: RoleOut, **ERROR_RESPONSES})
def role_update(request: HttpRequest, role_id: int, payload: RolePatch) -> Any:
    return services.role_update(actor=_actor(request), role_id=role_id, **payload.dict())


@router.get("/role-assignments", response={200: list[RoleAssignmentOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def role_assignment_list(request: HttpRequest, user_id: int | None = None) -> Any:
    return selectors.role_assignment_list(user=request.user, user_id=user_id)


@router.post("/role-assignments", response={201: RoleAssignmentOut, **ERROR_RESPONSES})
def role_assignment_grant(request: HttpRequest, payload: RoleAssignmentIn) -> Any:
    return 201, services.role_assignment_grant(
        actor=_actor(request),
        user_id=payload.user_id,
        role_code=payload.role,
        company_id=payload.company_id,
        include_subtree=payload.include_subtree,
    )


@router.delete("/role-assignments/{assignment_id}", response={204: None, **ERROR_RESPONSES})
def role_assignment_revoke(request: HttpRequest, assignment_id: int) -> Any:
    services.role_assignment_revoke(actor=_actor(request), assignment_id=assignment_id)
    return 204, None


# ---------------------------------------------------------------- projects


@router.get("/projects", response={200: list[ProjectOut], **ERROR_RESPONSES})
@paginate(LimitOffsetPagination)
def project_list(request: HttpRequest, filters: Query[ListFilter]) -> Any:
    return selectors.project_list(
        user=request.user, company_id=filters.company_id, search=filters.search
    )


@router.get("/projects/{project_id}", response={200: ProjectOut, **ERROR_RESPONSES})
def project_detail(request: HttpRequest, project_id: int) -> Any:
    return selectors.project_access(user=request.user, project_id=project_id)


@router.post("/projects", response={201: ProjectOut, **ERROR_RESPONSES})
def project_create(request: HttpRequest, payload: ProjectIn) -> Any:
    return 201, services.project_create(actor=_actor(request), **payload.dict())


@router.patch("/projects/{project_id}", response={200: ProjectOut, **ERROR_RESPONSES})
def project_update(request: HttpRequest, project_id: int, payload: ProjectPatch) -> Any:
    version, changes = _patch(payload)
    return services.project_update(
        actor=_actor(request), project_id=project_id, expected_version=version, **changes
    )
