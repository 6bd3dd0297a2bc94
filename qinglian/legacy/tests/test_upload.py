"""The upload page: a zip of a legacy folder, for group-wide IT administrators and inspectors;
problems listed by file, row and column with nothing loaded; a clean folder loaded once."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qinglian.legacy.models import ImportBatch
from qinglian.org.models import Company

CLEAN = Path(__file__).parent / "data" / "clean"
URL = "/legacy/import/"


def zipped(
    replace: tuple[str, str, str] | None = None, inside: str = "history/"
) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(CLEAN.glob("*.csv")):
            text = path.read_text(encoding="utf-8")
            if replace and path.name == replace[0]:
                text = text.replace(replace[1], replace[2])
            archive.writestr(inside + path.name, text)
        archive.writestr("../evil.csv", "x")  # never written anywhere
    return SimpleUploadedFile("history-2025.zip", buffer.getvalue(), content_type="application/zip")


def test_the_url_is_named():
    assert reverse("legacy:import") == URL


@pytest.mark.django_db
def test_only_group_wide_it_administrators_and_inspectors_may_load(client, org):
    client.force_login(org.admin_a)  # IT administrator of one subsidiary only
    assert client.get(URL).status_code == 403
    client.force_login(org.handler_a)
    assert client.get(URL).status_code == 403
    client.force_login(org.admin_group)
    assert client.get(URL).status_code == 200
    client.force_login(org.inspector)
    assert client.get(URL).status_code == 200


@pytest.mark.django_db
def test_a_clean_folder_loads_once_and_a_broken_one_lists_its_problems(client, org, tmp_path):
    client.force_login(org.admin_group)

    page = client.post(URL, {"file": zipped(("payments.csv", "PAY-0002,out", "PAY-0002,sideways"))})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-testid="legacy-refused"' in html and 'data-testid="legacy-problem"' in html
    assert "payments.csv" in html
    assert not ImportBatch.objects.exists()

    page = client.post(URL, {"file": zipped(), "dry_run": "on"})
    assert 'data-testid="legacy-report"' in page.content.decode()
    assert not ImportBatch.objects.exists()

    page = client.post(URL, {"file": zipped()})
    batch = ImportBatch.objects.get()
    assert batch.folder == "history-2025" and batch.actor == org.admin_group
    assert batch.id in page.content.decode()
    assert Company.objects.filter(import_batch=batch.id).count() == 2
    assert not (tmp_path.parent / "evil.csv").exists()

    page = client.post(URL, {"file": zipped(inside="")})  # the same files, unfolded
    assert ImportBatch.objects.count() == 1
    assert "nothing changed" in page.content.decode() or "没有" in page.content.decode()


@pytest.mark.django_db
def test_a_file_that_is_not_a_zip_is_refused(client, org):
    client.force_login(org.inspector)
    page = client.post(URL, {"file": SimpleUploadedFile("x.zip", b"not a zip")})
    assert 'data-testid="legacy-refused"' in page.content.decode()
    assert not ImportBatch.objects.exists()
