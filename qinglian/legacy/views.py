"""The upload page: a zip of a legacy folder, checked and loaded as one batch (group-wide IT
administrators and inspectors). The load runs in the request: a year of a group's history
(about a million rows) takes a minute or two; `manage.py legacy_import` does the same from a
shell. The installation is in use while the page is: the page loads `online`, locking no table
for others (a go-live load of years of history is faster from the shell)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from qinglian.core.errors import PermissionDenied
from qinglian.core.forms import StyledFormMixin

from .loader import LoadRefused, can_import_legacy, legacy_import
from .models import ImportBatch
from .spec import FORMAT

MAX_UNPACKED_BYTES = 2 * 2**30
SHOWN_PROBLEMS = 500


class FolderUploadForm(StyledFormMixin, forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Folder as a zip file (one CSV per table)"),
        widget=forms.FileInput(attrs={"accept": ".zip,application/zip"}),
    )
    dry_run = forms.BooleanField(
        label=gettext_lazy("Only check the folder, load nothing"), required=False
    )


class BadArchive(Exception):
    pass


def unpack(upload: Any, target: Path) -> None:
    """The format's CSV files from the zip, wherever they sit in it (a folder inside the zip
    is fine); nothing else is written, no path from the archive is followed."""
    known = set(FORMAT.files)
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile as error:
        raise BadArchive(_("The file is not a zip archive.")) from error
    with archive:
        members = [
            member
            for member in archive.infolist()
            if not member.is_dir() and PurePosixPath(member.filename).name in known
        ]
        if sum(member.file_size for member in members) > MAX_UNPACKED_BYTES:
            raise BadArchive(_("The archive unpacks to more than 2 GB."))
        names = [PurePosixPath(member.filename).name for member in members]
        if len(set(names)) != len(names):
            raise BadArchive(_("The archive holds the same table twice."))
        for member, name in zip(members, names, strict=True):
            with archive.open(member) as source, open(target / name, "wb") as sink:
                while chunk := source.read(2**20):
                    sink.write(chunk)


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest) -> HttpResponse:
    if not can_import_legacy(request.user):
        raise PermissionDenied(
            _("Only group-wide IT administrators and inspectors may load legacy history.")
        )
    form = FolderUploadForm(request.POST or None, request.FILES or None)
    report = None
    problems: list[Any] = []
    error = ""
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        with tempfile.TemporaryDirectory(prefix="legacy-") as folder:
            try:
                unpack(upload, Path(folder))
                report = legacy_import(
                    folder,
                    actor=request.user,
                    dry_run=form.cleaned_data["dry_run"],
                    label=Path(upload.name or "upload.zip").stem,
                    online=True,
                )
            except BadArchive as refused:
                error = str(refused)
            except LoadRefused as refused:
                error = str(refused)
                problems = refused.problems
    context = {
        "form": form,
        "report": report,
        "error": error,
        "problems": problems[:SHOWN_PROBLEMS],
        "hidden_problems": max(0, len(problems) - SHOWN_PROBLEMS),
        "batches": ImportBatch.objects.all()[:20],
        "tables": FORMAT.load_order(),
    }
    return render(request, "legacy/import.html", context)
