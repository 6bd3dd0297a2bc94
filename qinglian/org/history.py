"""Imported history (legacy intake) for the organisation: companies, departments and employees
as they were in an old system. Written in bulk, marked with the import batch; employees become
users who cannot log in (inactive, no usable password) until an administrator grants it.

The caller (qinglian.legacy) maps the old system's rows to field values; this module only
writes org's own tables."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.db.models import Q

from qinglian.core.history import insert_history, update_history

from .enums import CompanyKind
from .models import Company, Department, Role, RoleAssignment, User


def companies_existing(*, codes: Collection[str], usccs: Collection[str]) -> list[Company]:
    """The companies here with one of these codes or USCCs (to match imported ones onto)."""
    return list(
        Company.objects.filter(Q(code__in=list(codes)) | Q(uscc__in=[u for u in usccs if u]))
        .only("pk", "code", "uscc", "name")
        .order_by("pk")
    )


def departments_existing(company_ids: Collection[int]) -> dict[tuple[int, str], int]:
    """(company id, code) → id of the departments of these companies."""
    rows = Department.objects.filter(company_id__in=list(company_ids))
    return {
        (company, code): pk for pk, company, code in rows.values_list("pk", "company_id", "code")
    }


def companies_write(
    rows: Sequence[Mapping[str, Any]],
    *,
    parents: Mapping[str, str | None],
    batch_id: str,
    existing: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """`rows`: Company field values, each with `source_id`; `parents`: source id → the parent's
    source id (None for the root); `existing`: source id → the company here a parent matched
    (written already). Parents are written before their children; the materialised path and
    depth are set as the services set them. Returns source id → new id (of `rows`)."""
    ids: dict[str, int] = dict(existing or {})
    paths: dict[str, tuple[str, int]] = {}
    if ids:
        known = {
            pk: (path, depth)
            for pk, path, depth in Company.objects.filter(pk__in=list(ids.values())).values_list(
                "pk", "path", "depth"
            )
        }
        paths = {source: known[pk] for source, pk in ids.items()}
    pending = list(rows)
    while pending:
        ready = [row for row in pending if parents.get(row["source_id"]) in (None, *ids)]
        if not ready:
            raise ValueError("the company tree has a cycle or a missing parent")
        ready = [row for row in ready if row["source_id"] not in ids]
        values = []
        for row in ready:
            parent = parents.get(row["source_id"])
            values.append(
                {
                    **row,
                    "parent_id": ids[parent] if parent else None,
                    "kind": CompanyKind.SUBSIDIARY if parent else CompanyKind.GROUP,
                }
            )
        new = insert_history(Company, values, batch_id=batch_id)
        updates = {}
        for row, pk in zip(ready, new, strict=True):
            source = row["source_id"]
            ids[source] = pk
            parent = parents.get(source)
            parent_path, parent_depth = paths[parent] if parent else ("/", -1)
            paths[source] = (f"{parent_path}{pk}/", parent_depth + 1)
            updates[pk] = {"path": paths[source][0], "depth": paths[source][1]}
        update_history(Company, updates, ["path", "depth"])
        done = {row["source_id"] for row in ready}
        pending = [row for row in pending if row["source_id"] not in done]
    return {source: pk for source, pk in ids.items() if source not in (existing or {})}


def departments_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> list[int]:
    """Top-level departments (the old systems keep no department tree). Returns new ids in row
    order."""
    ids = insert_history(Department, rows, batch_id=batch_id)
    update_history(Department, {pk: {"path": f"/{pk}/"} for pk in ids}, ["path"])
    return ids


def department_heads_write(heads: Mapping[int, int]) -> None:
    """Department id → the user heading it (set once the users exist)."""
    update_history(Department, {pk: {"head_id": user} for pk, user in heads.items()}, ["head_id"])


def users_write(rows: Sequence[Mapping[str, Any]], *, batch_id: str) -> list[int]:
    """Employees as users without login rights: inactive, with an unusable password. Returns
    new ids in row order."""
    unusable = UNUSABLE_PASSWORD_PREFIX + "legacy-import"
    values = ({**row, "is_active": False, "is_staff": False, "password": unusable} for row in rows)
    return insert_history(User, values, batch_id=batch_id)


def role_assignments_write(assignments: Sequence[tuple[int, str, int]]) -> int:
    """(user id, role code, company id): the role over that company and below it."""
    roles = dict(Role.objects.values_list("code", "pk"))
    rows = [
        {"user_id": user, "role_id": roles[code], "company_id": company, "include_subtree": True}
        for user, code, company in assignments
        if code in roles
    ]
    return len(insert_history(RoleAssignment, rows))
