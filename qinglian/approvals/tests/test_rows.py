"""The precompiled row writes and reads the engine's hot path uses (`qinglian.core.rows`) store
and read exactly what the ORM does, on both databases."""

import datetime

import pytest
from django.db.models import F
from django.forms.models import model_to_dict
from django.utils import timezone

from qinglian.approvals.enums import ActionKind, TaskStatus
from qinglian.approvals.models import ApprovalAction, ApprovalStep, ApprovalTask
from qinglian.core.rows import row_insert, row_update, rows_read, rows_save, select_list

from .test_services import submit

MOMENT = timezone.make_aware(datetime.datetime(2026, 3, 2, 21, 15, 7, 123456))


def _fields(instance):
    return {
        field.attname: getattr(instance, field.attname) for field in instance._meta.concrete_fields
    }


def test_an_inserted_row_reads_back_as_the_orm_wrote_it(flow):
    request = submit(flow)
    task = ApprovalTask.objects.filter(request=request).order_by("id").first()
    action = ApprovalAction(
        request=request,
        task=task,
        step_index=0,
        actor=flow.cost_1,
        kind=ActionKind.APPROVED,
        comment="同意，请财务“按期”支付",
        data={"after_hours": True, "seconds": 12, "names": ["甲", "乙"], "none": None},
        created_at=MOMENT,
    )
    row_insert(action)
    assert action.pk is not None and not action._state.adding
    stored = ApprovalAction.objects.get(pk=action.pk)
    assert _fields(stored) == _fields(action)


def test_updates_change_the_named_fields_only(flow):
    request = submit(flow)
    first, second = ApprovalTask.objects.filter(request=request).order_by("id")[:2]
    untouched = _fields(ApprovalTask.objects.get(pk=second.pk))
    first.status, first.decided_at, first.comment = TaskStatus.APPROVED, MOMENT, "好"
    first.decided_after_hours, first.decision_seconds = True, 3600
    first.escalated_at = MOMENT  # not named: not written
    assert row_update(first, ["status", "decided_at", "comment", "decided_after_hours"]) == 1
    stored = ApprovalTask.objects.get(pk=first.pk)
    assert (stored.status, stored.decided_at, stored.comment) == ("approved", MOMENT, "好")
    assert (stored.decided_after_hours, stored.decision_seconds, stored.escalated_at) == (
        True,
        None,
        None,
    )
    assert _fields(ApprovalTask.objects.get(pk=second.pk)) == untouched


def test_several_rows_each_with_their_own_fields_in_one_statement(flow, django_assert_num_queries):
    request = submit(flow)
    first, second, third = ApprovalTask.objects.filter(request=request).order_by("id")[:3]
    before = _fields(ApprovalTask.objects.get(pk=third.pk))
    first.status, first.decided_at, first.decided_after_hours = "approved", MOMENT, False
    second.status, second.due_at = "cancelled", None
    second.activated_at = MOMENT + datetime.timedelta(hours=1)
    with django_assert_num_queries(1):
        rows_save(
            [
                (first, {"status", "decided_at", "decided_after_hours"}),
                (second, {"status", "activated_at", "due_at"}),
            ]
        )
    assert _fields(ApprovalTask.objects.get(pk=first.pk)) == _fields(first)
    assert _fields(ApprovalTask.objects.get(pk=second.pk)) == _fields(second)
    assert _fields(ApprovalTask.objects.get(pk=third.pk)) == before


def test_a_join_reads_back_as_the_orm_reads_it(flow):
    request = submit(flow, amount="50000.00")  # the general manager's step is skipped
    table_step, table_task = ApprovalStep._meta.db_table, ApprovalTask._meta.db_table
    rows = rows_read(
        f"SELECT {select_list(ApprovalStep, 's')}, {select_list(ApprovalTask, 't')} "
        f"FROM {table_step} s LEFT JOIN {table_task} t ON t.step_id = s.id "
        "WHERE s.request_id = %s ORDER BY s.id, t.id",
        [request.pk],
        [ApprovalStep, ApprovalTask],
    )
    steps = {step.pk: step for step in ApprovalStep.objects.filter(request=request)}
    tasks = {task.pk: task for task in ApprovalTask.objects.filter(request=request)}
    assert {step.pk for step, _task in rows} == set(steps)
    assert {task.pk for _step, task in rows if task is not None} == set(tasks)
    for step, task in rows:
        assert model_to_dict(step) == model_to_dict(steps[step.pk])
        assert _fields(step) == _fields(steps[step.pk])
        if task is None:
            assert steps[step.pk].status == "skipped"
        else:
            assert _fields(task) == _fields(tasks[task.pk])


def test_expressions_are_refused(flow):
    request = submit(flow)
    task = ApprovalTask.objects.filter(request=request).first()
    assert task is not None
    task.order = F("order") + 1
    with pytest.raises(TypeError):
        row_update(task, ["order"])
