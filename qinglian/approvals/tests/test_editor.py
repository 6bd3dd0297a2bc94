"""The structured flow editor: a flow built from rows through the page's form (no JSON), saved
through the same service and checks as the JSON view, a change as a new version, problems named
by row and setting, rows added / removed / moved without saving, people found by the picker;
and only the group's IT administrators reach it."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from qinglian.approvals import services
from qinglian.approvals.definitions import Definition
from qinglian.approvals.demo import TEMPLATES
from qinglian.approvals.models import ApprovalTemplate, TemplateVersion
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.approvals.tests.formscrape import form_data
from qinglian.audit.models import AuditEvent
from qinglian.core.actors import SYSTEM_ACTOR

pytestmark = pytest.mark.usefixtures("english")

NEW = "/approvals/admin/new/"
PAYMENT = "/approvals/admin/payment/"


def client_for(user):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


META = {
    "mode": "structured",
    "code": "expense",
    "name": "费用报销",
    "category": "财务",
    "description": "",
    "self_approval_rule": "superior",
    "skip_repeated_approver": "on",
    "resume_at_returning_node": "on",
    "is_active": "on",
}


def expense_rows(flow):
    """A two-node flow with an any-of condition, a detail table and a named-people cc, as the
    editor's inputs."""
    return {
        "fields-0-key": "amount",
        "fields-0-label": "金额",
        "fields-0-type": "money",
        "fields-0-required": "on",
        "fields-1-key": "kind",
        "fields-1-label": "类型",
        "fields-1-type": "choice",
        "fields-1-choices": "差旅\r\n招待\r\n\r\n办公",
        "fields-2-key": "",  # left blank: the editor names it
        "fields-2-label": "明细",
        "fields-2-type": "rows",
        "fields-2-help": "每笔一行",
        "fields-2-columns-0-key": "what",
        "fields-2-columns-0-label": "项目",
        "fields-2-columns-0-type": "text",
        "fields-2-columns-0-required": "on",
        "fields-2-columns-1-key": "cost",
        "fields-2-columns-1-label": "金额",
        "fields-2-columns-1-type": "money",
        "title_field": "",
        "amount_field": "amount",
        "route-0-key": "head",
        "route-0-name": "部门负责人",
        "route-0-kind": "department_head",
        "route-0-role": "finance",  # left over from another kind: not saved
        "route-0-mode": "any",
        "route-0-time_limit": "24",
        "route-1-key": "",
        "route-1-name": "总经理",
        "route-1-kind": "role",
        "route-1-role": "general_manager",
        "route-1-scope": "requester_company",
        "route-1-mode": "all",
        "route-1-time_limit": "",
        "route-1-match": "any",
        "route-1-cond-0-field": "amount",
        "route-1-cond-0-op": "gt",
        "route-1-cond-0-value": "5000",
        "route-1-cond-1-field": "kind",
        "route-1-cond-1-op": "in",
        "route-1-cond-1-value": "招待，办公",
        "cc-0-at": "end",
        "cc-0-kind": "users",
        "cc-0-users": [str(flow.finance.pk)],
    }


def expected_expense(flow):
    return Definition.model_validate(
        {
            "fields": [
                {"key": "amount", "label": "金额", "type": "money", "required": True},
                {
                    "key": "kind",
                    "label": "类型",
                    "type": "choice",
                    "choices": ["差旅", "招待", "办公"],
                },
                {
                    "key": "field_1",
                    "label": "明细",
                    "type": "rows",
                    "help": "每笔一行",
                    "columns": [
                        {"key": "what", "label": "项目", "type": "text", "required": True},
                        {"key": "cost", "label": "金额", "type": "money"},
                    ],
                },
            ],
            "route": [
                {
                    "key": "head",
                    "name": "部门负责人",
                    "approver": {"kind": "department_head"},
                    "mode": "any",
                    "time_limit_hours": 24,
                },
                {
                    "key": "node_1",
                    "name": "总经理",
                    "approver": {"kind": "role", "role": "general_manager"},
                    "mode": "all",
                    "condition": {
                        "any": [
                            {"field": "amount", "op": "gt", "value": "5000"},
                            {"field": "kind", "op": "in", "value": ["招待", "办公"]},
                        ]
                    },
                },
            ],
            "cc": [{"at": "end", "approver": {"kind": "users", "users": [flow.finance.pk]}}],
            "amount_field": "amount",
        }
    ).model_dump(mode="json")


