"""Incremental runs: a rule whose inputs (the tables it reads, its parameters, its code, the day
or moment it depends on) did not change since its last successful run is skipped and its
findings are seen again; everything else runs in full, and `full` runs everything."""

import dataclasses
import datetime
import io
import json
import re
import threading
import time

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from qinglian.approvals.services import template_save
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.audit import audit_record
from qinglian.org import services as org_services
from qinglian.supervision import inputs, registry, services
from qinglian.supervision.enums import Area, RunStatus, Severity
from qinglian.supervision.models import Finding, RuleState
from qinglian.supervision.tests.conftest import (
    PAYMENT,
    days_ago,
    history_request,
    trading_invoice,
    trading_payment,
)
from qinglian.trading.factories import make_contract, make_partner
from qinglian.trading.services import master as trading_master

DAY = datetime.date(2026, 2, 1)
QUOTED = re.compile(r'"([A-Za-z0-9_]+)"')


@pytest.fixture
def findings(org, trading, frozen):
    """A self-approved request (rule 1) and a payment beyond its contract (rule 4)."""
    template_save(actor=SYSTEM_ACTOR, code="payment", name="付款", definition=PAYMENT)
    history_request(
        requester=org.handler_a,
        amount="80000.00",
        submitted_at=days_ago(5),
        decisions=((org.handler_a, days_ago(4), 600, False),),
    )
    contract = make_contract(
        company=org.company_a,
        partner=trading.supplier,
        owner=trading.purchaser_a,
        lines=[(trading.steel, "100", "1000.00")],
    )
    trading_invoice(
        company=org.company_a,
        partner=trading.supplier,
        contract=contract,
        number="00000001",
        amount="200000.00",
        invoice_date=DAY,
        created_by=trading.finance_a,
    )
    trading_payment(
        company=org.company_a,
        partner=trading.supplier,
        contract=contract,
        amount="120000.00",
        paid_on=DAY,
        created_by=trading.finance_a,
    )
    return contract


def rules_reading(label):
    """The codes of the rules that read `label` (or do not say what they read)."""
    return {
        rule.code
        for rule in registry.all_rules()
        if (reads := inputs.rule_reads(rule)) is None or label in reads
    }


def all_codes():
    return {rule.code for rule in registry.all_rules()}


def undeclared():
    return {rule.code for rule in registry.all_rules() if rule.reads is None}


def counts(rule_code):
    return sorted(
        Finding.objects.filter(rule_code=rule_code).values_list("seen_count", "last_run_id")
    )


def test_every_rule_but_the_warnings_declares_its_inputs():
    assert undeclared() == {"trading_warnings"}
    for rule in registry.all_rules():
        assert rule.as_of in ("none", "day", "moment")
    assert registry.rule_get("related_parties").as_of == "none"
    assert registry.rule_get("payment_over_contract").as_of == "day"
    # the approval rules count their look-back in whole days: a re-run later that day may skip
    assert registry.rule_get("self_approval").as_of == "day"


def test_a_rerun_with_nothing_changed_skips_the_rules_and_sees_their_findings_again(findings):
    first = services.run_rules(actor=SYSTEM_ACTOR)
    assert first.status == RunStatus.FINISHED
    assert set(first.ran_rule_codes) == all_codes() and first.skipped_rule_codes == []
    self_approval = counts("self_approval")
    over_contract = counts("payment_over_contract")
    assert [count for count, _run in self_approval + over_contract] == [1, 1]

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.skipped_rule_codes) == all_codes() - undeclared()
    assert set(second.ran_rule_codes) == undeclared()
    assert second.stats["self_approval"] == {
        "hits": 1,
        "new": 0,
        "seen_again": 1,
        "seconds": second.stats["self_approval"]["seconds"],
        "parameter_version": 1,
        "skipped": True,
        "since_run": first.pk,
    }
    assert counts("self_approval") == [(2, second.pk)]
    assert counts("payment_over_contract") == [(2, second.pk)]
    assert (second.new_count, second.seen_again_count) == (0, Finding.objects.count())
    assert RuleState.objects.get(rule_code="self_approval").run_id == second.pk
    # the run's own findings list holds the skipped rules' findings, seen again
    assert Finding.objects.filter(last_run=second).count() == Finding.objects.count()


