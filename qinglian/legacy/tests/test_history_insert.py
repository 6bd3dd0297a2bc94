"""qinglian.core.history, what every app's history writer stands on: rows go in with their
defaults and come back with their ids in row order (whether every row names the same fields
or not), and on PostgreSQL a large load's foreign keys are dropped and added back exactly as
they were, checked at the end of the block — a dangling reference is refused there, and a
block that fails gives the keys back with its rollback; a field can hold the row's own new id
(an imported contract is its own original); rows can name ids reserved for them beforehand
(all of them or none), and what is written later comes after those."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from qinglian.approvals.models import ApprovalTemplate, TemplateVersion
from qinglian.core import history
from qinglian.core.history import foreign_keys_checked_in_bulk, insert_history, reserve_ids
from qinglian.legacy.loader import legacy_import
from qinglian.legacy.models import ImportBatch
from qinglian.org.factories import make_company, make_user
from qinglian.org.models import Department
from qinglian.org.services import role_builtin_ensure
from qinglian.trading.models import Contract


def foreign_keys(table: str) -> list[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
            [table],
        )
        return list(cursor.fetchall())


@pytest.fixture
def postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("foreign keys are checked in bulk on PostgreSQL only")


@pytest.fixture
def every_load_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "BULK_FOREIGN_KEYS_FROM", 1)


@pytest.mark.django_db
def test_rows_go_in_with_their_defaults_and_ids_in_row_order():
    company = make_company()
    ids = insert_history(
        Department,
        [
            {"company_id": company.pk, "code": "D1", "name": "一部", "source_id": "D1"},
            {"company_id": company.pk, "code": "D2", "name": "二部", "source_id": "D2"},
        ],
        batch_id="batch-1",
    )
    rows = list(
        Department.objects.filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "code", "name", "is_active", "version", "path", "import_batch")
    )
    assert rows == [
        (ids[0], "D1", "一部", True, 1, "", "batch-1"),
        (ids[1], "D2", "二部", True, 1, "", "batch-1"),
    ]
    assert ids[0] < ids[1]


@pytest.mark.django_db
def test_rows_naming_different_fields_each_get_the_defaults_of_the_others():
    company = make_company()
    author = make_user(company=company)
    template = ApprovalTemplate.objects.create(code="history-test", name="历史")
    ids = insert_history(
        TemplateVersion,
        [
            {"template_id": template.pk, "number": 1, "definition": {"route": [1, "二"]}},
            {"template_id": template.pk, "number": 2, "definition": [], "created_by_id": author.pk},
        ],
    )
    versions = {version.number: version for version in TemplateVersion.objects.filter(pk__in=ids)}
    assert [versions[1].pk, versions[2].pk] == ids
    assert versions[1].definition == {"route": [1, "二"]} and versions[2].definition == []
    assert versions[1].created_by_id is None and versions[2].created_by_id == author.pk
    assert {version.template_id for version in versions.values()} == {template.pk}
    assert all(version.created_at is not None for version in versions.values())


@pytest.mark.django_db
def test_a_model_without_an_automatic_key_is_refused():
    if connection.vendor != "postgresql":
        pytest.skip("bulk_create takes any key elsewhere")
    with pytest.raises(ValueError, match="automatic primary key"):
        insert_history(ImportBatch, [{"id": "b1", "fingerprint": "f"}])


@pytest.mark.django_db
def test_keys_are_dropped_for_the_block_and_come_back_as_they_were(
    postgresql_only, every_load_is_large
):
    company = make_company()  # a row written before the block: its check is pending
    table = Department._meta.db_table
    before = foreign_keys(table)
    assert before
    with foreign_keys_checked_in_bulk() as block:
        insert_history(Department, [{"company_id": company.pk, "code": "D1", "name": "一部"}])
        assert foreign_keys(table) == []
    assert foreign_keys(table) == before
    assert block.seconds > 0
    assert Department.objects.filter(company=company, code="D1").exists()


@pytest.mark.django_db
def test_a_dangling_reference_is_refused_when_the_keys_come_back(
    postgresql_only, every_load_is_large
):
    table = Department._meta.db_table
    before = foreign_keys(table)
    with pytest.raises(IntegrityError), transaction.atomic(), foreign_keys_checked_in_bulk():
        insert_history(Department, [{"company_id": 987654321, "code": "X", "name": "X"}])
    assert foreign_keys(table) == before
    assert not Department.objects.filter(code="X").exists()


@pytest.mark.django_db
def test_a_block_that_fails_gives_the_keys_back(postgresql_only, every_load_is_large):
    company = make_company()
    table = Department._meta.db_table
    before = foreign_keys(table)
    with pytest.raises(RuntimeError), foreign_keys_checked_in_bulk():
        insert_history(Department, [{"company_id": company.pk, "code": "D1", "name": "一部"}])
        raise RuntimeError("the load stops")
    assert foreign_keys(table) == before
    assert not Department.objects.filter(code="D1").exists()


@pytest.mark.django_db
def test_small_loads_keep_their_keys(postgresql_only):
    company = make_company()
    table = Department._meta.db_table
    with foreign_keys_checked_in_bulk():
        insert_history(Department, [{"company_id": company.pk, "code": "D1", "name": "一部"}])
        assert foreign_keys(table)


@pytest.mark.django_db
def test_fields_named_own_id_hold_the_rows_own_id():
    role_builtin_ensure()
    report = legacy_import(Path(__file__).parent / "data" / "clean")
    contracts = Contract.objects.filter(import_batch=report.batch_id)
    assert contracts.count() == report.written["trading.contract"] > 0
    assert all(pk == original for pk, original in contracts.values_list("pk", "original_id"))


@pytest.mark.django_db
def test_rows_keep_the_ids_reserved_for_them_and_later_rows_come_after():
    company = make_company()
    reserved = reserve_ids(Department, 2)
    assert reserved[0] < reserved[1]
    ids = insert_history(
        Department,
        [
            {"id": reserved[1], "company_id": company.pk, "code": "D2", "name": "二部"},
            {"id": reserved[0], "company_id": company.pk, "code": "D1", "name": "一部"},
        ],
    )
    assert ids == [reserved[1], reserved[0]]
    assert dict(Department.objects.filter(pk__in=ids).values_list("pk", "code")) == {
        reserved[0]: "D1",
        reserved[1]: "D2",
    }
    # a reserved id left unused is a gap: nothing written later takes it
    skipped = reserve_ids(Department, 1)[0]
    (later,) = insert_history(
        Department, [{"company_id": company.pk, "code": "D3", "name": "三部"}]
    )
    assert later > skipped > reserved[1]
    assert Department.objects.create(company=company, code="D4", name="四部").pk > later


@pytest.mark.django_db
def test_rows_name_their_ids_all_or_none():
    company = make_company()
    (reserved,) = reserve_ids(Department, 1)
    with pytest.raises(ValueError, match="some rows name their id"):
        insert_history(
            Department,
            [
                {"id": reserved, "company_id": company.pk, "code": "D1", "name": "一部"},
                {"company_id": company.pk, "code": "D2", "name": "二部"},
            ],
        )


@pytest.mark.django_db
@pytest.mark.parametrize(("arguments", "drops"), [((), True), (("--online",), False)])
def test_an_online_load_locks_no_table(
    postgresql_only, every_load_is_large, monkeypatch, arguments, drops
):
    """Dropping a table's keys locks it, and the tables it refers to, until the load commits:
    `--online` (and the upload page) keep every key and let the commit check them."""
    dropped: list[str] = []
    monkeypatch.setattr(history, "_drop_foreign_keys", lambda _state, table: dropped.append(table))
    role_builtin_ensure()
    call_command(
        "legacy_import",
        str(Path(__file__).parent / "data" / "clean"),
        *arguments,
        stdout=StringIO(),
    )
    assert ImportBatch.objects.count() == 1
    assert bool(dropped) is drops
    if drops:
        assert "approvals_approvalaction" in dropped  # the trail written by INSERT … SELECT too