def version_of(code):
    return ApprovalTemplate.objects.get(code=code).current_version


# ---------------------------------------------------------------- round trip


def test_a_flow_built_from_rows_is_stored_as_the_structure_they_describe(org, flow):
    client = client_for(org.admin_group)
    page = client.get(NEW)
    assert page.status_code == 200
    assert 'data-testid="node-card"' in page.content.decode()
    response = client.post(NEW, {**META, **expense_rows(flow)})
    assert response.status_code == 302, response.content.decode()
    version = version_of("expense")
    assert version.number == 1
    assert version.definition == expected_expense(flow)
    created = AuditEvent.objects.filter(action="approvals.template.created", actor=org.admin_group)
    assert created.count() == 1


def test_the_editor_shows_a_stored_flow_and_saving_it_unchanged_keeps_the_version(org, flow):
    """Every shipped flow opens in the editor and comes back exactly as stored."""
    client = client_for(org.admin_group)
    for spec in TEMPLATES:
        services.template_save(
            actor=SYSTEM_ACTOR, code=spec.code, name=spec.name, definition=spec.definition
        )
        url = f"/approvals/admin/{spec.code}/"
        page = client.get(url)
        assert "editor-unsupported" not in page.content.decode(), spec.code
        response = client.post(url, form_data(page.content.decode(), "flow-form"))
        assert response.status_code == 302, (spec.code, response.content.decode())
        assert version_of(spec.code).number == 1, spec.code


def test_editing_a_condition_makes_version_2_and_a_running_request_keeps_version_1(org, flow):
    running = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    client = client_for(org.admin_group)
    data = form_data(client.get(PAYMENT).content.decode(), "flow-form")
    assert data["route-2-cond-0-value"] == ["1000000"]
    data["route-2-cond-0-value"] = ["2000000"]
    data["route-2-time_limit"] = ["72"]
    response = client.post(PAYMENT, data)
    assert response.status_code == 302
    template = ApprovalTemplate.objects.get(code="payment")
    assert template.current_version.number == 2
    node = template.current_version.definition["route"][2]
    assert node["condition"] == {"all": [{"field": "amount", "op": "gt", "value": "2000000"}]}
    assert node["time_limit_hours"] == 72
    assert TemplateVersion.objects.get(template=template, number=1).definition == (
        Definition.model_validate(PAYMENT_DEFINITION).model_dump(mode="json")
    )
    running.refresh_from_db()
    assert running.version.number == 1


# ---------------------------------------------------------------- problems


