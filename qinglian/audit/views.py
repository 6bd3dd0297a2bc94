"""Audit trail pages for discipline inspectors, internal auditors and IT administrators.

Thin by rule (STYLE.md): every read goes through `selectors` (they answer 403 for users without
an audit role and 404 for events out of scope); a verification run is a service that also
records who ran it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from qinglian.core.errors import NotFound, PermissionDenied
from qinglian.core.forms import StyledFormMixin
from qinglian.org.scopes import can_verify_audit
from qinglian.org.selectors import company_list

from . import selectors
from .models import AuditEvent
from .services import SYSTEM_CHAIN, audit_chain_verify_run

LIST_PAGE_SIZE = 50
TRAIL_PAGE_SIZE = 100


# ---------------------------------------------------------------- helpers


class _EventFilterFields(forms.Form):
    action = forms.CharField(
        label=gettext_lazy("Action starts with"), required=False, max_length=100
    )
    object_type = forms.CharField(label=gettext_lazy("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=gettext_lazy("Object id"), required=False, max_length=64)
    company = forms.TypedChoiceField(
        label=gettext_lazy("Company"), required=False, coerce=int, empty_value=None
    )
    actor = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)

    def __init__(self, *args: Any, companies: dict[int, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", _("All companies")), *companies.items()]
        self.fields["company"].choices = choices  # type: ignore[attr-defined]


class EventFilterForm(StyledFormMixin, _EventFilterFields):
    """The list's filters; the company choices are set in the base class."""

    def filters(self) -> dict[str, Any]:
        """The selector's keyword arguments; a field that does not validate filters nothing."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "action": (data.get("action") or "").strip(),
            "object_type": (data.get("object_type") or "").strip(),
            "object_id": (data.get("object_id") or "").strip(),
            "company_id": data.get("company"),
            "actor_id": data.get("actor"),
        }


@dataclass(frozen=True)
class ChangeRow:
    field: str
    before: str | None
    after: str | None
    is_pair: bool  # False: a plain value (an event that records facts, not a change)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def change_rows(changes: Any) -> list[ChangeRow]:
    """`changes` as table rows: {field: [before, after]} pairs, or plain values."""
    if not isinstance(changes, dict):
        return [ChangeRow("", None, _text(changes), False)] if changes else []
    rows = []
    for name, value in changes.items():
        if isinstance(value, list) and len(value) == 2:
            rows.append(ChangeRow(str(name), _text(value[0]), _text(value[1]), True))
        else:
            rows.append(ChangeRow(str(name), None, _text(value), False))
    return rows


def trail_url(object_type: str, object_id: str) -> str:
    """The link to an object's whole history ("" when the event names no single object)."""
    if not (object_type and object_id):
        return ""
    query = urlencode({"object_type": object_type, "object_id": object_id})
    return f"{reverse('audit:object_trail')}?{query}"


def _company_names(user: Any) -> dict[int, str]:
    """Names of the companies the reader sees, to label chains (one query)."""
    return {company.pk: company.short_name or company.name for company in company_list(user=user)}


def _page(request: HttpRequest, queryset: QuerySet[AuditEvent], size: int) -> Page[AuditEvent]:
    return Paginator(queryset, size).get_page(request.GET.get("page"))


def _chain_label(key: str, company_names: dict[int, str]) -> str:
    """A chain's name for people: its company's name, or "System" for the company-less one."""
    if key == SYSTEM_CHAIN:
        return _("System")
    prefix, _separator, number = key.partition(":")
    if prefix == "company" and number.isdigit():
        return company_names.get(int(number), key)
    return key


def _render(
    request: HttpRequest, template: str, context: dict[str, Any], *, partial: str = ""
) -> HttpResponse:
    """The whole page, or only the part named `partial` when htmx asks to swap the element of
    that id (same URL, same context, so both answers always agree)."""
    context.setdefault("can_verify", can_verify_audit(request.user))
    htmx = getattr(request, "htmx", None)
    wants_part = bool(partial and htmx and htmx.target == partial)
    response = render(request, f"{template}#{partial}" if wants_part else template, context)
    patch_vary_headers(response, ["HX-Request", "HX-Target"])
    return response


# ---------------------------------------------------------------- pages


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    companies = _company_names(request.user)
    form = EventFilterForm(request.GET, companies=companies)
    filters = form.filters()
    events = selectors.audit_event_list(user=request.user, **filters)
    page = _page(request, events, LIST_PAGE_SIZE)
    actor_id = filters["actor_id"]
    context = {
        "form": form,
        "page_obj": page,
        "rows": [(event, _chain_label(event.chain.key, companies)) for event in page],
        "actor_id": actor_id,
        "actor_name": next((e.actor_name for e in page if e.actor_id == actor_id), ""),
    }
    return _render(request, "audit/event_list.html", context, partial="audit-results")


@login_required
@require_GET
def event_detail(request: HttpRequest, pk: int) -> HttpResponse:
    event = selectors.audit_event_access(user=request.user, event_id=pk)
    context = {
        "event": event,
        "changes": change_rows(event.changes),
        "chain_label": _chain_label(event.chain.key, _company_names(request.user)),
        "trail_url": trail_url(event.object_type, event.object_id),
    }
    return _render(request, "audit/event_detail.html", context)


@login_required
@require_GET
def object_trail(request: HttpRequest) -> HttpResponse:
    object_type = request.GET.get("object_type", "").strip()
    object_id = request.GET.get("object_id", "").strip()
    # Called before the parameters are checked so a user without an audit role gets 403.
    trail = selectors.object_trail(user=request.user, object_type=object_type, object_id=object_id)
    page = None
    events: list[AuditEvent] = []
    if object_type and object_id:
        page = _page(request, trail, TRAIL_PAGE_SIZE)
        events = list(page.object_list)
        if not events:
            raise NotFound(_("No audit events for this object in your scope."))
    context = {
        "object_type": object_type,
        "object_id": object_id,
        "page_obj": page,
        "entries": [(event, change_rows(event.changes)) for event in events],
        "object_repr": events[-1].object_repr if events else "",
    }
    return _render(request, "audit/object_trail.html", context)


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    if not can_verify_audit(request.user):
        raise PermissionDenied(_("Only inspectors and auditors run a chain verification."))
    report = None
    if request.method == "POST":
        report = audit_chain_verify_run(actor=request.user)
    names = _company_names(request.user)
    context = {
        "report": report,
        "breaks": [(b, _chain_label(b.chain, names)) for b in report.breaks] if report else [],
        "can_verify": True,
    }
    return _render(request, "audit/verify.html", context, partial="verify-result")
