"""Concurrent writers on PostgreSQL: one company's writers queue on its chain head and never fork
the chain; writers of different companies do not wait for each other; a verification that runs
while writers commit reads one consistent snapshot."""

import itertools
import threading
from collections.abc import Callable

import pytest
from django.db import connection, transaction

from qinglian.audit.models import AuditChain, AuditEvent
from qinglian.audit.services import audit_chain_verify, chain_key
from qinglian.core.audit import audit_record
from qinglian.org.enums import CompanyKind
from qinglian.org.factories import make_uscc
from qinglian.org.models import Company

THREADS = 8
EVENTS_PER_THREAD = 25


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    """Real row locks; the tests using it carry the `postgres` marker."""
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to test (run with DATABASE_URL=postgres://...)"
        )


def _bare_company(code: str) -> Company:
    """A company row without the service, so no event exists yet and its chain starts at #1:
    the racing writers create the chain head themselves."""
    root = Company.objects.filter(parent__isnull=True).first()
    return Company.objects.create(
        code=code,
        name=f"并发测试{code}",
        uscc=make_uscc(),
        kind=CompanyKind.SUBSIDIARY if root else CompanyKind.GROUP,
        parent=root,
    )


def _append(company_id: int, label: str) -> None:
    with transaction.atomic():
        audit_record(
            actor=None,
            action="test.thing.created",
            company_id=company_id,
            object_type="test.thing",
            object_id=label,
            object_repr=label,
            changes={"label": [None, label]},
        )


def _in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    return threading.Thread(target=run, daemon=True)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_company_many_writers_make_one_unforked_chain(postgresql_only):
    company = _bare_company("C1")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(number: int) -> Callable[[], None]:
        def work() -> None:
            start.wait(timeout=10)
            for index in range(EVENTS_PER_THREAD):
                _append(company.pk, f"{number}-{index}")

        return work

    threads = [_in_thread(writer(n), errors) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []

    chain = AuditChain.objects.get(key=chain_key(company.pk))
    events = list(AuditEvent.objects.filter(chain=chain).order_by("seq"))
    total = THREADS * EVENTS_PER_THREAD
    assert [event.seq for event in events] == list(range(1, total + 1))
    assert events[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(events))
    assert len({event.hash for event in events}) == total
    assert sorted(event.object_id for event in events) == sorted(
        f"{n}-{i}" for n in range(THREADS) for i in range(EVENTS_PER_THREAD)
    )
    assert (chain.last_seq, chain.last_hash) == (total, events[-1].hash)
    report = audit_chain_verify()
    assert report.is_intact, report.breaks
    assert (report.chains, report.events) == (1, total)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_writers_of_different_companies_do_not_block_each_other(postgresql_only):
    company_a = _bare_company("CA")
    company_b = _bare_company("CB")
    _append(company_a.pk, "first")  # the heads exist, so only row locks are in play
    _append(company_b.pk, "first")
    holding = threading.Event()
    release = threading.Event()
    b_done = threading.Event()
    errors: list[BaseException] = []

    def hold_a() -> None:
        with transaction.atomic():
            audit_record(
                actor=None,
                action="test.thing.created",
                company_id=company_a.pk,
                object_type="test.thing",
                object_id="held",
            )
            holding.set()
            assert release.wait(timeout=30), "never released"

    def write_b() -> None:
        assert holding.wait(timeout=10)
        _append(company_b.pk, "while A is held")
        b_done.set()

    holder = _in_thread(hold_a, errors)
    other = _in_thread(write_b, errors)
    holder.start()
    other.start()
    try:
        # B commits although A's chain head stays locked the whole time.
        assert b_done.wait(timeout=10), "a writer on company B waited for company A's lock"
        assert holder.is_alive() and not release.is_set()
    finally:
        release.set()
        holder.join(timeout=30)
        other.join(timeout=30)
    assert errors == []
    assert AuditChain.objects.get(key=chain_key(company_a.pk)).last_seq == 2
    assert AuditChain.objects.get(key=chain_key(company_b.pk)).last_seq == 2
    assert audit_chain_verify().is_intact


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_second_writer_of_the_same_company_waits_for_the_first(postgresql_only):
    """The control for the test above: the same company's writers do queue."""
    company = _bare_company("CS")
    _append(company.pk, "first")
    holding = threading.Event()
    release = threading.Event()
    second_done = threading.Event()
    errors: list[BaseException] = []

    def hold() -> None:
        with transaction.atomic():
            _append(company.pk, "held")
            holding.set()
            assert release.wait(timeout=30)

    def second() -> None:
        assert holding.wait(timeout=10)
        _append(company.pk, "second")
        second_done.set()

    threads = [_in_thread(hold, errors), _in_thread(second, errors)]
    for thread in threads:
        thread.start()
    try:
        assert holding.wait(timeout=10)
        assert not second_done.wait(timeout=1), "the chain head was not locked"
    finally:
        release.set()
    assert second_done.wait(timeout=10)
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    events = AuditEvent.objects.filter(chain__key=chain_key(company.pk)).order_by("seq")
    assert [(e.seq, e.object_id) for e in events] == [(1, "first"), (2, "held"), (3, "second")]


@pytest.mark.django_db(transaction=True)
def test_verify_reads_one_snapshot_while_writers_commit(transactional_db):
    """A writer commits between the verifier's read of the chain heads and its read of the
    events: the verifier must not report the new event as a broken head. (Both databases:
    SQLite's WAL gives readers a snapshot too.)"""
    company = _bare_company("CV")
    _append(company.pk, "first")
    errors: list[BaseException] = []
    fired: list[bool] = []

    def commit_a_write_first(execute, sql, params, many, context):
        if not fired and 'FROM "audit_auditevent"' in sql:
            fired.append(True)
            writer = _in_thread(lambda: _append(company.pk, "racing"), errors)
            writer.start()
            writer.join(timeout=10)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(commit_a_write_first):
        report = audit_chain_verify()
    assert fired == [True]
    assert errors == []
    assert report.is_intact, report.breaks
    assert report.events == 1  # the snapshot predates the racing event
    assert AuditChain.objects.get(key=chain_key(company.pk)).last_seq == 2
    assert audit_chain_verify().is_intact
