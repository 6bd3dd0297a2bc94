"""Legacy intake's acceptance, end to end through the commands a user runs: a generated year
of history with violations of the rules planted in it loads with `legacy_import`, and
`supervision_run --json` — run the morning after the history ends, as on the day it was taken
over — finds every planted case and nothing else, scored as bench/detection.py scores it
(qinglian.legacy.scoring)."""

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.utils import timezone

from qinglian.core import clock
from qinglian.legacy.scoring import score


@pytest.mark.django_db
def test_supervision_run_finds_what_was_planted_in_imported_history(
    tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    call_command(
        "legacy_generate", str(tmp_path), "--rows", "3000", "--seed", "1", stdout=io.StringIO()
    )
    # the load queues the trading warnings' refresh for after its commit, as live posting does
    with django_capture_on_commit_callbacks(execute=True):
        call_command("legacy_import", str(tmp_path), stdout=io.StringIO())
    manifest = json.loads((tmp_path / "planted.json").read_text(encoding="utf-8"))
    ended = datetime.date.fromisoformat(manifest["period"]["end"])
    morning = timezone.make_aware(
        datetime.datetime.combine(ended + datetime.timedelta(days=1), datetime.time(9))
    )
    monkeypatch.setattr(clock, "now", lambda: morning)

    out = io.StringIO()
    call_command("supervision_run", "--json", stdout=out, stderr=io.StringIO())
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]

    rules, overall, verdicts = score(manifest["planted"], lines, {})
    missed = [case for case in verdicts["planted"] if not case["recalled"]]
    unmatched = [line for line in verdicts["findings"] if not line["matches"]]
    assert missed == [] and unmatched == []
    assert overall["recall"] == overall["precision"] == 1.0
    # the small history has cases of all but one rule (Benford's law needs a company-year of
    # payments), and each line carries the rule's severity and the source identifiers
    planted_rules = {code for code, figures in rules.items() if figures["planted"]}
    assert len(planted_rules) >= 14 and overall["planted"] >= 30
    assert all(line["severity"] and line["source_ids"] for line in lines)
