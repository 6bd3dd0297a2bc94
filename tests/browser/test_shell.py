"""The UI shell in a real browser on a phone-sized screen: sign in as two roles, see what each
role sees, switch the language."""

import re

import pytest
from playwright.sync_api import expect

from qinglian.org.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, base_url, username):
    page.goto(base_url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", username)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("current-user")).to_be_attached()


def sign_out(page):
    open_menu(page)
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def open_menu(page):
    """Open the phone menu unless it is already open.

    Clicking the toggler of an open menu folds it, and a click on a link
    while it folds can miss: wait for Bootstrap's transition to finish.
    """
    toggler = page.locator(".navbar-toggler")
    if not toggler.is_visible():
        return
    nav = page.locator("#main-nav")
    if "show" not in (nav.get_attribute("class") or "").split():
        toggler.click()
    expect(nav).to_have_class(re.compile(r"(^|\s)show(\s|$)"))
    expect(page.locator("#main-nav.collapsing")).to_have_count(0)


def test_two_roles_and_the_language_switch(live_server, demo_org, phone, screenshot):
    page = phone
    requests_elsewhere = []
    page.on(
        "request",
        lambda request: (
            requests_elsewhere.append(request.url)
            if not request.url.startswith(live_server.url) and not request.url.startswith("data:")
            else None
        ),
    )

    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_contain_text("清廉")
    expect(page.locator("button[type=submit]")).to_have_text("登录")
    screenshot(page, "01-login-zh")

    # The discipline inspector sees the whole group, read-only, with the latest audit events.
    sign_in(page, live_server.url, "chenjianguo")
    expect(page.get_by_test_id("scope-banner")).to_contain_text("只读")
    cards = page.get_by_test_id("company-cards")
    for company in [
        "东港集团有限公司",
        "东港物流有限公司",
        "东港建设工程有限公司",
        "东港商贸有限公司",
        "东港物业管理有限公司",
    ]:
        expect(cards).to_contain_text(company)
    expect(page.get_by_test_id("recent-events")).to_be_visible()
    open_menu(page)
    expect(page.get_by_test_id("main-nav")).to_contain_text("审计追踪")
    screenshot(page, "02-inspector-home-phone")
    sign_out(page)

    # A handler of 东港建设 sees only their own company and no audit trail.
    sign_in(page, live_server.url, "liuyang")
    expect(page.get_by_test_id("scope-banner")).to_contain_text("东港建设工程有限公司")
    cards = page.get_by_test_id("company-cards")
    expect(cards).to_contain_text("东港建设工程有限公司")
    expect(cards).not_to_contain_text("东港商贸有限公司")
    expect(page.get_by_test_id("recent-events")).to_have_count(0)
    open_menu(page)
    expect(page.get_by_test_id("main-nav")).not_to_contain_text("审计追踪")
    screenshot(page, "03-handler-home-phone")

    # Switch to English from the menu; the choice sticks across pages.
    page.select_option("#language-select", "en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("scope-banner")).to_contain_text("You see the data of")
    page.goto(live_server.url + "/org/companies/")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    screenshot(page, "04-handler-english-phone")

    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    assert requests_elsewhere == []
