"""A request bound to a business document links back to the document's page, when its type
registered `url_of` — on the request's page and as `document_url` in the API."""

from __future__ import annotations

import copy

import pytest
from django.test import Client

from qinglian.approvals import registry, services
from qinglian.approvals.tests.conftest import PAYMENT_DEFINITION
from qinglian.core.actors import SYSTEM_ACTOR

pytestmark = pytest.mark.usefixtures("english")

KEY = "test.linked"


def nothing(**kwargs):
    return None


@pytest.fixture
def linked(flow):
    """A test-only document type whose pages live at /documents/<id>/ (id "evil" answers a
    script address, id "none" has no page)."""
    calls: list[str] = []

    def url_of(*, document_id):
        calls.append(document_id)
        return {"evil": "javascript:alert(1)", "none": None, "far": "//elsewhere.example/x"}.get(
            document_id, f"/documents/{document_id}/"
        )

    registry.register_document_type(
        registry.DocumentType(key=KEY, label="测试合同", on_approved=nothing, url_of=url_of)
    )
    registry.register_document_type(
        registry.DocumentType(key="test.unlinked", label="无链接单据", on_approved=nothing)
    )
    for code, document_type in (("linked", KEY), ("unlinked", "test.unlinked")):
        services.template_save(
            actor=SYSTEM_ACTOR,
            code=code,
            name="合同审批",
            definition=copy.deepcopy(PAYMENT_DEFINITION),
            document_type=document_type,
        )
    yield calls
    registry.unregister_document_type(KEY)
    registry.unregister_document_type("test.unlinked")


def start(flow, template_code="linked", document_type=KEY, document_id="42"):
    return services.request_submit(
        actor=flow.requester,
        template_code=template_code,
        form_data=flow.data(),
        document_type=document_type,
        document_id=document_id,
    )


def client_for(user):
    client = Client()
    client.force_login(user)
    return client


def test_the_request_page_and_the_api_link_to_the_document(flow, linked):
    request = start(flow)
    for user in (flow.requester, flow.cost_1):  # the requester and an approver
        client = client_for(user)
        page = client.get(f"/approvals/{request.pk}/").content.decode()
        assert 'href="/documents/42/" data-testid="open-document"' in page
        assert "Open the document (测试合同)" in page
        detail = client.get(f"/api/approvals/requests/{request.pk}").json()
        assert detail["document_url"] == "/documents/42/"
        assert detail["document_type"] == KEY and detail["document_id"] == "42"
    assert linked == ["42"] * 4


@pytest.mark.parametrize(
    ("template_code", "document_type", "document_id"),
    [
        ("linked", KEY, "none"),  # the type knows no page for it
        ("linked", KEY, "evil"),  # not a link to follow
        ("linked", KEY, "far"),  # another host without a scheme
        ("unlinked", "test.unlinked", "7"),  # the type registered no url_of
    ],
)
def test_no_link_without_a_safe_page(flow, linked, template_code, document_type, document_id):
    request = start(flow, template_code, document_type, document_id)
    client = client_for(flow.requester)
    page = client.get(f"/approvals/{request.pk}/").content.decode()
    assert "open-document" not in page
    assert "javascript:" not in page
    assert client.get(f"/api/approvals/requests/{request.pk}").json()["document_url"] is None


def test_a_stand_alone_request_has_no_document_link(flow, linked):
    request = services.request_submit(
        actor=flow.requester, template_code="payment", form_data=flow.data()
    )
    client = client_for(flow.requester)
    assert "open-document" not in client.get(f"/approvals/{request.pk}/").content.decode()
    assert client.get(f"/api/approvals/requests/{request.pk}").json()["document_url"] is None
    assert linked == []


def test_a_type_no_longer_registered_gives_no_link(flow, linked):
    request = start(flow)
    registry.unregister_document_type(KEY)
    client = client_for(flow.requester)
    assert "open-document" not in client.get(f"/approvals/{request.pk}/").content.decode()
    assert client.get(f"/api/approvals/requests/{request.pk}").json()["document_url"] is None


def test_someone_who_cannot_see_the_request_gets_no_link(flow, linked, org):
    request = start(flow)
    client = client_for(org.handler_b)
    assert client.get(f"/approvals/{request.pk}/").status_code == 404
    assert client.get(f"/api/approvals/requests/{request.pk}").status_code == 404
    assert linked == []
