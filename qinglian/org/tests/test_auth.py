import re

import pytest
from django.conf import settings
from django.test import Client

from qinglian.audit.models import AuditEvent
from qinglian.org.factories import PASSWORD


def _login(client, username, password):
    return client.post("/accounts/login/", {"username": username, "password": password})


def test_home_redirects_anonymous_to_a_chinese_login_page_without_foreign_links(db):
    client = Client()
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")
    page = client.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert '<html lang="zh-hans">' in html
    assert "登录" in html
    assert not re.search(r"""(src|href)=["']https?://""", html)
    assert "default-src 'self'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"
    assert page["X-Content-Type-Options"] == "nosniff"


def test_english_is_one_switch_away(db):
    client = Client()
    response = client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
    assert response.status_code == 302
    html = client.get("/accounts/login/").content.decode()
    assert '<html lang="en">' in html
    assert "Sign in" in html


def test_login_and_logout_are_audited(org):
    client = Client()
    response = _login(client, "handler_a", PASSWORD)
    assert response.status_code == 302
    event = AuditEvent.objects.filter(action="org.user.logged_in").get()
    assert event.actor_id == org.handler_a.pk
    assert event.chain.key == f"company:{org.company_a.pk}"
    assert event.ip_address == "127.0.0.1"
    assert event.request_id
    client.post("/accounts/logout/")
    assert AuditEvent.objects.filter(action="org.user.logged_out", actor=org.handler_a).exists()
    assert client.get("/").status_code == 302


def test_failed_login_is_audited_and_repeated_failures_lock_the_account(org):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _login(client, "handler_a", "wrong-password-1")
        assert response.status_code in (200, 429)
    failures = AuditEvent.objects.filter(action="org.user.login_failed")
    assert failures.count() >= settings.AXES_FAILURE_LIMIT - 1
    assert {event.object_id for event in failures} == {str(org.handler_a.pk)}
    locked = _login(client, "handler_a", PASSWORD)
    assert locked.status_code == 429
    assert not AuditEvent.objects.filter(action="org.user.logged_in").exists()
    assert client.get("/").status_code == 302


def test_sessions_expire(settings):
    assert settings.SESSION_COOKIE_AGE <= 8 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert settings.SESSION_COOKIE_HTTPONLY


def test_password_change_checks_policy_and_is_audited(org):
    client = Client()
    client.force_login(org.handler_a)
    refused = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": "abc", "new_password2": "abc"},
    )
    assert refused.status_code == 200
    org.handler_a.refresh_from_db()
    assert org.handler_a.check_password(PASSWORD)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "Dockside2027",
            "new_password2": "Dockside2027",
        },
    )
    assert response.status_code == 302
    org.handler_a.refresh_from_db()
    assert org.handler_a.check_password("Dockside2027")
    assert AuditEvent.objects.filter(action="org.user.password_changed").count() == 1
    assert client.get("/").status_code == 200  # still signed in after the change


@pytest.mark.parametrize(
    ("who", "banner", "sees_b"),
    [("inspector", "scope-banner", True), ("handler_a", "scope-banner", False)],
)
def test_home_is_laid_out_by_role(org, who, banner, sees_b):
    client = Client()
    client.force_login(getattr(org, who))
    html = client.get("/").content.decode()
    assert banner in html
    assert ("乙公司" in html) is sees_b
    assert ('data-testid="recent-events"' in html) is (who == "inspector")