def test_problems_name_the_row_and_the_setting_and_nothing_is_saved(org, flow):
    client = client_for(org.admin_group)
    data = form_data(client.get(PAYMENT).content.decode(), "flow-form")
    data["route-2-cond-0-value"] = ["a lot"]
    data["route-1-time_limit"] = ["soon"]
    data["fields-1-key"] = ["Amount"]
    data["route-2-cond-0-field"] = ["amount"]
    events = AuditEvent.objects.count()
    response = client.post(PAYMENT, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "form field 2: key must start with a lowercase letter" in html
    assert "route node 2: time limit must be a whole number" in html
    assert version_of("payment").number == 1
    assert AuditEvent.objects.count() == events
    # The key fixed, the condition's value is the problem left, on its row and in the summary.
    data["fields-1-key"] = ["amount"]
    data["route-1-time_limit"] = [""]
    response = client.post(PAYMENT, data)
    html = response.content.decode()
    assert "route node 3, condition 1: value must be a number" in html
    assert 'name="route-2-cond-0-value" value="a lot"' in html
    assert html.count("is-invalid") >= 1
    assert version_of("payment").number == 1
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"route-0-kind": ["role"], "route-0-role": [""]}, "route node 1: role is required"),
        ({"route-0-role": ["no_such_role"]}, "route node 1: role is not a known role"),
        ({"route-0-kind": ["users"]}, "route node 1: people must name at least one person"),
        ({"route-0-kind": ["users"], "route-0-users": ["999999"]}, "people include people who"),
        ({"route-2-cond-0-op": ["in"], "route-2-cond-0-value": [""]}, "must list at least one"),
        ({"fields-0-type": ["choice"]}, "form field 1: choices must list at least one choice"),
        ({"route-2-cond-0-field": ["title"]}, "operator only compares numbers, amounts and dates"),
        ({"route-1-key": ["cost"]}, "route node 2: key is already used by an earlier row"),
        ({"amount_field": ["title"]}, "amount field must name a number or amount field"),
        ({"route-0-kind": ["levels_up"], "route-0-levels": ["9"]}, "levels must be at most 5"),
    ],
)
def test_each_kind_of_problem_is_named(org, flow, change, problem):
    client = client_for(org.admin_group)
    data = form_data(client.get(PAYMENT).content.decode(), "flow-form")
    data.update(change)
    response = client.post(PAYMENT, data)
    assert response.status_code == 200
    assert problem in response.content.decode()
    assert version_of("payment").number == 1


def test_the_json_view_checks_the_same_way_and_names_the_same_place(org, flow):
    client = client_for(org.admin_group)
    page = client.get(PAYMENT + "?mode=json")
    assert 'name="definition"' in page.content.decode()
    data = form_data(page.content.decode(), "flow-form")
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][2]["condition"]["all"][0]["value"] = "a lot"
    import json

    data["definition"] = [json.dumps(definition, ensure_ascii=False)]
    response = client.post(PAYMENT, data)
    html = response.content.decode()
    assert "route node 3, condition 1: value must be a number" in html
    assert "route.2.condition.all.0.value" in html
    assert version_of("payment").number == 1


def test_a_condition_the_rows_cannot_show_sends_the_editor_to_the_json_view(org, flow):
    definition = copy.deepcopy(PAYMENT_DEFINITION)
    definition["route"][2]["condition"] = {
        "any": [
            {"field": "amount", "op": "gt", "value": "1000000"},
            {"all": [{"field": "title", "op": "eq", "value": "急"}]},
        ]
    }
    services.template_save(actor=SYSTEM_ACTOR, code="payment", name="工程款", definition=definition)
    client = client_for(org.admin_group)
    html = client.get(PAYMENT).content.decode()
    assert 'data-testid="editor-unsupported"' in html
    assert 'data-testid="save-flow" disabled' in html
    assert "?mode=json" in html


# ---------------------------------------------------------------- the buttons


def node_names(html):
    return form_data(f'<form data-testid="x">{html}</form>', "x")


def test_rows_are_added_moved_and_removed_without_saving(org, flow):
    client = client_for(org.admin_group)
    data = form_data(client.get(PAYMENT).content.decode(), "flow-form")
    events = AuditEvent.objects.count()

    def press(action, htmx=True):
        headers = {"HX-Request": "true", "HX-Target": "flow-editor"} if htmx else {}
        response = client.post(PAYMENT, {**data, "editor_action": action}, headers=headers)
        assert response.status_code == 200
        return response.content.decode()

    html = press("add:route")
    assert "<html" not in html  # htmx gets the editor alone
    rows = node_names(html)
    assert rows["route-3-key"] == ["node_1"]
    assert rows["route-3-kind"] == ["department_head"]

    rows = node_names(press("down:route-0"))
    assert rows["route-0-name"] == ["分管领导"]
    assert rows["route-1-name"] == ["造价审核"]

    rows = node_names(press("add:route-0-cond"))
    assert rows["route-0-cond-0-field"] == [""]
    rows = node_names(press("remove:route-2-cond-0"))
    assert "route-2-cond-0-field" not in rows
    rows = node_names(press("add:fields-1-columns"))
    assert rows["fields-1-columns-0-type"] == ["text"]
    rows = node_names(press("remove:fields-0"))
    assert rows["fields-0-key"] == ["amount"]
    rows = node_names(press("up:cc-0"))  # the first cannot go up: nothing moves
    assert rows["cc-0-role"] == ["finance"]
    rows = node_names(press("remove:route-99"))  # a stale button: nothing happens
    assert len([name for name in rows if name.endswith("-name")]) == 3

    page = press("add:cc", htmx=False)  # without JavaScript: the whole page, same rows
    assert "<html" in page
    assert form_data(page, "flow-form")["cc-1-at"] == ["end"]

    assert version_of("payment").number == 1
    assert AuditEvent.objects.count() == events


