"""The demo shows findings of every rule on first run: `demo_load` loads the demo data and runs
the supervision rules once; a second `demo_load` runs nothing and records nothing."""

from collections import Counter
from io import StringIO

from django.core.management import call_command

from qinglian.supervision import registry
from qinglian.supervision.enums import RunStatus
from qinglian.supervision.models import Finding, Run


def test_demo_load_leaves_findings_of_every_rule_and_runs_the_rules_once(db):
    out, err = StringIO(), StringIO()

    call_command("demo_load", stdout=out, stderr=err)

    run = Run.objects.get()
    assert (run.status, run.error, err.getvalue()) == (RunStatus.FINISHED, "", "")
    found = Counter(Finding.objects.filter(first_run=run).values_list("rule_code", flat=True))
    rules = {rule.code: rule.number for rule in registry.all_rules()}
    assert len(rules) == 16
    missing = sorted(number for code, number in rules.items() if not found[code])
    assert missing == []
    assert f"Supervision rules run once: {run.new_count} findings." in out.getvalue()
    assert run.new_count == sum(found.values())

    findings = Finding.objects.count()
    out = StringIO()
    call_command("demo_load", stdout=out, stderr=StringIO())
    assert "Supervision: rules already run, no new run." in out.getvalue()
    assert (Run.objects.count(), Finding.objects.count()) == (1, findings)
