"""The supervision pages: the inspectors' dashboard, findings and their triage, cases through
the closed loop, rule parameters, runs and the monthly report. Phone first.

Thin by rule (STYLE.md): reads go through the selectors, each POST makes one service call. Out of
scope is "not found" (the access selectors); pages only the oversight roles read answer
"forbidden" to everyone else; the services make every write decision.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.forms import Form
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from qinglian.core import clock
from qinglian.core.errors import Conflict, PermissionDenied, ValidationFailed
from qinglian.core.forms import add_service_errors
from qinglian.org.scopes import can_read_audit

from . import forms, registry, report_pdf, reports, selectors, services
from .dashboard import dashboard_data
from .enums import CaseStatus, FindingStatus, RunTrigger
from .models import Case, Finding
from .permissions import (
    can_edit_rules,
    inspector_company_ids,
    is_case_responsible,
    is_inspector,
    oversight_company_ids,
)
from .rules import _trading

PAGE_SIZE = 50
T = TypeVar("T")
require_GET_or_POST = require_http_methods(["GET", "HEAD", "POST"])

DOCUMENT_PAGES = {
    "approvals.request": "approvals:detail",
    "org.user": "org:user_detail",
    "org.company": "org:company_detail",
    **_trading.DOCUMENT_PAGES,
}

# ---------------------------------------------------------------- helpers


def _require_oversight(user: Any) -> frozenset[int]:
    ids = oversight_company_ids(user)
    if not ids:
        raise PermissionDenied(_("Only discipline inspectors and internal auditors see this."))
    return ids


def _posted(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _attempt(form: Form, action: Callable[[], T]) -> T | None:
    """Run one service call; a refusal the user can fix goes onto the form."""
    try:
        return action()
    except (ValidationFailed, Conflict) as error:
        add_service_errors(form, error)
        return None


def document_url(document_type: str, document_id: str) -> str:
    name = DOCUMENT_PAGES.get(document_type)
    if name is None:
        return ""
    try:
        return reverse(name, args=[document_id])
    except NoReverseMatch:
        return ""


def _rule_of(finding: Finding) -> registry.Rule | None:
    return registry.rule_get(finding.rule_code)


def finding_context(finding: Finding) -> dict[str, Any]:
    """What a finding shows: its rule, the explanation with the exact parameters used, one
    line of what was found, the figures, the documents (linked) and the people."""
    rule = _rule_of(finding)
    evidence = finding.evidence or {}
    figures = evidence.get("figures", {})
    parameters = evidence.get("parameters", {})
    scalars = [
        (key, value) for key, value in figures.items() if not isinstance(value, (list, dict))
    ]
    tables = []
    for key, value in figures.items():
        if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
            columns = list(dict.fromkeys(column for row in value for column in row))
            tables.append((key, columns, [[row.get(c, "") for c in columns] for row in value]))
    return {
        "finding": finding,
        "rule": rule,
        "summary": rule.summarize(figures) if rule else finding.subject_label,
        "explanation": rule.explain(parameters) if rule else "",
        "parameter_rows": (
            [
                (p.label, p.display(parameters.get(p.key, p.clean(p.default))))
                for p in rule.parameters
            ]
            if rule
            else []
        ),
        "figure_scalars": scalars,
        "figure_tables": tables,
        "documents": [
            {**document, "url": document_url(document.get("type", ""), document.get("id", ""))}
            for document in evidence.get("documents", [])
        ],
        "people": evidence.get("people", []),
    }


def _finding_rows(findings: Any) -> list[dict[str, Any]]:
    rows = []
    for finding in findings:
        rule = _rule_of(finding)
        rows.append(
            {
                "finding": finding,
                "rule": rule,
                "summary": (
                    rule.summarize(finding.evidence.get("figures", {}))
                    if rule
                    else finding.subject_label
                ),
            }
        )
    return rows


# ---------------------------------------------------------------- dashboard


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    company_ids = _require_oversight(request.user)
    form = forms.DashboardFilterForm(request.GET or None, company_ids=company_ids)
    data = dashboard_data(user=request.user, filters=form.filters())
    context = {
        "form": form,
        "data": data,
        "kpis": data["kpis"],
        "charts": data["charts"],
        "is_inspector": is_inspector(request.user),
        "report_month": reports.previous_month(),
    }
    return render(request, "supervision/dashboard.html", context)


# ---------------------------------------------------------------- findings


@login_required
@require_GET
def finding_list(request: HttpRequest) -> HttpResponse:
    company_ids = _require_oversight(request.user)
    form = forms.FindingFilterForm(request.GET or None, company_ids=company_ids)
    queryset = selectors.finding_list(user=request.user, filters=form.filters())
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page_obj": page, "rows": _finding_rows(page.object_list)}
    return render(request, "supervision/finding_list.html", context)


def _finding_page(
    request: HttpRequest, finding: Finding, status: int = 200, **extra: Any
) -> HttpResponse:
    user = request.user
    may_triage = is_inspector(user, finding.company_id)
    case = selectors.finding_case(finding=finding)
    context = {
        **finding_context(finding),
        "case": case,
        "may_triage": may_triage,
        "may_confirm": may_triage and finding.dismissal_requested_by_id != user.pk,
        "dismiss_form": extra.pop("dismiss_form", None) or forms.ReasonForm(None),
        "decision_form": extra.pop("decision_form", None) or forms.CommentForm(None),
        "can_read_audit": can_read_audit(user, finding.company_id),
        "statuses": FindingStatus,
        **extra,
    }
    return render(request, "supervision/finding_detail.html", context, status=status)


@login_required
@require_GET
def finding_detail(request: HttpRequest, pk: int) -> HttpResponse:
    finding = selectors.finding_access(user=request.user, finding_id=pk)
    return _finding_page(request, finding)


@login_required
@require_POST
def finding_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    finding = selectors.finding_access(user=request.user, finding_id=pk)
    form = forms.ReasonForm(request.POST)
    if form.is_valid():
        done = _attempt(
            form,
            lambda: services.finding_dismiss(
                actor=request.user, finding_id=pk, reason=form.cleaned_data["reason"]
            ),
        )
        if done is not None:
            messages.success(
                request,
                _("Dismissed.")
                if done.status == FindingStatus.DISMISSED
                else _("Dismissal proposed: a second inspector must confirm it."),
            )
            return redirect("supervision:finding_detail", pk)
    return _finding_page(request, finding, status=422, dismiss_form=form, open_panel="dismiss")


def _dismissal_decision(request: HttpRequest, pk: int, *, confirm: bool) -> HttpResponse:
    finding = selectors.finding_access(user=request.user, finding_id=pk)
    form = forms.CommentForm(request.POST)
    if form.is_valid():
        comment = form.cleaned_data["comment"]
        service = (
            services.finding_dismissal_confirm if confirm else services.finding_dismissal_decline
        )
        done = _attempt(form, lambda: service(actor=request.user, finding_id=pk, comment=comment))
        if done is not None:
            messages.success(
                request, _("Dismissed.") if confirm else _("The finding is open again.")
            )
            return redirect("supervision:finding_detail", pk)
    return _finding_page(request, finding, status=422, decision_form=form)


@login_required
@require_POST
def dismissal_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    return _dismissal_decision(request, pk, confirm=True)


@login_required
@require_POST
def dismissal_decline(request: HttpRequest, pk: int) -> HttpResponse:
    return _dismissal_decision(request, pk, confirm=False)


@login_required
@require_GET_or_POST
def case_open(request: HttpRequest, pk: int) -> HttpResponse:
    finding = selectors.finding_access(user=request.user, finding_id=pk)
    if not is_inspector(request.user, finding.company_id):
        raise PermissionDenied(_("Only a discipline inspector of this company may do this."))
    initial = {
        "company": finding.company_id,
        "department": finding.department_id,
        "deadline": clock.today() + datetime.timedelta(days=30),
    }
    form = forms.CaseOpenForm(
        _posted(request), company_ids=inspector_company_ids(request.user), initial=initial
    )
    if form.is_valid():
        data = form.cleaned_data
        case = _attempt(
            form,
            lambda: services.case_open(
                actor=request.user,
                finding_id=pk,
                company_id=data["company"],
                department_id=data["department"],
                assignee_id=data["assignee"],
                deadline=data["deadline"],
                instructions=data["instructions"],
            ),
        )
        if case is not None:
            messages.success(request, _("Case %(serial)s opened.") % {"serial": case.serial})
            return redirect("supervision:case_detail", case.pk)
    context = {**finding_context(finding), "form": form}
    status = 422 if request.method == "POST" else 200
    return render(request, "supervision/case_open.html", context, status=status)


# ---------------------------------------------------------------- cases


@login_required
@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    company_ids = oversight_company_ids(request.user)
    form = forms.CaseFilterForm(request.GET or None, company_ids=company_ids)
    queryset = selectors.case_list(user=request.user, filters=form.filters())
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page_obj": page,
        "today": clock.today(),
        "is_oversight": bool(company_ids),
    }
    return render(request, "supervision/case_list.html", context)


def _case_page(request: HttpRequest, case: Case, status: int = 200, **extra: Any) -> HttpResponse:
    user = request.user
    may_rectify = case.status == CaseStatus.RECTIFYING and is_case_responsible(user, case)
    may_verify = case.status == CaseStatus.VERIFYING and is_inspector(user, case.finding.company_id)
    context = {
        **finding_context(case.finding),
        "case": case,
        "rectifications": selectors.case_rectifications(case=case),
        "events": selectors.case_events(case=case),
        "may_rectify": may_rectify,
        "may_verify": may_verify,
        "rectify_form": extra.pop("rectify_form", None) or forms.RectificationForm(),
        "verify_form": extra.pop("verify_form", None) or forms.VerifyForm(),
        "is_overdue": case.status == CaseStatus.RECTIFYING and case.deadline < clock.today(),
        "can_read_audit": can_read_audit(user, case.company_id),
        "is_oversight": bool(oversight_company_ids(user)),
        **extra,
    }
    return render(request, "supervision/case_detail.html", context, status=status)


@login_required
@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.case_access(user=request.user, case_id=pk)
    return _case_page(request, case)


@login_required
@require_POST
def case_rectify(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.case_access(user=request.user, case_id=pk)
    form = forms.RectificationForm(request.POST, request.FILES)
    if form.is_valid():
        done = _attempt(
            form,
            lambda: services.case_rectification_submit(
                actor=request.user,
                case_id=pk,
                text=form.cleaned_data["text"],
                files=form.cleaned_data["attachments"],
            ),
        )
        if done is not None:
            messages.success(request, _("Rectification submitted for verification."))
            return redirect("supervision:case_detail", pk)
    return _case_page(request, case, status=422, rectify_form=form)


@login_required
@require_POST
def case_verify(request: HttpRequest, pk: int) -> HttpResponse:
    case = selectors.case_access(user=request.user, case_id=pk)
    form = forms.VerifyForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        done = _attempt(
            form,
            lambda: services.case_verify(
                actor=request.user,
                case_id=pk,
                is_accepted=data["decision"] == "accept",
                comment=data["comment"],
                new_deadline=data["new_deadline"],
            ),
        )
        if done is not None:
            messages.success(
                request,
                _("Case closed.")
                if done.status == CaseStatus.CLOSED
                else _("Sent back to the unit for rectification."),
            )
            return redirect("supervision:case_detail", pk)
    return _case_page(request, case, status=422, verify_form=form)


@login_required
@require_GET
def attachment_download(request: HttpRequest, pk: int, attachment_id: int) -> FileResponse:
    attachment = selectors.attachment_access(
        user=request.user, case_id=pk, attachment_id=attachment_id
    )
    return FileResponse(
        attachment.file.open("rb"),
        as_attachment=True,
        filename=attachment.name,
        content_type=attachment.content_type or "application/octet-stream",
    )


# ---------------------------------------------------------------- rules and runs


@login_required
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    _require_oversight(request.user)
    context = {
        "rules": selectors.rule_list(),
        "open_counts": selectors.open_findings_by_rule(user=request.user),
        "may_edit": can_edit_rules(request.user),
    }
    return render(request, "supervision/rule_list.html", context)


@login_required
@require_GET_or_POST
def rule_edit(request: HttpRequest, code: str) -> HttpResponse:
    _require_oversight(request.user)
    view = selectors.rule_get(rule_code=code)
    may_edit = can_edit_rules(request.user)
    if request.method == "POST" and not may_edit:
        raise PermissionDenied(_("Only a discipline inspector of the group edits rule parameters."))
    initial = {
        **forms.RuleParametersForm.initial_for(view.rule, view.parameters),
        "is_enabled": view.is_enabled,
        "version": view.version,
    }
    form = forms.RuleParametersForm(_posted(request), rule=view.rule, initial=initial)
    if form.is_valid():
        try:
            services.rule_parameters_update(
                actor=request.user,
                rule_code=code,
                parameters=form.parameters(),
                is_enabled=form.cleaned_data["is_enabled"],
                reason=form.cleaned_data["reason"],
                expected_version=form.cleaned_data["version"],
            )
        except (ValidationFailed, Conflict) as error:
            error.fields = {f"p_{key}": value for key, value in error.fields.items()}
            add_service_errors(form, error)
        else:
            messages.success(request, _("Parameters saved."))
            return redirect("supervision:rule_edit", code)
    context = {
        "view": view,
        "rule": view.rule,
        "form": form,
        "may_edit": may_edit,
        "versions": selectors.rule_versions(rule_code=code)[:20],
    }
    status = 422 if request.method == "POST" else 200
    return render(request, "supervision/rule_edit.html", context, status=status)


@login_required
@require_GET_or_POST
def run_list(request: HttpRequest) -> HttpResponse:
    _require_oversight(request.user)
    if request.method == "POST":
        run = services.run_rules(
            actor=request.user, trigger=RunTrigger.MANUAL, full=request.POST.get("full") == "1"
        )
        messages.success(
            request,
            _("Rules run: %(new)d new findings, %(seen)d seen again.")
            % {"new": run.new_count, "seen": run.seen_again_count},
        )
        return redirect("supervision:run_list")
    page = Paginator(selectors.run_list(user=request.user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    titles = {rule.code: f"{rule.number}. {rule.title}" for rule in registry.all_rules()}
    rows = [  # which rules ran and which were skipped as unchanged, by title
        {
            "run": run,
            "ran": [titles.get(code, code) for code in run.ran_rule_codes],
            "skipped": [titles.get(code, code) for code in run.skipped_rule_codes],
        }
        for run in page
    ]
    context = {"page_obj": page, "rows": rows, "may_run": is_inspector(request.user)}
    return render(request, "supervision/run_list.html", context)


# ---------------------------------------------------------------- the monthly report


def _report_month(request: HttpRequest) -> str:
    return forms.clean_month(request.GET.get("month", "")) or reports.previous_month()


@login_required
@require_GET
def monthly_report(request: HttpRequest) -> HttpResponse:
    _require_oversight(request.user)
    month = _report_month(request)
    report = reports.monthly_report(user=request.user, month=month)
    context = {
        "report": report,
        "month": month,
        "rows": _finding_rows(report.findings if report else []),
    }
    return render(request, "supervision/monthly_report.html", context)


def _monthly_download(request: HttpRequest, kind: str) -> HttpResponse:
    _require_oversight(request.user)
    month = _report_month(request)
    report = reports.monthly_report(user=request.user, month=month)
    assert report is not None  # _report_month returns a valid month
    if kind == "pdf":
        content, content_type = report_pdf.monthly_report_pdf(report), "application/pdf"
    else:
        content = reports.monthly_report_xlsx(report)
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="supervision-{month}.{kind}"'
    return response


@login_required
@require_GET
def monthly_report_xlsx(request: HttpRequest) -> HttpResponse:
    return _monthly_download(request, "xlsx")


@login_required
@require_GET
def monthly_report_pdf(request: HttpRequest) -> HttpResponse:
    return _monthly_download(request, "pdf")