def test_one_new_payment_reruns_exactly_the_rules_that_read_payments(org, trading, findings):
    first = services.run_rules(actor=SYSTEM_ACTOR)
    trading_payment(
        company=org.company_a,
        partner=trading.supplier,
        contract=findings,
        amount="1000.00",
        paid_on=DAY + datetime.timedelta(days=1),
        created_by=trading.finance_a,
    )

    second = services.run_rules(actor=SYSTEM_ACTOR)

    ran = set(second.ran_rule_codes)
    assert ran == rules_reading("trading.payment")
    assert {"payment_over_contract", "overdue_shipments", "contract_execution"} <= ran
    assert set(second.skipped_rule_codes) == all_codes() - ran
    assert "self_approval" in second.skipped_rule_codes
    # skipped or run, every finding still found is seen again by this run
    assert counts("self_approval") == [(2, second.pk)]
    assert counts("payment_over_contract") == [(2, second.pk)]
    assert second.stats["payment_over_contract"].get("skipped") is None
    assert first.pk != second.pk


def test_an_audited_change_to_an_existing_row_reruns_the_rules_reading_its_table(
    org, trading, findings
):
    partner = make_partner(company=org.company_a, name="甲方供应商")
    services.run_rules(actor=SYSTEM_ACTOR)
    trading_master.partner_update(
        actor=trading.purchaser_a, partner_id=partner.pk, phone="021-55550000"
    )

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == rules_reading("trading.partner")
    assert {"related_parties", "split_purchases"} <= set(second.ran_rule_codes)
    assert "self_approval" in second.skipped_rule_codes


