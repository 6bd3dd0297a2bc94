"""Shared fixtures: a small group with two subsidiaries and one user per access level."""

from __future__ import annotations

import copy
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import translation
from pytest_django.fixtures import validate_django_db

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


def build_org() -> Org:
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
def org(db, shared_layers) -> Org:
    return shared_layers.get("org", build_org)


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


# ---------------------------------------------------------------- shared fixture data
# `org` and the fixtures built on it (trading, flows, a module's `world` …) take 40–200 ms each
# to build through the services, and nearly every test asks for some of them. A test that runs
# inside a transaction (every test but the transactional ones) therefore starts from a build
# shared with the tests before it, as Django's TestCase.setUpTestData gives: the build is kept
# in an outer transaction, one savepoint per fixture ("layer"), and pytest-django opens the
# test's own transaction inside it, so whatever the test changes is rolled back and the next
# test finds the same rows. Each test gets its own deep copy of the Python objects, and the
# e-mails the builds sent in its outbox.
#
# A fixture is such a layer when it asks for `shared_layers` and its module has a function
# `build_<its name>` whose parameters all name layers too. The fixture reads
#     return shared_layers.get("trading", build_trading, org)
# and gets this test's copy, or, in a transactional test (which cannot share), its own build.
# Before each test the layers it asks for are arranged: those it does not ask for are rolled
# back, missing ones built, dependencies first. A transactional test, and the end of each
# module, roll the whole build back. A build runs before any of the test's own fixtures: a
# builder that needs the clock frozen freezes it itself (see the supervision fixtures).


@dataclass
class _Layer:
    fixture: Any  # the fixture function
    name: str
    atomic: Any  # the transaction.atomic (a savepoint) holding its rows
    value: Any  # what the fixture returns (tests get deep copies)
    sent: list[Any]  # the e-mails its build sent
    # Deep copies of the values of this layer and those below as they were once it was
    # built: the builds above may change the Python objects they are given (a cached data
    # scope, a refreshed row), and after those builds are rolled back their changes go too.
    pristine: list[Any]


class SharedBuild:
    """The shared layers of the current module, each in its own savepoint."""

    def __init__(self) -> None:
        self.outer: Any = None  # the transaction.atomic holding the layers
        self.layers: list[_Layer] = []
        self.test: str | None = None  # the test the layers are arranged for
        self.memo: dict[int, Any] = {}  # that test's deep copies

    def _intact(self) -> bool:
        """The connection's open atomic blocks are exactly ours."""
        blocks = connection.atomic_blocks
        ours = [self.outer, *(layer.atomic for layer in self.layers)]
        return len(blocks) == len(ours) and all(a is b for a, b in zip(blocks, ours, strict=True))

    @staticmethod
    def _enter() -> Any:
        atomic: Any = transaction.atomic()
        atomic.__enter__()
        # As in TestCase.setUpTestData: a durable block may still open inside the tests.
        atomic._from_testcase = True
        return atomic

    @staticmethod
    def _roll_back(atomic: Any) -> None:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)

    def arrange(self, test: str, wanted: list[tuple[Any, str, Callable[..., Any]]]) -> None:
        """Stack exactly the `wanted` layers (fixture, name, builder; dependencies first) for
        `test`. Leaves everything alone, and shares nothing with the test, when another
        transaction is open above or instead of ours (a module-scoped fixture's own, say)."""
        self.test = None
        if self.outer is not None and not self._intact():
            if any(block is self.outer for block in connection.atomic_blocks):
                return
            self.outer, self.layers = None, []  # the connection was closed under the build
        if self.outer is None and connection.in_atomic_block:
            return
        kept = 0
        while kept < min(len(self.layers), len(wanted)) and (
            self.layers[kept].fixture is wanted[kept][0]
        ):
            kept += 1
        if len(self.layers) > kept:
            while len(self.layers) > kept:
                self._roll_back(self.layers.pop().atomic)
            if self.layers:
                restored = copy.deepcopy(self.layers[-1].pristine)
                for layer, value in zip(self.layers, restored, strict=True):
                    layer.value = value
        if not wanted:
            self.close()
            return
        if self.outer is None:
            self.outer = self._enter()
        for fixture, name, build in wanted[kept:]:
            values = {layer.name: layer.value for layer in self.layers}
            arguments = {p: values[p] for p in inspect.signature(build).parameters}
            outbox = getattr(mail, "outbox", [])
            before = len(outbox)
            atomic = self._enter()
            try:
                value = build(**arguments)
                if connection.features.can_defer_constraint_checks:
                    # Check the layer's deferred foreign keys now, once: left pending,
                    # PostgreSQL checks them again at the end of every test (each test's
                    # rolled-back savepoint undoes the check).
                    connection.check_constraints()
            except BaseException:
                self._roll_back(atomic)
                raise
            pristine = copy.deepcopy([*(layer.value for layer in self.layers), value])
            self.layers.append(_Layer(fixture, name, atomic, value, outbox[before:], pristine))
        self.test, self.memo = test, {}
        if hasattr(mail, "outbox"):
            # What the builds sent is in the test's outbox, as when the test built them.
            mail.outbox[:] = [copy.copy(sent) for layer in self.layers for sent in layer.sent]

    def close(self) -> None:
        """Roll the whole build back."""
        self.test = None
        if self.outer is None:
            return
        if self._intact():
            while self.layers:
                self._roll_back(self.layers.pop().atomic)
            self._roll_back(self.outer)
        self.outer, self.layers = None, []

    MISSING = object()

    def get(self, test: str, name: str) -> Any:
        if self.test == test:
            for layer in self.layers:
                if layer.name == name:
                    return copy.deepcopy(layer.value, self.memo)
        return self.MISSING


