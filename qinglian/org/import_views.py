"""The Excel import page for IT administrators, and its template download."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from qinglian.core.errors import PermissionDenied
from qinglian.core.forms import StyledFormMixin

from .importing import (
    MAX_FILE_BYTES,
    MAX_ROWS_PER_SHEET,
    SHEETS,
    XLSX_CONTENT_TYPE,
    can_import_org,
    org_workbook_import,
    template_workbook,
)

TEMPLATE_FILENAME = "qinglian-org-import-template.xlsx"
SHOWN_PROBLEMS = 500


class WorkbookUploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Workbook (.xlsx)"),
        widget=forms.FileInput(attrs={"accept": f".xlsx,{XLSX_CONTENT_TYPE}"}),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Only check the workbook, import nothing"), required=False
    )


def _require_import_right(user: Any) -> None:
    if not can_import_org(user):
        raise PermissionDenied(_("Only IT administrators may import the organisation."))


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    _require_import_right(request.user)
    result = None
    form = WorkbookUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        result = org_workbook_import(
            actor=request.user,
            source=upload,
            filename=upload.name or "",
            dry_run=form.cleaned_data["dry_run"],
        )
    context = {
        "form": form,
        "result": result,
        "problems": result.problems[:SHOWN_PROBLEMS] if result else [],
        "hidden_problems": max(0, len(result.problems) - SHOWN_PROBLEMS) if result else 0,
        "sheets": SHEETS,
        "max_megabytes": MAX_FILE_BYTES // 2**20,
        "max_rows": MAX_ROWS_PER_SHEET,
    }
    return render(request, "org/import.html", context)


@login_required
@require_GET
def import_template(request: HttpRequest) -> HttpResponse:
    _require_import_right(request.user)
    return HttpResponse(
        template_workbook(),
        content_type=XLSX_CONTENT_TYPE,
        headers={"Content-Disposition": content_disposition_header(True, TEMPLATE_FILENAME)},
    )
