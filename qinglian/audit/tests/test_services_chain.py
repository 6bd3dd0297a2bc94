import itertools

import pytest
from django.db import DatabaseError, connection, transaction

from qinglian.audit.models import AuditChain, AuditEvent
from qinglian.audit.services import audit_chain_verify
from qinglian.org.services import company_update

pytestmark = pytest.mark.usefixtures("english")  # asserts the English wording


def test_every_org_change_is_chained_per_company(org):
    report = audit_chain_verify()
    assert report.is_intact
    chain_a = AuditChain.objects.get(key=f"company:{org.company_a.pk}")
    events = list(AuditEvent.objects.filter(chain=chain_a).order_by("seq"))
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].action == "org.company.created"
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    assert chain_a.last_hash == events[-1].hash


def test_update_is_refused_by_the_database(org):
    event = AuditEvent.objects.first()
    assert event is not None
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="forged")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert AuditEvent.objects.get(pk=event.pk).action == event.action


def _bypass_guards() -> None:
    """What an attacker with database rights would do."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER audit_event_no_update")
            cursor.execute("DROP TRIGGER audit_event_no_delete")


def test_verify_names_the_first_altered_event(org):
    company_update(actor=org.admin_a, company_id=org.company_a.pk, address="新地址")
    chain = AuditChain.objects.get(key=f"company:{org.company_a.pk}")
    victim = AuditEvent.objects.get(chain=chain, seq=3)
    _bypass_guards()
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET object_repr = %s WHERE id = %s", ["篡改", victim.pk]
        )
    problem = audit_chain_verify().first_break
    assert problem is not None
    assert problem.chain == chain.key
    assert problem.seq == 3
    assert "altered" in problem.reason


def test_verify_finds_a_deleted_event(org):
    chain = AuditChain.objects.get(key=f"company:{org.company_b.pk}")
    _bypass_guards()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE chain_id = %s AND seq = 2", [chain.pk])
    report = audit_chain_verify()
    assert [(b.chain, b.seq) for b in report.breaks] == [(chain.key, 2)]
    assert "missing" in report.breaks[0].reason
