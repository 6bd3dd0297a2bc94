"""The org pages in Debian's Chromium on a 375px phone: no sideways scrolling, nothing the
content-security policy blocks, no request to another host, and the confirm-before-revoke."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from qinglian.org.enums import RoleCode
from qinglian.org.factories import PASSWORD
from qinglian.org.models import RoleAssignment

pytestmark = pytest.mark.browser

PHONE_WIDTH = 375  # the `phone` fixture's viewport (conftest.py)


def test_admin_pages_fit_a_phone(live_server, transactional_db, org, phone, screenshot):
    from playwright.sync_api import expect

    page = phone
    blocked: list[str] = []
    elsewhere: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on(
        "request",
        lambda request: (
            elsewhere.append(request.url)
            if not request.url.startswith((live_server.url, "data:"))
            else None
        ),
    )
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", org.admin_a.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_attached()

    pages = {
        "companies": reverse("org:company_list"),
        "company": reverse("org:company_detail", args=[org.company_a.pk]),
        "company-edit": reverse("org:company_edit", args=[org.company_a.pk]),
        "departments": reverse("org:department_list"),
        "people": reverse("org:user_list"),
        "person": reverse("org:user_detail", args=[org.handler_a.pk]),
        "projects": reverse("org:project_list"),
        "project": reverse("org:project_detail", args=[org.project_a.pk]),
    }
    for name, url in pages.items():
        page.goto(live_server.url + url)
        expect(page.locator("h1").first).to_be_visible()
        screenshot(page, f"org-{name}-phone")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE_WIDTH + 1, (name, width)

    # Revoking asks first (app.js reads data-confirm); dismissing keeps the role.
    page.goto(live_server.url + pages["person"])
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_test_id("revoke-role").first.click()
    expect(page.get_by_test_id("role-row")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("revoke-role").first.click()
    expect(page.locator(".alert-success")).to_be_visible()
    expect(page).to_have_url(re.compile(re.escape(pages["person"]) + "$"))
    assert not RoleAssignment.objects.filter(
        user=org.handler_a, role__code=RoleCode.HANDLER
    ).exists()

    assert blocked == []
    assert elsewhere == []