def test_the_person_picker_finds_people_and_the_chosen_are_saved(org, flow):
    client = client_for(org.admin_group)
    data = form_data(client.get(PAYMENT).content.decode(), "flow-form")
    data["route-0-kind"] = ["users"]
    data["route-0-search"] = ["造价"]
    html = client.post(PAYMENT, {**data, "editor_action": "find:route-0"}).content.decode()
    found = form_data(html, "flow-form")
    assert "route-0-users" not in found  # found, not chosen yet
    assert "造价一" in html and "造价二" in html
    assert "甲经办" not in html.split('data-testid="person-found"')[1].split("</fieldset>")[0]
    data["route-0-users"] = [str(flow.cost_2.pk), str(flow.cost_1.pk)]
    data["route-0-search"] = [""]
    assert client.post(PAYMENT, data).status_code == 302
    approver = version_of("payment").definition["route"][0]["approver"]
    assert approver["kind"] == "users"
    assert approver["users"] == [flow.cost_2.pk, flow.cost_1.pk]
    page = client.get(PAYMENT).content.decode()
    assert form_data(page, "flow-form")["route-0-users"] == [
        str(flow.cost_2.pk),
        str(flow.cost_1.pk),
    ]
    assert "造价二" in page


# ---------------------------------------------------------------- who reaches it


@pytest.mark.parametrize(
    "who", ["anonymous", "no_role", "handler_a", "admin_a", "inspector", "auditor"]
)
def test_only_group_it_administrators_reach_the_editor(org, flow, who):
    client = client_for(getattr(org, who, None))
    events = AuditEvent.objects.count()
    templates = list(ApprovalTemplate.objects.values_list("code", "current_version__number"))
    expected = 302 if who == "anonymous" else 403
    rows = {**META, **expense_rows(flow)}
    answers = [
        client.get(NEW),
        client.get(PAYMENT),
        client.get(PAYMENT + "?mode=json"),
        client.post(NEW, rows),
        client.post(PAYMENT, {**rows, "code": "payment"}),
        client.post(PAYMENT, {**rows, "editor_action": "add:route"}),
        client.post(
            PAYMENT,
            {
                **rows,
                "route-0-kind": "users",
                "route-0-search": "造价",
                "editor_action": "find:route-0",
            },
        ),
    ]
    for response in answers:
        assert response.status_code == expected
        assert "造价一" not in response.content.decode()
    if who == "anonymous":
        assert (
            answers[0]["Location"].startswith("/accounts/login/")
            or "login" in (answers[0]["Location"])
        )
    assert list(ApprovalTemplate.objects.values_list("code", "current_version__number")) == (
        templates
    )
    assert AuditEvent.objects.count() == events


def test_the_group_it_administrator_reaches_the_editor(org, flow):
    client = client_for(org.admin_group)
    assert client.get("/approvals/admin/").status_code == 200
    assert client.get(NEW).status_code == 200
    assert client.get(PAYMENT).status_code == 200
    assert client.get(PAYMENT + "?mode=json").status_code == 200
    assert client.get("/approvals/admin/nope/").status_code == 404
