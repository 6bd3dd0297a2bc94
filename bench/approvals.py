"""Benchmark: an approver's inbox under load, and approvals per second against the ceiling.

    python bench/approvals.py --db sqlite|postgresql --requests N [--inbox 1000] [--approvals K]

Sets up a throwaway database (SQLite: a temporary file; PostgreSQL: the database
`qinglian_bench_approvals`, dropped at the end), migrates it, creates a small group through the
services and the shipped approval flows (`qinglian.approvals.demo`), then SEEDS N engineering
payment requests with bulk inserts (seeding is not measured): a year of history — approved,
rejected, withdrawn, in progress — in which one cost auditor has `--inbox` pending tasks and
tens of thousands of decided ones. Then it measures:

1. the inbox: `selectors.inbox_pending(user=...)`, its count and its first page of 50 rows
   with every related field the page shows, repeated; and the real page `/approvals/` through
   `django.test.Client` when the page answers 200;
2. approvals per second through the service layer: K pending cost-audit tasks approved one at a
   time with `services.task_approve`, one transaction each, as a web request does;
3. the ceiling: K other, identical tasks approved by plain SQL from one driver connection
   (psycopg / sqlite3), one transaction each, writing the same rows `task_approve` writes —
   the task, the action, the other signer's task, the step, the next step and its task, the
   notification, the audit event and its chain head (with a real hash).

2 and 3 take turns in blocks of 50 approvals, so a machine whose load changes during the run
weighs on both alike.

It checks that both ways left the same rows (step and task states, actions, notifications,
audit events) and that every audit chain still verifies; it exits 1 when either fails.
Progress goes to stderr; the last line of stdout is one JSON object (see bench/README.md).
Durability stays as the application configures it: every approval is a real commit.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from harness import DEFAULT_POSTGRES_SERVER, setup_django, throwaway_database

PAGE_SIZE = 50
CHUNK = 5000  # requests seeded per transaction
BLOCK = 50  # approvals per turn when the services and plain SQL take turns


def log(message: str) -> None:
    print(f"[bench approvals] {message}", file=sys.stderr, flush=True)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument(
        "--requests", type=int, default=100000, help="requests seeded (default 100000)"
    )
    parser.add_argument(
        "--inbox", type=int, default=1000, help="pending tasks of the measured approver"
    )
    parser.add_argument(
        "--approvals",
        type=int,
        default=2000,
        help="approvals through the services, and again by plain SQL (default 2000)",
    )
    parser.add_argument("--repeats", type=int, default=200, help="inbox reads (default 200)")
    parser.add_argument(
        "--http-repeats", type=int, default=50, help="inbox page requests (default 50; 0 skips)"
    )
    parser.add_argument(
        "--postgres-server",
        default=os.environ.get("BENCH_POSTGRES_SERVER", DEFAULT_POSTGRES_SERVER),
        help=f"PostgreSQL server URL without a database name (default {DEFAULT_POSTGRES_SERVER})",
    )
    arguments = parser.parse_args()
    if arguments.inbox < 1 or arguments.approvals < 1 or arguments.repeats < 1:
        parser.error("--inbox, --approvals and --repeats must be at least 1")
    if arguments.requests < arguments.inbox + 2 * arguments.approvals:
        parser.error("--requests must cover --inbox plus twice --approvals")
    return arguments


# ---------------------------------------------------------------- the throwaway database


# ---------------------------------------------------------------- the organisation


@dataclass
class Org:
    company: Any
    requesters: list[Any]
    approver: Any  # the cost auditor whose inbox is measured
    auditors: list[Any]  # the other cost auditors
    projects: list[Any]  # each with its own leader
    manager: Any
    finance: Any
    template: Any


def make_org() -> Org:
    """A group, one subsidiary with an engineering department, and the people of the payment
    route, through the services like the application; the shipped approval flows."""
    from qinglian.approvals.demo import approval_templates_load
    from qinglian.approvals.models import ApprovalTemplate
    from qinglian.org.enums import RoleCode
    from qinglian.org.factories import make_company, make_department, make_project, make_user

    group = make_company(parent=None, name="基准测试集团", code="BENCH")
    company = make_company(parent=group, name="基准建设公司", code="BENCH1")
    department = make_department(company=company, name="工程部")

    def person(username: str, name: str, role: str, **extra: Any) -> Any:
        return make_user(
            company=company,
            roles=(role,),
            username=username,
            name=name,
            email=f"{username}@bench.example",
            **extra,
        )

    requesters = [
        person(f"handler{n}", f"经办{n}", RoleCode.HANDLER, department=department)
        for n in range(20)
    ]
    approver = person("approver", "造价审核甲", RoleCode.COST_AUDITOR)
    auditors = [person(f"auditor{n}", f"造价{n}", RoleCode.COST_AUDITOR) for n in range(20)]
    leaders = [person(f"leader{n}", f"分管{n}", RoleCode.LEADER_IN_CHARGE) for n in range(10)]
    projects = [
        make_project(company=company, leader=leader, name=f"港区工程{n}")
        for n, leader in enumerate(leaders)
    ]
    manager = person("manager", "总经理", RoleCode.GENERAL_MANAGER)
    finance = person("finance", "财务", RoleCode.FINANCE)
    approval_templates_load()
    template = ApprovalTemplate.objects.select_related("current_version").get(
        code="engineering_payment"
    )
    return Org(company, requesters, approver, auditors, projects, manager, finance, template)


# ---------------------------------------------------------------- seeding (not measured)


@dataclass
class Target:
    """One pending cost-audit task whose approval is measured, and the rows it touches."""

    request_id: int
    task_id: int  # approved by `actor_id`
    other_task_id: int  # the other signer's, cancelled by the approval (any-sign)
    step_id: int  # the cost-audit step
    next_step_id: int  # the leader's step, opened by the approval
    next_task_id: int
    next_user_id: int
    actor_id: int
    activated_at: datetime.datetime
    title: str
    serial: str


@dataclass
class Plan:
    request: Any
    steps: list[tuple[Any, list[Any]]] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)  # (action, task or None)
    notices: list[Any] = field(default_factory=list)
    target: bool = False


STEP_NAMES = ("造价审核", "分管领导", "总经理")
NODE_KEYS = ("cost_audit", "leader", "general_manager")
LEADER_HOURS = 48


def plan_request(
    number: int, kind: str, org: Org, rng: random.Random, now: datetime.datetime
) -> Plan:
    """One request's rows as the engine would have left them. `kind`: "inbox" (pending for the
    measured approver), "target" (pending for a pair of other auditors), or the background
    history ("approved", "rejected", "withdrawn", "at_cost", "at_leader")."""
    from qinglian.approvals.enums import (
        ActionKind,
        NodeMode,
        RequestStatus,
        StepStatus,
        TaskStatus,
    )
    from qinglian.approvals.models import (
        ApprovalAction,
        ApprovalRequest,
        ApprovalStep,
        ApprovalTask,
        Notification,
    )
    from qinglian.approvals.services import _is_after_hours

    hours = datetime.timedelta(hours=1)
    project = org.projects[number % len(org.projects)]
    requester = org.requesters[number % len(org.requesters)]
    if kind in ("inbox", "target"):
        # at least a day old: the notice that opened the task has been read
        submitted = now - rng.uniform(25, 30 * 24) * hours
        amount = Decimal(rng.randrange(10_000, 900_000))
    else:
        submitted = now - rng.uniform(31 * 24, 365 * 24) * hours
        if kind in ("at_cost", "at_leader"):
            submitted = now - rng.uniform(1, 20 * 24) * hours
        amount = Decimal(rng.randrange(10_000, 3_000_000))
    others = rng.sample(org.auditors, 2)
    # the measured approver decided a quarter of the history; their only open tasks are the
    # inbox's
    history = kind in ("approved", "rejected", "withdrawn")
    if kind == "inbox" or (history and rng.random() < 0.25):
        pair = [org.approver, others[0]]
        rng.shuffle(pair)
    else:
        pair = others
    title = f"{project.name}第{number % 40 + 1}期进度款"
    request = ApprovalRequest(
        serial=f"SB{number:08d}",
        company=org.company,
        template=org.template,
        version=org.template.current_version,
        requester=requester,
        department_id=requester.department_id,
        title=title,
        form_data={
            "title": title,
            "project": project.pk,
            "contract_number": f"HT-{number:06d}",
            "amount": f"{amount}.00",
            "paid_to_date": None,
            "remarks": "按监理确认的计量单支付。",
            "attachment": None,
        },
        amount=amount,
        status=RequestStatus.IN_PROGRESS,
        submitted_at=submitted,
    )
    plan = Plan(request, target=kind == "target")
    gm_needed = amount > 1_000_000
    steps = [
        ApprovalStep(
            request=request,
            index=index,
            node_key=NODE_KEYS[index],
            name=STEP_NAMES[index],
            mode=NodeMode.ANY,
            status=StepStatus.WAITING,
            approver_ids=[],
            time_limit_hours=48,
        )
        for index in range(3)
    ]
    cost, leader, gm = steps
    cost.approver_ids = [user.pk for user in pair]
    leader.approver_ids = [project.leader_id]
    if gm_needed:
        gm.approver_ids = [org.manager.pk]
    else:
        gm.status, gm.note = StepStatus.SKIPPED, "Condition not met"
    cost_tasks = [
        ApprovalTask(request=request, step=cost, assignee=user, order=order * 10)
        for order, user in enumerate(pair)
    ]
    leader_task = ApprovalTask(request=request, step=leader, assignee_id=project.leader_id)
    gm_tasks = (
        [ApprovalTask(request=request, step=gm, assignee_id=gm.approver_ids[0])]
        if gm_needed
        else []
    )
    plan.steps = [(cost, cost_tasks), (leader, [leader_task]), (gm, gm_tasks)]
    plan.actions.append(
        (
            ApprovalAction(
                request=request, actor=requester, kind=ActionKind.SUBMITTED, created_at=submitted
            ),
            None,
        )
    )

    def notice(user_id: int, notice_kind: str, moment: datetime.datetime) -> None:
        plan.notices.append(
            Notification(
                user_id=user_id,
                request=request,
                kind=notice_kind,
                message=f"Waiting for your approval: {title}",
                created_at=moment,
                read_at=moment + hours if moment < now - 24 * hours else None,
            )
        )

    def activate(step: Any, tasks: list[Any], moment: datetime.datetime) -> None:
        step.status, step.activated_at = StepStatus.ACTIVE, moment
        for task in tasks:
            task.status, task.activated_at = TaskStatus.PENDING, moment
            task.due_at = moment + 48 * hours
            notice(task.assignee_id, "task", moment)

    def decide(step: Any, task: Any, status: str, moment: datetime.datetime) -> None:
        task.status, task.decided_at = status, moment
        task.decided_after_hours = _is_after_hours(moment)
        task.decision_seconds = int((moment - task.activated_at).total_seconds())
        step.status = StepStatus.APPROVED if status == TaskStatus.APPROVED else status
        step.decided_at = moment
        for other in plan.steps[step.index][1]:
            if other is not task and other.status in (TaskStatus.WAITING, TaskStatus.PENDING):
                other.status, other.decided_at = TaskStatus.CANCELLED, moment
        plan.actions.append(
            (
                ApprovalAction(
                    request=request,
                    step_index=step.index,
                    actor_id=task.assignee_id,
                    kind=ActionKind.APPROVED
                    if status == TaskStatus.APPROVED
                    else ActionKind.REJECTED,
                    data={
                        "after_hours": task.decided_after_hours,
                        "seconds": task.decision_seconds,
                    },
                    created_at=moment,
                ),
                task,
            )
        )

    def finish(status: str, moment: datetime.datetime) -> None:
        request.status, request.finished_at = status, moment
        for step, tasks in plan.steps:
            if step.status in (StepStatus.WAITING, StepStatus.ACTIVE):
                step.status = StepStatus.CANCELLED
            for task in tasks:
                if task.status in (TaskStatus.WAITING, TaskStatus.PENDING):
                    task.status, task.decided_at = TaskStatus.CANCELLED, moment
        notice(requester.pk, "decided", moment)
        if status == RequestStatus.APPROVED:
            notice(org.finance.pk, "cc", moment)

    moment = submitted
    activate(cost, cost_tasks, moment)
    if kind in ("inbox", "target", "at_cost"):
        return plan
    if kind == "withdrawn":
        moment += rng.uniform(1, 24) * hours
        plan.actions.append(
            (
                ApprovalAction(
                    request=request,
                    actor=requester,
                    kind=ActionKind.WITHDRAWN,
                    created_at=moment,
                ),
                None,
            )
        )
        finish(RequestStatus.WITHDRAWN, moment)
        return plan
    moment += rng.uniform(0.5, 60) * hours
    decide(cost, rng.choice(cost_tasks), TaskStatus.APPROVED, moment)
    activate(leader, [leader_task], moment)
    if kind == "at_leader":
        return plan
    moment += rng.uniform(0.5, 60) * hours
    if kind == "rejected":
        decide(leader, leader_task, TaskStatus.REJECTED, moment)
        finish(RequestStatus.REJECTED, moment)
        return plan
    decide(leader, leader_task, TaskStatus.APPROVED, moment)
    if gm_needed:
        activate(gm, gm_tasks, moment)
        moment += rng.uniform(0.5, 48) * hours
        decide(gm, gm_tasks[0], TaskStatus.APPROVED, moment)
    finish(RequestStatus.APPROVED, moment)
    return plan


def background_kind(rng: random.Random) -> str:
    draw = rng.random()
    if draw < 0.85:
        return "approved"
    if draw < 0.90:
        return "rejected"
    if draw < 0.93:
        return "withdrawn"
    return "at_cost" if draw < 0.965 else "at_leader"


def insert_plans(plans: list[Plan]) -> list[Target]:
    from django.db import transaction

    from qinglian.approvals.models import (
        ApprovalAction,
        ApprovalRequest,
        ApprovalStep,
        ApprovalTask,
        Notification,
    )

    with transaction.atomic():
        ApprovalRequest.objects.bulk_create([plan.request for plan in plans])
        ApprovalStep.objects.bulk_create(
            [step for plan in plans for step, _tasks in plan.steps], batch_size=2000
        )
        ApprovalTask.objects.bulk_create(
            [task for plan in plans for _step, tasks in plan.steps for task in tasks],
            batch_size=2000,
        )
        actions = []
        for plan in plans:
            for action, task in plan.actions:
                action.task = task
                actions.append(action)
        ApprovalAction.objects.bulk_create(actions, batch_size=2000)
        Notification.objects.bulk_create(
            [notice for plan in plans for notice in plan.notices], batch_size=2000
        )
    targets = []
    for plan in plans:
        if not plan.target:
            continue
        (cost, (first, second)), (leader, (leader_task,)) = plan.steps[0], plan.steps[1]
        targets.append(
            Target(
                request_id=plan.request.pk,
                task_id=first.pk,
                other_task_id=second.pk,
                step_id=cost.pk,
                next_step_id=leader.pk,
                next_task_id=leader_task.pk,
                next_user_id=leader_task.assignee_id,
                actor_id=first.assignee_id,
                activated_at=first.activated_at,
                title=plan.request.title,
                serial=plan.request.serial,
            )
        )
    return targets


def seed(arguments: argparse.Namespace, org: Org) -> tuple[list[Target], list[Target]]:
    """N requests; the measured approver's inbox first, then the service's targets and the
    plain-SQL targets (identical in shape), then the history. Returns the two target lists."""
    from qinglian.core import clock

    rng = random.Random(20260302)
    now = clock.now()
    inbox, count = arguments.inbox, arguments.approvals
    targets: list[Target] = []
    began = time.perf_counter()
    for start in range(0, arguments.requests, CHUNK):
        plans = []
        for number in range(start, min(start + CHUNK, arguments.requests)):
            if number < inbox:
                kind = "inbox"
            elif number < inbox + 2 * count:
                kind = "target"
            else:
                kind = background_kind(rng)
            plans.append(plan_request(number, kind, org, rng, now))
        targets += insert_plans(plans)
        done = min(start + CHUNK, arguments.requests)
        rate = done / max(time.perf_counter() - began, 1e-9)
        log(f"seeded {done}/{arguments.requests} requests ({rate:,.0f}/s)")
    return targets[:count], targets[count:]


def settle() -> None:
    """After seeding: planner statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize`
    would keep them, and a checkpoint, so the seeding's deferred writes do not land in the
    measurements."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("VACUUM ANALYZE")
            cursor.execute("CHECKPOINT")
        else:
            cursor.execute("ANALYZE")
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# ---------------------------------------------------------------- 1. the inbox


def quantile_ms(samples: list[float], percent: int) -> float:
    if len(samples) == 1:
        return round(samples[0] * 1000, 3)
    return round(statistics.quantiles(samples, n=100)[percent - 1] * 1000, 3)


def inbox_page(user: Any) -> tuple[int, list[tuple[Any, ...]]]:
    """What the inbox shows: how many tasks wait, and the first page with its related rows."""
    from qinglian.approvals import selectors

    pending = selectors.inbox_pending(user=user)
    count = pending.count()
    rows = [
        (
            task.request.serial,
            task.request.title,
            task.request.amount,
            task.request.requester.name,
            task.request.template.name,
            task.step.name,
            task.activated_at,
            task.due_at,
        )
        for task in pending[:PAGE_SIZE]
    ]
    return count, rows


def measure_inbox(user: Any, repeats: int, expected: int) -> list[float]:
    for _warm_up in range(5):
        inbox_page(user)
    samples = []
    for _repeat in range(repeats):
        began = time.perf_counter()
        count, rows = inbox_page(user)
        samples.append(time.perf_counter() - began)
        if count != expected or len(rows) != min(PAGE_SIZE, expected):
            raise RuntimeError(f"inbox shows {count} tasks and {len(rows)} rows")
    return samples


def explain_inbox(user: Any) -> None:
    """The plans of the queries the inbox runs, on stderr."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        inbox_page(user)
    prefix = (
        "EXPLAIN (ANALYZE, BUFFERS)" if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN"
    )
    for query in captured.captured_queries:
        # the captured text has its parameters inlined, as the database received them
        with connection.cursor() as cursor:
            cursor.execute(f"{prefix} {query['sql']}")
            plan = "\n    ".join(" ".join(str(part) for part in row) for row in cursor.fetchall())
        log(f"inbox query {query['sql'][:100]}...\n    {plan}")


def measure_http(user: Any, repeats: int) -> list[float] | None:
    """The real inbox page, when it exists and answers."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    try:
        response = client.get("/approvals/")
    except Exception as error:
        log(f"inbox page skipped: {error!r}")
        return None
    if response.status_code != 200:
        log(f"inbox page skipped: HTTP {response.status_code}")
        return None
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get("/approvals/")
    log(f"inbox page: {len(captured.captured_queries)} queries")
    for query in captured.captured_queries:
        log(f"    {float(query['time']) * 1000:.0f} ms {query['sql'][:150]}")
    samples = []
    for _repeat in range(repeats):
        began = time.perf_counter()
        response = client.get("/approvals/")
        samples.append(time.perf_counter() - began)
        if response.status_code != 200:
            raise RuntimeError(f"inbox page answered {response.status_code}")
    return samples


# ---------------------------------------------------------------- 2. through the services


def capture_one(target: Target, users: dict[int, Any]) -> tuple[int, list[str]]:
    """Approve one target with the queries captured: how many, and the writes among them."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from qinglian.approvals import services

    with CaptureQueriesContext(connection) as captured:
        services.task_approve(actor=users[target.actor_id], task_id=target.task_id)
    statements = [query["sql"] for query in captured.captured_queries]
    writes = [
        sql.split(" WHERE ")[0][:110]
        for sql in statements
        if sql.startswith(("INSERT", "UPDATE", "DELETE")) or "FOR UPDATE" in sql
    ]
    slowest = sorted(captured.captured_queries, key=lambda query: -float(query["time"]))[:5]
    log("its slowest queries:")
    for query in slowest:
        log(f"    {float(query['time']) * 1000:.2f} ms {query['sql'][:160]}")
    return len(statements), writes


def approve_through_services(
    targets: list[Target], users: dict[int, Any], latencies: list[float]
) -> float:
    """Approve these targets with `services.task_approve`, one transaction each inside a request
    context like a web request; their latencies are appended. Returns the wall time."""
    from qinglian.approvals import services
    from qinglian.core.request_context import RequestContext, request_context_scope

    began = time.perf_counter()
    for target in targets:
        started = time.perf_counter()
        with request_context_scope(RequestContext(uuid.uuid4().hex, "10.0.0.8")):
            services.task_approve(actor=users[target.actor_id], task_id=target.task_id)
        latencies.append(time.perf_counter() - started)
    return time.perf_counter() - began


# ---------------------------------------------------------------- 3. the ceiling: plain SQL


class RawWriter:
    """The rows of one mid-route any-sign approval, written by plain SQL in one transaction:
    lock the request, approve the task, record the action, cancel the other signer's task,
    close the step, open the next step and its task, notify its approver, append the audit
    event to the company's chain (real hash) and move the chain head."""

    def __init__(self, database_url: str, vendor: str, company_id: int, users: dict[int, str]):
        from django.conf import settings

        from qinglian.approvals.models import (
            ApprovalAction,
            ApprovalRequest,
            ApprovalStep,
            ApprovalTask,
            Notification,
        )
        from qinglian.audit.models import AuditChain, AuditEvent

        self.vendor = vendor
        self.company_id = company_id
        self.users = users
        self.t = {
            "request": ApprovalRequest._meta.db_table,
            "task": ApprovalTask._meta.db_table,
            "step": ApprovalStep._meta.db_table,
            "action": ApprovalAction._meta.db_table,
            "notice": Notification._meta.db_table,
            "chain": AuditChain._meta.db_table,
            "event": AuditEvent._meta.db_table,
        }
        if vendor == "postgresql":
            import psycopg

            self.connection: Any = psycopg.connect(database_url)
            self.mark = "%s"
        else:
            import sqlite3

            path = settings.DATABASES["default"]["NAME"]
            self.connection = sqlite3.connect(path, isolation_level=None, timeout=25)
            # As the application configures SQLite (config/settings/base.py).
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                self.connection.execute(f"PRAGMA {pragma}")
            self.mark = "?"

    def close(self) -> None:
        self.connection.close()

    def _sql(self, statement: str) -> str:
        return statement.format(**self.t).replace("%s", self.mark)

    def _json(self, value: Any) -> Any:
        if self.vendor == "postgresql":
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value, ensure_ascii=False)

    def _time(self, moment: datetime.datetime) -> Any:
        if self.vendor == "postgresql":
            return moment
        return str(moment.astimezone(datetime.UTC).replace(tzinfo=None))  # as Django stores it

    def approve(self, target: Target) -> None:
        from qinglian.approvals.services import _is_after_hours
        from qinglian.audit.hashing import event_hash, jsonable
        from qinglian.audit.services import chain_key
        from qinglian.core import clock

        sql, T = self._sql, self._time
        cursor = self.connection.cursor()
        if self.vendor == "sqlite":
            cursor.execute("BEGIN IMMEDIATE")
        lock = " FOR UPDATE" if self.vendor == "postgresql" else ""
        cursor.execute(sql("SELECT id FROM {request} WHERE id = %s" + lock), (target.request_id,))
        now = clock.now()
        after_hours = _is_after_hours(now)
        seconds = max(0, int((now - target.activated_at).total_seconds()))
        cursor.execute(
            sql(
                "UPDATE {task} SET status = 'approved', decided_at = %s, comment = '', "
                "decided_after_hours = %s, decision_seconds = %s WHERE id = %s"
            ),
            (T(now), after_hours, seconds, target.task_id),
        )
        facts = {"after_hours": after_hours, "seconds": seconds}
        cursor.execute(
            sql(
                "INSERT INTO {action} (request_id, task_id, step_index, actor_id, kind, comment, "
                "data, created_at) VALUES (%s, %s, 0, %s, 'approved', '', %s, %s)"
            ),
            (target.request_id, target.task_id, target.actor_id, self._json(facts), T(now)),
        )
        cursor.execute(
            sql(
                "UPDATE {task} SET status = 'cancelled', decided_at = %s WHERE step_id = %s "
                "AND superseded = %s AND status IN ('waiting', 'pending')"
            ),
            (T(now), target.step_id, False),
        )
        key = chain_key(self.company_id)
        cursor.execute(
            sql("SELECT id, last_seq, last_hash FROM {chain} WHERE key = %s" + lock), (key,)
        )
        chain_id, last_seq, last_hash = cursor.fetchone()
        changes = jsonable(
            {
                "step": [None, STEP_NAMES[0]],
                "after_hours": [None, after_hours],
                "seconds": [None, seconds],
            }
        )
        event = {
            "seq": last_seq + 1,
            "occurred_at": now,
            "actor_id": target.actor_id,
            "actor_name": self.users[target.actor_id],
            "action": "approvals.request.approved",
            "object_type": "approvals.approvalrequest",
            "object_id": str(target.request_id),
            "object_repr": f"{target.serial} {target.title}"[:200],
            "changes": changes,
            "request_id": uuid.uuid4().hex,
            "ip_address": "10.0.0.8",
            "prev_hash": last_hash,
        }
        digest = event_hash(chain_key=key, **event)
        cursor.execute(
            sql(
                "INSERT INTO {event} (chain_id, seq, occurred_at, actor_id, actor_name, action, "
                "object_type, object_id, object_repr, changes, request_id, ip_address, "
                "prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            (
                chain_id,
                event["seq"],
                T(now),
                event["actor_id"],
                event["actor_name"],
                event["action"],
                event["object_type"],
                event["object_id"],
                event["object_repr"],
                self._json(changes),
                event["request_id"],
                event["ip_address"],
                last_hash,
                digest,
            ),
        )
        cursor.execute(
            sql("UPDATE {chain} SET last_seq = %s, last_hash = %s WHERE id = %s"),
            (event["seq"], digest, chain_id),
        )
        cursor.execute(
            sql("UPDATE {step} SET status = 'approved', decided_at = %s WHERE id = %s"),
            (T(now), target.step_id),
        )
        cursor.execute(
            sql("UPDATE {step} SET status = 'active', activated_at = %s WHERE id = %s"),
            (T(now), target.next_step_id),
        )
        due = now + datetime.timedelta(hours=LEADER_HOURS)
        cursor.execute(
            sql(
                "UPDATE {task} SET status = 'pending', activated_at = %s, due_at = %s WHERE id = %s"
            ),
            (T(now), T(due), target.next_task_id),
        )
        cursor.execute(
            sql(
                "INSERT INTO {notice} (user_id, request_id, kind, message, created_at) "
                "VALUES (%s, %s, 'task', %s, %s)"
            ),
            (
                target.next_user_id,
                target.request_id,
                f"Waiting for your approval: {target.title}"[:300],
                T(now),
            ),
        )
        if self.vendor == "sqlite":
            cursor.execute("COMMIT")
        else:
            self.connection.commit()


def approve_both(
    service_targets: list[Target],
    sql_targets: list[Target],
    database_url: str,
    vendor: str,
    company_id: int,
) -> tuple[float, list[float], int, float]:
    """Both ways in turns of BLOCK approvals (services, then plain SQL, then services …), so a
    load that changes during the run — another process, a checkpoint — weighs on both alike.
    The first service approval runs alone with its queries captured and is not timed. Returns
    the services' wall time and latencies, the statements of one approval, and the plain
    SQL's wall time."""
    from django.contrib.auth import get_user_model

    users = {user.pk: user for user in get_user_model().objects.all()}
    queries, writes = capture_one(service_targets[0], users)
    log(f"one approval: {queries} queries; writes and locks:")
    for statement in writes:
        log(f"    {statement}")
    names = {pk: user.name for pk, user in users.items()}
    writer = RawWriter(database_url, vendor, company_id, names)
    latencies: list[float] = []
    service_seconds = sql_seconds = 0.0
    timed = service_targets[1:]
    try:
        for start in range(0, max(len(timed), len(sql_targets)), BLOCK):
            service_seconds += approve_through_services(
                timed[start : start + BLOCK], users, latencies
            )
            began = time.perf_counter()
            for target in sql_targets[start : start + BLOCK]:
                writer.approve(target)
            sql_seconds += time.perf_counter() - began
            done = min(start + BLOCK, len(sql_targets))
            if (start // BLOCK) % 4 == 3 or done == len(sql_targets):
                log(f"{done}/{len(sql_targets)} approvals each way")
    finally:
        writer.close()
    return service_seconds, latencies, queries, sql_seconds


# ---------------------------------------------------------------- checks


def rows_left(targets: list[Target]) -> dict[str, Counter[Any]]:
    """What the approvals left on their requests, independent of ids and times (a time shows
    only as set or not)."""
    from qinglian.approvals.models import ApprovalAction, ApprovalStep, ApprovalTask, Notification
    from qinglian.audit.models import AuditEvent

    kept = {"index", "step__index", "step_index", "status", "kind", "action"}

    def shapes(queryset: Any, *names: str) -> Counter[Any]:
        """Rows counted by these fields: kept ones by value, the others as set or not."""
        return Counter(
            tuple(
                value if name in kept else value is None
                for name, value in zip(names, row, strict=True)
            )
            for row in queryset.values_list(*names)
        )

    ids = [target.request_id for target in targets]
    return {
        "steps": shapes(
            ApprovalStep.objects.filter(request_id__in=ids),
            "index",
            "status",
            "activated_at",
            "decided_at",
        ),
        "tasks": shapes(
            ApprovalTask.objects.filter(request_id__in=ids),
            "step__index",
            "status",
            "activated_at",
            "due_at",
            "decided_at",
            "decided_after_hours",
            "decision_seconds",
        ),
        "actions": shapes(
            ApprovalAction.objects.filter(request_id__in=ids), "kind", "step_index", "task_id"
        ),
        "notifications": shapes(Notification.objects.filter(request_id__in=ids), "kind", "read_at"),
        "audit": shapes(
            AuditEvent.objects.filter(
                object_type="approvals.approvalrequest",
                object_id__in=[str(request_id) for request_id in ids],
            ),
            "action",
            "actor_id",
        ),
    }


def run(arguments: argparse.Namespace, database_url: str) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db import connection

    from qinglian.approvals.models import ApprovalTask
    from qinglian.audit.services import audit_chain_verify

    log(f"migrating ({connection.vendor})")
    call_command("migrate", verbosity=0, interactive=False)
    org = make_org()
    began = time.perf_counter()
    service_targets, sql_targets = seed(arguments, org)
    log("analysing and checkpointing")
    settle()
    seed_seconds = time.perf_counter() - began
    tasks = ApprovalTask.objects.count()
    decided = ApprovalTask.objects.filter(assignee=org.approver).exclude(status="pending").count()
    log(f"seeded in {seed_seconds:.0f} s: {tasks} tasks; the approver has decided {decided}")

    explain_inbox(org.approver)
    log(f"inbox: {arguments.repeats} reads of the count and the first {PAGE_SIZE} rows")
    inbox = measure_inbox(org.approver, arguments.repeats, arguments.inbox)
    http = measure_http(org.approver, arguments.http_repeats) if arguments.http_repeats else None

    log(
        f"{len(service_targets)} approvals through the services and {len(sql_targets)} by plain"
        f" SQL, one transaction each, in turns of {BLOCK}"
    )
    seconds, latencies, queries, raw_seconds = approve_both(
        service_targets, sql_targets, database_url, connection.vendor, org.company.pk
    )
    # the first approval ran with its queries captured: count it, not its capture, in the rate
    rate = (len(service_targets) - 1) / seconds
    raw_rate = len(sql_targets) / raw_seconds

    same_rows = rows_left(service_targets) == rows_left(sql_targets)
    if not same_rows:
        log(f"services left {rows_left(service_targets)}")
        log(f"plain SQL left {rows_left(sql_targets)}")
    report = audit_chain_verify()
    for problem in report.breaks:
        log(f"BROKEN: {problem.chain} at #{problem.seq}: {problem.reason}")
    return {
        "bench": "approvals",
        "db": arguments.db,
        "requests": arguments.requests,
        "tasks": tasks,
        "inbox_tasks": arguments.inbox,
        "approver_decided_tasks": decided,
        "seed_s": round(seed_seconds, 1),
        "inbox_p50_ms": quantile_ms(inbox, 50),
        "inbox_p95_ms": quantile_ms(inbox, 95),
        "inbox_http_p50_ms": quantile_ms(http, 50) if http else None,
        "inbox_http_p95_ms": quantile_ms(http, 95) if http else None,
        "approvals": arguments.approvals,
        "queries_per_approval": queries,
        "approvals_per_s": round(rate, 1),
        "approve_p50_ms": quantile_ms(latencies, 50),
        "approve_p95_ms": quantile_ms(latencies, 95),
        "raw_approvals_per_s": round(raw_rate, 1),
        "ratio": round(rate / raw_rate, 3),
        "same_rows_written": same_rows,
        "chain_intact": report.is_intact,
    }


def main() -> int:
    arguments = parse_arguments()
    with throwaway_database(arguments.db, "approvals", arguments.postgres_server, log) as url:
        setup_django(url)
        result = run(arguments, url)
    print(json.dumps(result, ensure_ascii=False))
    return 0 if result["same_rows_written"] and result["chain_intact"] else 1


if __name__ == "__main__":
    sys.exit(main())
