"""Concurrent refreshes on PostgreSQL, with real threads: the daily job and the refreshes after
postings may run at once for one company; the company's thresholds row serialises them, so a
fingerprint is never written twice (no unique-constraint failure, no twin) and a warning
resolved by hand meanwhile is not reopened."""

from __future__ import annotations

import datetime
import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from qinglian.core import clock
from qinglian.trading.models import Contract
from qinglian.trading.models.warnings import TradingWarning, WarningThresholds
from qinglian.trading.services import warnings as services

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 3


@pytest.fixture
def postgresql_only(transactional_db: None) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite takes one database-wide write lock, so there are no "
            "row locks to race for (run with DATABASE_URL=postgres://...)"
        )


def _race(calls: list[Callable[[], Any]]) -> list[Any]:
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def runner(index: int, call: Callable[[], Any]) -> Callable[[], None]:
        def work() -> None:
            try:
                start.wait(timeout=10)
                results[index] = call()
            except BaseException as error:  # reported by the test, not lost in the thread
                errors.append(error)
            finally:
                connection.close()

        return work

    threads = [threading.Thread(target=runner(i, c), daemon=True) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread never finished"
    assert errors == []
    return results


def test_concurrent_refreshes_write_each_warning_once(postgresql_only, stock, org):
    today = clock.today()
    Contract.objects.update(end_on=today + datetime.timedelta(days=365))
    Contract.objects.filter(pk__in=[stock.sales.pk, stock.purchase.pk]).update(
        end_on=today + datetime.timedelta(days=5)
    )
    for _round in range(ROUNDS):
        TradingWarning.objects.all().delete()
        WarningThresholds.objects.all().delete()  # the first refresh creates the row
        results = _race(
            [
                lambda: services.warnings_refresh(company=org.company_a, on_date=today),
                lambda: services.warnings_refresh_for_contract(stock.sales.pk),
                lambda: services.warnings_refresh(company=org.company_a, on_date=today),
            ]
        )
        assert sum(result.opened for result in results) == 2
        assert sorted(TradingWarning.objects.values_list("fingerprint", flat=True)) == sorted(
            [
                f"contract_expiring:c{stock.sales.pk}",
                f"contract_expiring:c{stock.purchase.pk}",
            ]
        )
        assert WarningThresholds.objects.filter(company=org.company_a).count() == 1


def test_a_refresh_never_overwrites_an_acknowledgement(postgresql_only, stock, org, monkeypatch):
    """The refresh reads the stored warning, then (slowed down here, so the acknowledgement
    lands in between) writes its new figures: the acknowledgement waits for it and survives."""
    today = clock.today()
    Contract.objects.update(end_on=today + datetime.timedelta(days=365))
    owner = stock.trading.salesperson_a
    detected = services._detected

    def slowly(hit: Any) -> Any:
        time.sleep(0.6)
        return detected(hit)

    def acknowledge_soon(warning_id: int) -> Any:
        time.sleep(0.2)
        return services.warning_acknowledge(actor=owner, warning_id=warning_id, note="在办")

    for round_ in range(ROUNDS):
        TradingWarning.objects.all().delete()
        Contract.objects.filter(pk=stock.sales.pk).update(
            end_on=today + datetime.timedelta(days=10)
        )
        services.warnings_refresh(company=org.company_a, on_date=today)
        warning = TradingWarning.objects.get()
        # the next refresh finds new figures: it rewrites the row
        Contract.objects.filter(pk=stock.sales.pk).update(
            end_on=today + datetime.timedelta(days=9 - round_)
        )
        monkeypatch.setattr(services, "_detected", slowly)
        _race(
            [
                functools.partial(services.warnings_refresh, company=org.company_a, on_date=today),
                functools.partial(acknowledge_soon, warning.pk),
            ]
        )
        monkeypatch.setattr(services, "_detected", detected)
        warning.refresh_from_db()
        assert (warning.state, warning.acknowledgement_note) == ("acknowledged", "在办")
        assert warning.measured_value == 9 - round_
