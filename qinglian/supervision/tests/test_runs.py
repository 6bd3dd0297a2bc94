"""Runs: findings with stable fingerprints, "seen again" instead of twins, the exact parameters
in the evidence, versioned parameter changes, and the command line."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from qinglian.audit.models import AuditEvent
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import PermissionDenied, ValidationFailed
from qinglian.supervision import registry, services
from qinglian.supervision.enums import Area, FindingStatus, RunStatus, RunTrigger, Severity
from qinglian.supervision.models import Finding, FindingDocument, RuleParameterVersion, Run
from qinglian.supervision.tests.conftest import days_ago, history_request


def self_approved(requester, amount="80000.00", days=5):
    return history_request(
        requester=requester,
        amount=amount,
        submitted_at=days_ago(days),
        decisions=((requester, days_ago(days - 1), 600, False),),
    )


def test_a_run_records_findings_and_a_rerun_sees_them_again(org, flows, frozen):
    request = self_approved(org.handler_a)
    first = services.run_rules(actor=org.inspector)
    assert first.status == RunStatus.FINISHED
    assert first.trigger == RunTrigger.MANUAL
    finding = Finding.objects.get()
    assert (finding.rule_code, finding.subject_id, finding.status) == (
        "self_approval",
        str(request.pk),
        FindingStatus.OPEN,
    )
    assert finding.severity == Severity.HIGH
    assert finding.company_id == org.company_a.pk
    assert finding.first_run_id == first.pk
    assert finding.parameter_version == 1
    assert finding.evidence["parameters"] == {
        "lookback_days": 365,
        "include_skipped_steps": True,
        "min_amount": "0",
    }
    assert finding.evidence["documents"][0]["number"] == request.serial
    assert finding.evidence["people"][0]["employee_number"] == org.handler_a.employee_number
    assert list(FindingDocument.objects.values_list("document_type", "document_id")) == [
        ("approvals.request", str(request.pk))
    ]
    assert first.new_count == 1
    assert first.stats["self_approval"]["new"] == 1

    frozen.advance(hours=1)
    second = services.run_rules(actor=SYSTEM_ACTOR, trigger=RunTrigger.SCHEDULE)
    assert Finding.objects.count() == 1
    finding.refresh_from_db()
    assert finding.seen_count == 2
    assert finding.last_run_id == second.pk
    assert finding.first_run_id == first.pk
    assert finding.last_seen_at == frozen.moment
    assert (second.new_count, second.seen_again_count) == (0, 1)
    assert AuditEvent.objects.filter(action="supervision.run.finished").count() == 2


def test_parameters_used_are_versioned_and_recorded(org, flows, frozen):
    self_approved(org.handler_a, amount="500.00")
    setting = services.rule_parameters_update(
        actor=org.inspector,
        rule_code="self_approval",
        parameters={"lookback_days": 30, "include_skipped_steps": False, "min_amount": "100"},
        reason="只看近一个月",
    )
    assert setting.version == 2
    assert list(
        RuleParameterVersion.objects.filter(rule_code="self_approval").values_list(
            "number", "parameters"
        )
    ) == [
        (2, {"lookback_days": 30, "include_skipped_steps": False, "min_amount": "100"}),
        (1, {"lookback_days": 365, "include_skipped_steps": True, "min_amount": "0"}),
    ]
    event = AuditEvent.objects.get(action="supervision.rule.updated")
    assert event.object_id == "self_approval"
    assert event.changes["lookback_days"] == [365, 30]
    assert event.changes["version"] == [1, 2]
    assert event.changes["reason"] == [None, "只看近一个月"]
    services.run_rules(actor=org.inspector, rule_codes=["self_approval"])
    finding = Finding.objects.get()
    assert finding.parameter_version == 2
    assert finding.evidence["parameters"]["min_amount"] == "100"
    # The same values again make no new version and no event.
    services.rule_parameters_update(
        actor=org.inspector,
        rule_code="self_approval",
        parameters={"lookback_days": 30, "include_skipped_steps": False, "min_amount": "100"},
    )
    assert RuleParameterVersion.objects.filter(rule_code="self_approval").count() == 2
    assert AuditEvent.objects.filter(action="supervision.rule.updated").count() == 1


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"lookback_days": 0, "include_skipped_steps": True, "min_amount": "0"}, "lookback_days"),
        ({"lookback_days": 30, "include_skipped_steps": True, "min_amount": "x"}, "min_amount"),
        ({"lookback_days": 30, "include_skipped_steps": True}, "min_amount"),
        (
            {"lookback_days": 30, "include_skipped_steps": True, "min_amount": "0", "x": 1},
            "x",
        ),
    ],
)
def test_bad_parameters_are_refused_and_nothing_changes(org, flows, parameters, field):
    with pytest.raises(ValidationFailed) as error:
        services.rule_parameters_update(
            actor=org.inspector, rule_code="self_approval", parameters=parameters
        )
    assert field in error.value.fields
    assert not RuleParameterVersion.objects.filter(number__gt=1).exists()
    assert not AuditEvent.objects.filter(action="supervision.rule.updated").exists()


@pytest.mark.parametrize("who", ["handler_a", "auditor", "admin_group"])
def test_only_group_inspectors_edit_parameters(org, flows, who):
    with pytest.raises(PermissionDenied):
        services.rule_parameters_update(
            actor=getattr(org, who), rule_code="self_approval", parameters={}
        )
    with pytest.raises(PermissionDenied):
        services.rule_parameters_update(
            actor=flows.inspector_a, rule_code="self_approval", parameters={}
        )
    assert not AuditEvent.objects.filter(action="supervision.rule.updated").exists()


def test_stale_edit_is_refused(org, flows):
    values = {"lookback_days": 30, "include_skipped_steps": True, "min_amount": "0"}
    services.rule_parameters_update(
        actor=org.inspector, rule_code="self_approval", parameters=values
    )
    with pytest.raises(Exception) as error:
        services.rule_parameters_update(
            actor=flows.inspector_2,
            rule_code="self_approval",
            parameters={**values, "lookback_days": 60},
            expected_version=1,
        )
    assert getattr(error.value, "code", "") == "supervision.stale"


def test_disabled_rules_are_skipped_unless_named(org, flows):
    self_approved(org.handler_a)
    services.rule_parameters_update(
        actor=org.inspector,
        rule_code="self_approval",
        parameters={"lookback_days": 365, "include_skipped_steps": True, "min_amount": "0"},
        is_enabled=False,
    )
    run = services.run_rules(actor=org.inspector)
    assert "self_approval" not in run.rule_codes
    assert not Finding.objects.exists()
    services.run_rules(actor=org.inspector, rule_codes=["self_approval"])
    assert Finding.objects.count() == 1


def test_a_failing_rule_is_recorded_and_the_others_run(org, flows):
    self_approved(org.handler_a)

    def broken(context):
        raise RuntimeError("boom")

    rule = registry.Rule(
        code="zz_broken",
        number=99,
        title="broken",
        explanation="",
        area=Area.MONEY,
        severity=Severity.LOW,
        parameters=(),
        detect=broken,
        summarize=lambda figures: "",
    )
    registry.register(rule)
    try:
        run = services.run_rules(actor=org.inspector)
    finally:
        registry.unregister("zz_broken")
    assert run.status == RunStatus.FAILED
    assert "boom" in run.error
    assert run.stats["zz_broken"] == {"error": "boom"}
    assert Finding.objects.filter(rule_code="self_approval").count() == 1


@pytest.mark.parametrize("who", ["handler_a", "no_role", "admin_group", "auditor"])
def test_only_inspectors_run_the_rules(org, flows, who):
    with pytest.raises(PermissionDenied):
        services.run_rules(actor=getattr(org, who))
    assert not Run.objects.exists()


def test_unknown_rule_is_refused(org, flows):
    with pytest.raises(ValidationFailed):
        services.run_rules(actor=org.inspector, rule_codes=["nope"])
    assert not Run.objects.exists()


def test_command_prints_json_lines(org, flows):
    request = self_approved(org.handler_a)
    out, err = io.StringIO(), io.StringIO()
    call_command("supervision_run", "--json", stdout=out, stderr=err)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["rule"] == "self_approval"
    assert line["severity"] == "high"
    assert line["status"] == "new"
    assert line["company"] == "A"
    assert line["subject"]["identifier"] == request.serial
    assert line["documents"] == [
        {"type": "approvals.request", "id": str(request.pk), "number": request.serial}
    ]
    assert line["people"] == [org.handler_a.employee_number]
    assert "1 new" in err.getvalue()
    out = io.StringIO()
    call_command("supervision_run", "--json", "--rule", "self_approval", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["status"] == "seen_again"
    with pytest.raises(CommandError):
        call_command("supervision_run", "--rule", "nope", stdout=out, stderr=err)


def test_parameters_export_and_load(org, flows, tmp_path):
    path = tmp_path / "parameters.json"
    call_command("supervision_params", "--export", str(path), stdout=io.StringIO())
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["rules"]["threshold_clustering"]["parameters"]["min_count"] == 3
    document["rules"]["threshold_clustering"]["parameters"]["min_count"] = 4
    path.write_text(json.dumps(document), encoding="utf-8")
    out = io.StringIO()
    call_command("supervision_params", "--load", str(path), stdout=out)
    assert "1 rules changed: threshold_clustering" in out.getvalue()
    assert (
        services.rule_parameters_export()["rules"]["threshold_clustering"]["parameters"][
            "min_count"
        ]
        == 4
    )
    document["rules"]["threshold_clustering"]["parameters"]["min_count"] = 1  # below its bound
    document["rules"]["self_approval"]["parameters"]["lookback_days"] = 10
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(CommandError, match="min_count"):
        call_command("supervision_params", "--load", str(path), stdout=io.StringIO())
    exported = services.rule_parameters_export()["rules"]
    assert exported["self_approval"]["parameters"]["lookback_days"] == 365  # all or nothing