def test_a_change_to_a_table_no_rule_reads_skips_them_all(org, findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    org_services.department_update(
        actor=SYSTEM_ACTOR, department_id=org.department_a.pk, name="综合管理部"
    )

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == undeclared()


def test_a_changed_person_reruns_every_rule_as_findings_carry_names(org, findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    org_services.user_update(actor=SYSTEM_ACTOR, user_id=org.handler_a.pk, name="甲经办改名")

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == all_codes()
    evidence = Finding.objects.get(rule_code="self_approval").evidence
    assert evidence["people"][0]["name"] == "甲经办改名"


def test_signing_in_changes_nothing_a_rule_reads(org, findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    org_services.user_login_record(user=org.handler_a)

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == undeclared()


def test_an_import_reruns_every_rule(org, findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    with transaction.atomic():
        audit_record(
            actor=SYSTEM_ACTOR,
            action="legacy.batch.loaded",
            company_id=org.group.pk,
            object_type=inputs.IMPORT_OBJECT_TYPE,
            object_id="batch-1",
        )

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == all_codes()


def test_a_parameter_change_reruns_that_rule(org, findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    services.rule_parameters_update(
        actor=org.inspector,
        rule_code="payment_over_contract",
        parameters={**registry.rule_get("payment_over_contract").defaults(), "lookback_days": 400},
    )

    second = services.run_rules(actor=SYSTEM_ACTOR)

    assert set(second.ran_rule_codes) == {"payment_over_contract"} | undeclared()
    finding = Finding.objects.get(rule_code="payment_over_contract")
    assert (finding.parameter_version, finding.seen_count) == (2, 2)


def test_a_later_moment_reruns_the_rules_of_the_moment_and_a_new_day_those_of_the_day(
    findings, frozen
):
    services.run_rules(actor=SYSTEM_ACTOR)
    moment = {rule.code for rule in registry.all_rules() if rule.as_of == "moment"}
    day = {rule.code for rule in registry.all_rules() if rule.as_of == "day"}
    assert {"self_approval", "unusual_approval_timing", "payment_over_contract"} <= day
    assert moment <= undeclared()  # only the warnings (refreshed in place) depend on the moment

    frozen.advance(hours=1)  # 11:00, the same day
    later = services.run_rules(actor=SYSTEM_ACTOR)
    assert set(later.ran_rule_codes) == moment | undeclared()

    frozen.advance(days=1)
    tomorrow = services.run_rules(actor=SYSTEM_ACTOR)
    assert set(tomorrow.ran_rule_codes) == moment | day | undeclared()
    assert set(tomorrow.skipped_rule_codes) == {"related_parties"}
    assert counts("self_approval") == [(3, tomorrow.pk)]


def _flaky_rule(code, calls, *, fail_on):
    """A rule reading payments that fails on the calls numbered in `fail_on`."""

    def detect(context):
        calls.append(context.now)
        if len(calls) in fail_on:
            raise RuntimeError("flaky")
        return []

    return registry.Rule(
        code=code,
        number=97,
        title=code,
        explanation="",
        area=Area.MONEY,
        severity=Severity.LOW,
        parameters=(),
        detect=detect,
        summarize=lambda figures: "",
        reads=("trading.payment",),
        as_of="none",
    )


def test_a_failed_rule_is_never_skipped_next_time(org, flows):
    calls: list[datetime.datetime] = []
    registry.register(_flaky_rule("zz_flaky", calls, fail_on={1, 3}))
    try:
        first = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_flaky"])
        assert (first.status, first.stats["zz_flaky"]) == (RunStatus.FAILED, {"error": "flaky"})
        assert not RuleState.objects.filter(rule_code="zz_flaky").exists()
        second = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_flaky"])
        assert (second.status, second.ran_rule_codes) == (RunStatus.FINISHED, ["zz_flaky"])
        third = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_flaky"])
        assert third.skipped_rule_codes == ["zz_flaky"]
        assert len(calls) == 2
        # a full run that fails leaves nothing to skip on either
        failed = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_flaky"], full=True)
        assert failed.status == RunStatus.FAILED
        after = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_flaky"])
        assert (after.status, after.ran_rule_codes) == (RunStatus.FINISHED, ["zz_flaky"])
        assert len(calls) == 4
    finally:
        registry.unregister("zz_flaky")


def test_a_rule_that_does_not_say_what_it_reads_always_runs(org, flows):
    calls: list[datetime.datetime] = []
    rule = _flaky_rule("zz_undeclared", calls, fail_on=set())
    registry.register(dataclasses.replace(rule, reads=None))
    try:
        for _ in range(2):
            run = services.run_rules(actor=SYSTEM_ACTOR, rule_codes=["zz_undeclared"])
            assert run.ran_rule_codes == ["zz_undeclared"]
        assert len(calls) == 2
    finally:
        registry.unregister("zz_undeclared")


def test_full_runs_every_rule_and_the_command_says_what_ran(findings):
    services.run_rules(actor=SYSTEM_ACTOR)
    full = services.run_rules(actor=SYSTEM_ACTOR, full=True)
    assert full.is_full
    assert (set(full.ran_rule_codes), full.skipped_rule_codes) == (all_codes(), [])
    assert counts("self_approval") == [(2, full.pk)]

    out = io.StringIO()
    call_command("supervision_run", "--full", stdout=out)
    assert "skipped as unchanged: -" in out.getvalue()
    out = io.StringIO()
    call_command("supervision_run", stdout=out)
    summary = out.getvalue()
    assert "ran: trading_warnings;" in summary
    assert "skipped as unchanged: self_approval, split_purchases" in summary
    assert counts("self_approval")[0][0] == 4


def test_every_rule_reads_only_the_tables_it_declares(db, tmp_path):
    """Each declared rule's `detect`, over a generated history with violations of every rule
    planted (so each takes its paths to a hit), queries no table outside its `reads`."""
    # through the commands: the legacy app is a sibling, not a layer below
    call_command(
        "legacy_generate", str(tmp_path), "--rows", "1500", "--seed", "4", stdout=io.StringIO()
    )
    call_command("legacy_import", str(tmp_path), stdout=io.StringIO())
    period = json.loads((tmp_path / "planted.json").read_text(encoding="utf-8"))["period"]
    now = timezone.make_aware(
        datetime.datetime.combine(datetime.date.fromisoformat(period["end"]), datetime.time(9))
    )
    labels = {model._meta.db_table: model._meta.label_lower for model in apps.get_models()}
    undeclared_reads = {}
    hits = {}
    for rule in registry.all_rules():
        declared = inputs.rule_reads(rule)
        if declared is None:
            continue
        read: set[str] = set()

        def capture(execute, sql, params, many, context, read=read):
            read.update(labels[name] for name in QUOTED.findall(sql) if name in labels)
            return execute(sql, params, many, context)

        context = registry.RuleContext(parameters=rule.values({}), now=now)
        with connection.execute_wrapper(capture):
            hits[rule.code] = len(list(rule.detect(context)))
        # the audit trail read is that of declared tables (a partner's admission events)
        extra = read - set(declared) - {"audit.auditevent"}
        if extra:
            undeclared_reads[rule.code] = sorted(extra)
    assert undeclared_reads == {}
    assert sum(1 for count in hits.values() if count) >= 10  # the data exercises the rules


def _open_writer(org, written, release, ids):
    """A transaction that audits a partner change and stays open until `release`."""

    def write():
        try:
            with transaction.atomic():
                event = audit_record(
                    actor=SYSTEM_ACTOR,
                    action="trading.partner.updated",
                    company_id=org.company_a.pk,
                    object_type="trading.partner",
                    object_id="1",
                )
                ids.append(event.pk)
                written.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    assert written.wait(10)
    return thread


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_watermark_waits_for_writers_still_open(org):
    """An open transaction's audit event has an id below later ones: the watermark waits for
    it to end, so the next run, looking after the watermark, sees it."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers")
    written, release = threading.Event(), threading.Event()
    ids: list[int] = []
    thread = _open_writer(org, written, release, ids)
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()

    watermark = inputs.watermark_take(["trading.partner"])

    assert time.monotonic() - started >= 0.4
    thread.join(10)
    assert watermark.audit_id is not None and watermark.audit_id < ids[0]
    changes = inputs.audit_changes(watermark.audit_id)
    assert changes.touches(["trading.partner"], watermark.audit_id)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_watermark_not_settled_in_time_leaves_nothing_unchanged(org, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: concurrent writers")
    monkeypatch.setattr(inputs, "SETTLE_SECONDS", 0.2)
    written, release = threading.Event(), threading.Event()
    ids: list[int] = []
    thread = _open_writer(org, written, release, ids)
    try:
        watermark = inputs.watermark_take(["trading.partner"])
    finally:
        release.set()
        thread.join(10)
    assert watermark.audit_id is None
    rule = registry.rule_get("related_parties")
    assert rule is not None
    now = timezone.now()
    current = inputs.rule_inputs(
        rule, parameter_version=1, parameters=rule.defaults(), now=now, watermark=watermark
    )
    assert not inputs.is_unchanged(current, current, inputs.audit_changes(0))


def test_the_run_page_and_the_api_say_which_rules_ran_and_which_were_skipped(
    client, org, findings, english
):
    services.run_rules(actor=org.inspector)
    client.force_login(org.inspector)
    assert client.post(reverse("supervision:run_list")).status_code == 302
    page = client.get(reverse("supervision:run_list")).content.decode()
    latest = page.split('data-testid="run-row"')[1]  # newest first
    ran = latest.split('data-testid="run-ran">')[1].split("</div>")[0]
    skipped = latest.split('data-testid="run-skipped">')[1].split("</div>")[0]
    assert "16. " in ran and "1. " not in ran  # only the trading warnings ran
    assert f"1. {registry.rule_get('self_approval').title}" in skipped
    assert "1 ran, 15 skipped as unchanged" in latest

    assert client.post(reverse("supervision:run_list"), {"full": "1"}).status_code == 302
    page = client.get(reverse("supervision:run_list")).content.decode()
    latest = page.split('data-testid="run-row"')[1]
    assert "16 ran, 0 skipped as unchanged" in latest and "full run" in latest

    response = client.post(
        "/api/supervision/runs",
        data=json.dumps({"rules": ["self_approval", "related_parties"]}),
        content_type="application/json",
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["is_full"], body["ran_rule_codes"], body["skipped_rule_codes"]) == (
        False,
        [],
        ["self_approval", "related_parties"],
    )
    assert body["stats"]["self_approval"]["skipped"] is True
    response = client.post(
        "/api/supervision/runs",
        data=json.dumps({"rules": ["self_approval"], "full": True}),
        content_type="application/json",
    )
    assert response.json()["ran_rule_codes"] == ["self_approval"]
