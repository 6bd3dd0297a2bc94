"""Shared fixtures: a small group with two subsidiaries and one user per access level."""

from __future__ import annotations

import os
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import translation

from qinglian.audit import guards as audit_guards
from qinglian.org.enums import RoleCode
from qinglian.org.factories import make_company, make_department, make_project, make_user
from qinglian.org.models import Company, Department, Project, User
from qinglian.org.services import role_builtin_ensure
from qinglian.trading import guards as trading_guards

# Append-only tables whose SQLite triggers are lifted around a transactional test's flush.
SQLITE_INSTALL = [*audit_guards.SQLITE_INSTALL, *trading_guards.SQLITE_INSTALL]
SQLITE_REMOVE = [*audit_guards.SQLITE_REMOVE, *trading_guards.SQLITE_REMOVE]


@dataclass
class Org:
    group: Company
    company_a: Company
    company_b: Company
    department_a: Department
    department_b: Department
    project_a: Project
    no_role: User  # works for A but holds no role
    handler_a: User
    handler_b: User
    admin_a: User  # IT administrator of A
    admin_group: User
    inspector: User  # group-wide, read-only
    auditor: User


@pytest.fixture
def org(db) -> Org:
    role_builtin_ensure()  # transactional tests flush the seeded roles
    group = make_company(parent=None, name="测试集团", code="G")
    company_a = make_company(parent=group, name="甲公司", code="A")
    company_b = make_company(parent=group, name="乙公司", code="B")
    department_a = make_department(company=company_a, name="甲工程部")
    department_b = make_department(company=company_b, name="乙工程部")
    handler_a = make_user(
        company=company_a,
        department=department_a,
        roles=(RoleCode.HANDLER,),
        username="handler_a",
        name="甲经办",
    )
    return Org(
        group=group,
        company_a=company_a,
        company_b=company_b,
        department_a=department_a,
        department_b=department_b,
        project_a=make_project(company=company_a, leader=handler_a),
        no_role=make_user(company=company_a, username="no_role", name="无角色"),
        handler_a=handler_a,
        handler_b=make_user(
            company=company_b,
            department=department_b,
            roles=(RoleCode.HANDLER,),
            username="handler_b",
            name="乙经办",
        ),
        admin_a=make_user(
            company=company_a, roles=(RoleCode.IT_ADMIN,), username="admin_a", name="甲管理员"
        ),
        admin_group=make_user(
            company=group, roles=(RoleCode.IT_ADMIN,), username="admin_group", name="集团管理员"
        ),
        inspector=make_user(
            company=group, roles=(RoleCode.INSPECTOR,), username="inspector", name="纪委"
        ),
        auditor=make_user(
            company=group, roles=(RoleCode.AUDITOR,), username="auditor", name="内审"
        ),
    )


@pytest.fixture
def english(settings):
    """Messages in English for tests that assert their wording (the default is zh-hans)."""
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _sqlite_audit_guards(request):
    """Keep SQLite's append-only triggers in place during every test, but out of the way of the
    flush (DELETE FROM every table) that ends a transactional test: SQLite cannot let that one
    statement through, so the triggers are lifted just before it and re-created by the next
    test. PostgreSQL flushes with TRUNCATE, which its row triggers allow."""
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    transactional = bool(names & {"transactional_db", "live_server"}) or bool(
        marker and marker.kwargs.get("transaction")
    )
    if not (names & {"db", "transactional_db", "live_server"} or marker):
        yield
        return
    request.getfixturevalue("transactional_db" if transactional else "db")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for statement in SQLITE_INSTALL:
                cursor.execute(statement)
    yield
    if transactional and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for statement in SQLITE_REMOVE:
                cursor.execute(statement)


# ---------------------------------------------------------------- browser tests
# Playwright driving Debian's Chromium (/usr/bin/chromium); never a downloaded browser. One
# browser for the whole run: Playwright's sync API allows one running instance per thread.

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent / "test-artifacts"
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make test installs it as root)")
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def phone(browser):
    """A fresh phone-sized browser context (its own cookies), Chinese locale."""
    context = browser.new_context(
        viewport=PHONE, locale="zh-CN", device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def demo_org(transactional_db):
    call_command("demo_load", stdout=StringIO())


@pytest.fixture
def screenshot():
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page, name):
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
