"""The operator's tools: `audit_verify` (optionally against anchors), `audit_anchor`, and the
nightly anchor job. Tampering is done the way an attacker with database rights would: straight
SQL with the append-only guards out of the way."""

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from qinglian.audit.models import AuditChain, AuditEvent
from qinglian.audit.services import audit_event_hash, chain_key
from qinglian.audit.tasks import daily_audit_anchor
from qinglian.core import clock
from qinglian.org.models import Company
from qinglian.org.services import company_update

from .test_services_chain import _bypass_guards

pytestmark = pytest.mark.usefixtures("english")  # asserts the English wording


def verify(*args: str) -> str:
    out = StringIO()
    call_command("audit_verify", *args, stdout=out)
    return out.getvalue()


def verify_fails(*args: str) -> tuple[str, str]:
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("audit_verify", *args, stdout=out)
    return str(raised.value), out.getvalue()


def chain_of(company: Company) -> AuditChain:
    return AuditChain.objects.get(key=chain_key(company.pk))


def sql(statement: str, params: list[Any]) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_verify_reports_a_clean_trail_as_intact(org):
    chains, events = AuditChain.objects.count(), AuditEvent.objects.count()
    assert verify() == f"intact: {chains} chains, {events} events verified\n"


def test_verify_names_the_sequence_of_an_event_updated_behind_the_application(org):
    chain = chain_of(org.company_a)
    victim = AuditEvent.objects.get(chain=chain, seq=2)
    _bypass_guards()
    sql("UPDATE audit_auditevent SET actor_name = %s WHERE id = %s", ["别人", victim.pk])
    message, output = verify_fails()
    assert message == f"audit trail broken: first bad sequence 2 in chain {chain.key}"
    assert output == (
        f"BROKEN: chain {chain.key} at sequence 2 (event id {victim.pk}): "
        "content does not match its hash (altered)\n"
    )


def test_verify_catches_a_deleted_last_event_by_the_head(org):
    chain = chain_of(org.company_b)
    last = chain.last_seq
    _bypass_guards()
    sql("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq = %s", [chain.pk, last])
    # The rest of the chain still links: only the head knows an event is gone.
    message, output = verify_fails()
    assert message == f"audit trail broken: first bad sequence {last} in chain {chain.key}"
    assert f"chain head says #{last}, events end at #{last - 1}" in output


def _rewrite_history(chain: AuditChain, from_seq: int, object_repr: str) -> None:
    """Change one event and re-hash it and everything after it, then move the head: a rewrite
    that the chain alone can no longer reveal."""
    previous = AuditEvent.objects.get(chain=chain, seq=from_seq - 1).hash if from_seq > 1 else None
    for event in AuditEvent.objects.filter(chain=chain, seq__gte=from_seq).order_by("seq"):
        if event.seq == from_seq:
            event.object_repr = object_repr
        event.prev_hash = previous or "0" * 64
        event.hash = audit_event_hash(event, chain.key)
        sql(
            "UPDATE audit_auditevent SET object_repr = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [event.object_repr, event.prev_hash, event.hash, event.pk],
        )
        previous = event.hash
    sql("UPDATE audit_auditchain SET last_hash = %s WHERE id = %s", [previous, chain.pk])


def test_anchor_reveals_a_rewritten_history_the_chain_cannot(org, tmp_path):
    out = StringIO()
    call_command("audit_anchor", dir=tmp_path, stdout=out)
    anchor = tmp_path / f"anchor-{clock.today().isoformat()}.json"
    assert out.getvalue() == f"{anchor}\n"
    document = json.loads(anchor.read_text(encoding="utf-8"))
    chain = chain_of(org.company_a)
    assert document["heads"][chain.key] == {"seq": chain.last_seq, "hash": chain.last_hash}
    assert verify("--anchor", str(anchor)).endswith(", 1 anchor(s) match\n")

    _bypass_guards()
    _rewrite_history(chain, 2, "伪造的历史")
    assert verify().startswith("intact:")  # re-hashed consistently: the chain alone is fooled
    message, output = verify_fails("--anchor", str(anchor))
    assert (
        message == f"audit trail broken: first bad sequence {chain.last_seq} in chain {chain.key}"
    )
    assert output.startswith(f"BROKEN: chain {chain.key} at sequence {chain.last_seq} (event id ")
    assert output.endswith("differs from the anchored hash (rewritten)\n")


def test_anchor_still_matches_after_new_events(org, tmp_path):
    call_command("audit_anchor", dir=tmp_path, stdout=StringIO())
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="新地址")
    (anchor,) = tmp_path.iterdir()
    assert verify("--anchor", str(anchor)).startswith("intact:")


def test_verify_refuses_an_unreadable_anchor(org, tmp_path):
    missing = tmp_path / "nowhere.json"
    message, _output = verify_fails("--anchor", str(missing))
    assert message.startswith(f"cannot read anchor {missing}:")


def test_daily_anchor_job_writes_the_file(org, tmp_path, settings):
    settings.AUDIT_ANCHOR_DIR = tmp_path / "anchors"
    daily_audit_anchor()  # enqueued; immediate mode (test settings) runs it right here
    path = tmp_path / "anchors" / f"anchor-{clock.today().isoformat()}.json"
    # (Huey keeps no return value of a periodic task: the file is the result.)
    assert [p.name for p in (tmp_path / "anchors").iterdir()] == [path.name]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert set(document) == {"generated_at", "heads", "digest"}
    assert set(document["heads"]) == set(AuditChain.objects.values_list("key", flat=True))
