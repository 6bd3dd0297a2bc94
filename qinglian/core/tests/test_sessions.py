from unittest import mock

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.test.utils import CaptureQueriesContext

from qinglian.core.sessions import REFRESHED_KEY

pytestmark = pytest.mark.django_db


def _session_writes(client, path="/"):
    with CaptureQueriesContext(connection) as queries:
        client.get(path)
    statements = [query["sql"] for query in queries]
    return [sql for sql in statements if "django_session" in sql and not sql.startswith("SELECT")]


def test_a_session_is_refreshed_once_per_interval_not_on_every_request(client, org, settings):
    settings.SESSION_REFRESH_SECONDS = 300
    client.force_login(org.handler_a)
    with mock.patch("qinglian.core.sessions.time.time", return_value=1_000_000):
        assert _session_writes(client)  # first page after login: refreshed
        assert _session_writes(client) == []  # within the interval: no write
    key = client.session.session_key
    expiry = Session.objects.get(session_key=key).expire_date
    with mock.patch("qinglian.core.sessions.time.time", return_value=1_000_000 + 300):
        assert _session_writes(client)  # interval passed: refreshed, expiry slides
    assert client.session[REFRESHED_KEY] == 1_000_300
    assert Session.objects.get(session_key=key).expire_date >= expiry


def test_anonymous_requests_create_no_session(client):
    client.get("/accounts/login/")
    assert Session.objects.count() == 0
