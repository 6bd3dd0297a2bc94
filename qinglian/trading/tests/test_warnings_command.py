"""`manage.py trading_warnings` prints one JSON object (the open warnings per kind); the daily
job detects every company's warnings and, run again, changes nothing."""

from __future__ import annotations

import datetime
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from qinglian.core import clock
from qinglian.trading.models import Contract
from qinglian.trading.models.warnings import TradingWarning
from qinglian.trading.services import warnings as services
from qinglian.trading.tasks import trading_warnings_daily

from .test_warnings_views import build_world


@pytest.fixture
def world(stock, org, shared_layers):
    return shared_layers.get("world", build_world, stock, org)


pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("trading_warnings", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_summary_is_one_json_object(world):
    out, err = run("--summary")
    assert out.count("\n") == 1
    assert json.loads(out) == {
        "credit": 1,
        "overdue": 0,
        "contract": 2,
        "shipment": 0,
        "warehouse": 1,
        "total": 4,
    }
    assert err == ""


def test_acknowledged_warnings_count_until_resolved(world):
    owner = world["users"]["owner"]
    services.warning_acknowledge(actor=owner, warning_id=world["contract"].pk)
    assert json.loads(run("--summary")[0])["contract"] == 2
    assert json.loads(run("--summary", "--state", "open")[0])["contract"] == 1
    services.warning_resolve(actor=owner, warning_id=world["contract"].pk, reason="续签")
    assert json.loads(run("--summary")[0])["contract"] == 1
    assert json.loads(run("--summary", "--state", "resolved")[0])["total"] == 1


def test_refresh_first(world, org):
    Contract.objects.filter(pk=world["stock"].sales.pk).update(
        end_on=clock.today() + datetime.timedelta(days=200)
    )
    out, err = run("--refresh", "--summary", "--company", org.company_a.code)
    assert json.loads(out) == {
        "credit": 1,
        "overdue": 0,
        "contract": 0,
        "shipment": 0,
        "warehouse": 1,
        "total": 2,
    }
    assert json.loads(err)["refresh"]["resolved"] == 1
    # company B's warning was neither refreshed nor counted
    assert TradingWarning.objects.get(pk=world["other"].pk).state == "open"


def test_an_unknown_company_is_refused(world):
    with pytest.raises(CommandError):
        run("--summary", "--company", "NOPE")


def test_an_empty_database_counts_zeros(db):
    assert json.loads(run("--refresh", "--summary")[0]) == {
        "credit": 0,
        "overdue": 0,
        "contract": 0,
        "shipment": 0,
        "warehouse": 0,
        "total": 0,
    }


def test_the_daily_job(world):
    TradingWarning.objects.all().delete()
    result = trading_warnings_daily.call_local()
    assert result["opened"] == 4
    assert TradingWarning.objects.count() == 4
    again = trading_warnings_daily.call_local()
    assert (again["opened"], again["reopened"], again["resolved"]) == (0, 0, 0)
    assert TradingWarning.objects.count() == 4