SHARED = SharedBuild()


def _wanted_layers(request: pytest.FixtureRequest) -> list[tuple[Any, str, Callable[..., Any]]]:
    """The layers this test asks for (fixture, name, builder), dependencies first. Reads
    pytest's record of the fixtures each test resolved; without it, there are none."""
    definitions = getattr(getattr(request.node, "_fixtureinfo", None), "name2fixturedefs", {})
    found: dict[str, tuple[Any, Callable[..., Any], list[str]]] = {}
    for name in request.fixturenames:
        resolved = definitions.get(name)
        if not resolved or "shared_layers" not in resolved[-1].argnames:
            continue
        fixture = resolved[-1].func
        module = sys.modules.get(getattr(fixture, "__module__", ""))
        build = getattr(module, f"build_{name}", None)
        if build is not None:
            found[name] = (fixture, build, list(inspect.signature(build).parameters))
    depths: dict[str, int | None] = {}

    def depth(name: str) -> int | None:  # None: built on something that is not a layer
        if name not in depths:
            depths[name] = None
            below = [depth(p) if p in found else None for p in found[name][2]]
            depths[name] = None if None in below else 1 + max((d or 0 for d in below), default=0)
        return depths[name]

    layers = sorted((depth(name), name) for name in found if depth(name) is not None)
    return [(found[name][0], name, found[name][1]) for _, name in layers]


@pytest.fixture(autouse=True)
def _django_db_marker(request):
    """Arrange the shared layers, then do what pytest-django's own (internal) fixture of this
    name does: a test marked django_db gets its database. It is the first of each test's own
    fixtures to run, so the layers are in place before the test's transaction opens inside
    them. (pytest-django 4.x; on an upgrade, check its `_django_db_marker` is still those last
    two lines.)"""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    transactional = bool(names & {"transactional_db", "live_server", "django_db_reset_sequences"})
    if marker:
        transaction_wanted, reset_sequences, *_ = validate_django_db(marker)
        transactional = transactional or transaction_wanted or reset_sequences
    if marker or names & {"db", "transactional_db", "live_server"}:
        wanted = [] if transactional else _wanted_layers(request)
        if wanted or SHARED.outer is not None:
            request.getfixturevalue("django_db_setup")
            with request.getfixturevalue("django_db_blocker").unblock():
                SHARED.arrange(request.node.nodeid, wanted)
    if marker:
        request.getfixturevalue("_django_db_helper")


@pytest.fixture(autouse=True, scope="module")
def _shared_build_end(django_db_blocker):
    yield
    if SHARED.outer is not None:
        with django_db_blocker.unblock():
            SHARED.close()


class SharedLayers:
    def __init__(self, test: str) -> None:
        self.test = test

    def get(self, name: str, build: Callable[..., Any], *layers: Any) -> Any:
        """This test's copy of the shared layer `name`; for a test that cannot share (a
        transactional one), a build of its own: `build(*layers)`."""
        value = SHARED.get(self.test, name)
        return build(*layers) if value is SHARED.MISSING else value


@pytest.fixture
def shared_layers(request) -> SharedLayers:
    return SharedLayers(request.node.nodeid)


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
