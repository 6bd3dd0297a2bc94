"""Files on a request: the form's attachment fields and files with a comment — stored, audited,
shown on the request's page, and downloaded only by those who may open the request."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from qinglian.approvals import services
from qinglian.approvals.enums import ActionKind, ApprovalErrorCode, TaskStatus
from qinglian.approvals.models import ApprovalAction, ApprovalRequest, ApprovalTask, Attachment
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.audit.models import AuditEvent
from qinglian.core.actors import SYSTEM_ACTOR
from qinglian.core.errors import NotFound, ValidationFailed
from qinglian.org.factories import make_project

pytestmark = pytest.mark.usefixtures("english")

SCAN = b"%PDF-1.4 invoice scan"


@pytest.fixture
def scanned(flow):
    """The payment flow with a required invoice scan."""
    definition: dict[str, Any] = copy.deepcopy(PAYMENT_DEFINITION)
    definition["fields"].append(
        {"key": "scan", "label": "发票扫描件", "type": "attachment", "required": True}
    )
    services.template_save(
        actor=SYSTEM_ACTOR, code="payment", name="工程款支付", definition=definition
    )
    return flow


def upload(name="发票.pdf", content=SCAN):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def stored_files(path="approvals"):
    """Every file name under `path` in the storage (the test storage lives in memory)."""
    if not default_storage.exists(path):
        return set()
    directories, files = default_storage.listdir(path)
    found = {f"{path}/{name}" for name in files}
    for directory in directories:
        found |= stored_files(f"{path}/{directory}")
    return found


def submit(flow, **kwargs):
    return services.request_submit(
        actor=flow.requester,
        template_code="payment",
        form_data=flow.data(),
        attachments={"scan": upload()},
        **kwargs,
    )


def added_events(request):
    return list(
        AuditEvent.objects.filter(
            action="approvals.request.attachment_added", object_id=str(request.pk)
        )
        .order_by("seq")
        .values_list("actor_id", "changes")
    )


# ---------------------------------------------------------------- the form's files


def test_a_form_file_is_stored_with_the_request_and_audited(scanned):
    before = stored_files()
    request = submit(scanned)
    [attachment] = Attachment.objects.all()
    submitted = ApprovalAction.objects.get(request=request, kind=ActionKind.SUBMITTED)
    assert request.form_data["scan"] == attachment.pk
    assert (attachment.request, attachment.action, attachment.uploaded_by) == (
        request,
        submitted,
        scanned.requester,
    )
    assert (attachment.name, attachment.size) == ("发票.pdf", len(SCAN))
    assert attachment.sha256 == hashlib.sha256(SCAN).hexdigest()
    assert stored_files() - before == {attachment.file.name}
    assert attachment.file.name.endswith(".pdf") and "发票" not in attachment.file.name
    with attachment.file.open("rb") as stored:
        assert stored.read() == SCAN
    assert added_events(request) == [
        (
            scanned.requester.pk,
            {
                "attachment": [None, attachment.pk],
                "name": [None, "发票.pdf"],
                "size": [None, len(SCAN)],
                "sha256": [None, attachment.sha256],
            },
        )
    ]


@pytest.mark.parametrize(
    ("name", "content", "why"),
    [
        ("setup.exe", b"MZ", "Files of this type cannot be attached"),
        ("no-extension", b"x", "Files of this type cannot be attached"),
        ("empty.pdf", b"", "The file is empty."),
    ],
)
def test_a_file_of_a_wrong_type_or_empty_is_refused(scanned, name, content, why):
    before = stored_files()
    with pytest.raises(ValidationFailed) as refused:
        services.request_submit(
            actor=scanned.requester,
            template_code="payment",
            form_data=scanned.data(),
            attachments={"scan": upload(name, content)},
        )
    assert list(refused.value.fields) == ["scan"]
    assert why in refused.value.fields["scan"][0]
    assert ApprovalRequest.objects.count() == Attachment.objects.count() == 0
    assert stored_files() == before


def test_a_file_over_the_size_limit_is_refused(scanned, monkeypatch):
    monkeypatch.setattr(services, "ATTACHMENT_MAX_BYTES", len(SCAN) - 1)
    with pytest.raises(ValidationFailed) as refused:
        submit(scanned)
    assert "at most" in refused.value.fields["scan"][0]
    assert Attachment.objects.count() == 0


def test_a_required_file_field_needs_a_file(scanned):
    with pytest.raises(ValidationFailed) as refused:
        services.request_submit(
            actor=scanned.requester, template_code="payment", form_data=scanned.data()
        )
    assert refused.value.code == ApprovalErrorCode.INVALID_FORM
    assert refused.value.fields == {"scan": ["This field is required."]}


def test_a_form_names_only_files_sent_with_it(scanned):
    other = submit(scanned)
    before = ApprovalRequest.objects.count()
    with pytest.raises(ValidationFailed) as refused:  # e.g. through the API: someone else's file
        services.request_submit(
            actor=scanned.requester,
            template_code="payment",
            form_data=scanned.data(scan=other.form_data["scan"]),
        )
    assert refused.value.fields == {"scan": ["Not found."]}
    assert ApprovalRequest.objects.count() == before


def test_a_submission_refused_after_its_file_was_stored_removes_the_file(scanned, org):
    before = stored_files()
    hidden = make_project(company=org.company_b, leader=org.handler_b)  # not the requester's
    with pytest.raises(ValidationFailed):
        services.request_submit(
            actor=scanned.requester,
            template_code="payment",
            form_data={**scanned.data(), "project": hidden.pk},
            attachments={"scan": upload()},
        )
    assert Attachment.objects.count() == 0
    assert stored_files() == before


def test_resubmitting_keeps_the_file_or_replaces_it(scanned):
    request = submit(scanned)
    first = request.form_data["scan"]

    def send_back():
        [task] = ApprovalTask.objects.filter(request=request, status=TaskStatus.PENDING)[:1]
        services.task_return(actor=task.assignee, task_id=task.pk, comment="补扫描件")

    send_back()
    services.request_resubmit(
        actor=scanned.requester, request_id=request.pk, form_data=scanned.data()
    )
    request.refresh_from_db()
    assert request.form_data["scan"] == first
    send_back()
    services.request_resubmit(
        actor=scanned.requester,
        request_id=request.pk,
        form_data=scanned.data(),
        attachments={"scan": upload("新扫描件.png", b"\x89PNG")},
    )
    request.refresh_from_db()
    replacement = Attachment.objects.get(pk=request.form_data["scan"])
    assert replacement.name == "新扫描件.png"
    assert replacement.action.kind == ActionKind.RESUBMITTED
    assert Attachment.objects.filter(request=request).count() == 2  # the first one stays


# ---------------------------------------------------------------- files with a comment


def test_files_come_with_a_comment_or_alone(flow):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    action = services.request_comment(
        actor=flow.cost_1,
        request_id=request.pk,
        comment="核对意见见附件",
        files=[upload("核对表.xlsx", b"PK.."), upload("现场.jpg", b"\xff\xd8")],
    )
    assert sorted(action.attachments.values_list("name", flat=True)) == ["核对表.xlsx", "现场.jpg"]
    assert {a.request_id for a in action.attachments.all()} == {request.pk}
    assert len(added_events(request)) == 2
    alone = services.request_comment(
        actor=flow.requester, request_id=request.pk, comment="", files=[upload()]
    )
    assert (alone.comment, alone.attachments.count()) == ("", 1)
    with pytest.raises(ValidationFailed):
        services.request_comment(actor=flow.requester, request_id=request.pk, comment=" ")


def test_a_refused_file_with_a_comment_leaves_nothing(flow):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    before = (ApprovalAction.objects.count(), AuditEvent.objects.count(), stored_files())
    with pytest.raises(ValidationFailed) as refused:
        services.request_comment(
            actor=flow.requester,
            request_id=request.pk,
            comment="见附件",
            files=[upload(), upload("脚本.js", b"alert(1)")],
        )
    assert list(refused.value.fields) == ["attachments"]
    assert (ApprovalAction.objects.count(), AuditEvent.objects.count(), stored_files()) == before


def test_an_outsider_cannot_attach_files(flow, org):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    with pytest.raises(NotFound):
        services.request_comment(
            actor=org.handler_b, request_id=request.pk, comment="", files=[upload()]
        )
    assert Attachment.objects.count() == 0


# ---------------------------------------------------------------- the pages


def test_a_file_sent_with_the_form_shows_on_the_page_and_downloads(client, scanned):
    client.force_login(scanned.requester)
    url = reverse("approvals:submit", args=["payment"])
    page = client.get(url)
    response = client.post(
        url,
        {
            "title": "三号泊位进度款",
            "amount": "50000.00",
            "project": scanned.project.pk,
            "scan": upload(),
            "_idempotency_key": page.context["form"]["_idempotency_key"].value(),
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    request = ApprovalRequest.objects.get()
    [attachment] = Attachment.objects.filter(request=request)
    detail = client.get(reverse("approvals:detail", args=[request.pk]))
    link = reverse("approvals:attachment", args=[attachment.pk])
    shown = {field.label: field for field in detail.context["fields"]}
    assert shown["发票扫描件"].file == attachment
    [(_action, _step, _note, files)] = [
        entry for entry in detail.context["trail"] if entry[0].kind == ActionKind.SUBMITTED
    ]
    assert files == [attachment]
    assert detail.content.decode().count(f'href="{link}"') == 2  # the field and the trail
    download = client.get(link)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == SCAN
    assert download["Content-Type"] == "application/pdf"
    assert download["Content-Disposition"].startswith("attachment;")


def test_a_wrong_file_is_refused_on_the_form(client, scanned):
    client.force_login(scanned.requester)
    url = reverse("approvals:submit", args=["payment"])
    response = client.post(
        url,
        {
            "title": "三号泊位进度款",
            "amount": "50000.00",
            "project": scanned.project.pk,
            "scan": upload("宏.docm", b"x"),
        },
    )
    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["scan"]
    assert Attachment.objects.count() == 0


def test_files_with_a_comment_through_the_page(client, flow):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    client.force_login(flow.cost_1)
    response = client.post(
        reverse("approvals:comment", args=[request.pk]),
        {"comment": "", "attachments": [upload("核对表.xlsx", b"PK.."), upload()]},
    )
    assert response.status_code == 302
    page = client.get(reverse("approvals:detail", args=[request.pk])).content.decode()
    assert page.count('data-testid="file-link"') == 2
    assert "核对表.xlsx" in page


@pytest.fixture
def file_on_request(scanned):
    request = submit(scanned)
    return Attachment.objects.get(request=request)


@pytest.mark.parametrize(
    ("who", "status"),
    [
        ("requester", 200),  # a party: the requester
        ("cost_1", 200),  # a party: on the route
        ("inspector", 200),  # oversight over the company: reads everything
        ("no_role", 404),  # same company, no part in the request
        ("handler_b", 404),  # another company
        ("admin_a", 404),  # an IT administrator is not a party
    ],
)
def test_who_downloads_a_file(client, org, scanned, file_on_request, who, status):
    user = getattr(scanned, who, None) or getattr(org, who)
    client.force_login(user)
    response = client.get(reverse("approvals:attachment", args=[file_on_request.pk]))
    assert response.status_code == status
    if status == 200:
        assert b"".join(response.streaming_content) == SCAN


def test_an_anonymous_download_goes_to_the_login(client, file_on_request):
    response = client.get(reverse("approvals:attachment", args=[file_on_request.pk]))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_file_on_no_request_and_a_missing_file_are_not_found(client, scanned):
    loose = Attachment.objects.create(
        file=SimpleUploadedFile("x.pdf", SCAN),
        name="x.pdf",
        size=len(SCAN),
        sha256="0" * 64,
        uploaded_by=scanned.requester,
        uploaded_at=timezone.now(),
    )
    client.force_login(scanned.requester)  # even for the one who uploaded it
    assert client.get(reverse("approvals:attachment", args=[loose.pk])).status_code == 404
    assert client.get(reverse("approvals:attachment", args=[loose.pk + 1000])).status_code == 404
