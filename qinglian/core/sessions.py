"""An idle timeout for sessions without a database write on every request.

Django's SESSION_SAVE_EVERY_REQUEST slides the expiry by saving the session on every request —
one write per page view, which on SQLite takes the database's single writer lock for a GET.
This middleware refreshes a session (and so its expiry, SESSION_COOKIE_AGE from now) only when
its last refresh is older than SESSION_REFRESH_SECONDS: the idle timeout stays within that many
seconds of SESSION_COOKIE_AGE, and a user clicking through pages writes about once per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

REFRESHED_KEY = "_qinglian_refreshed"


class SlidingSessionMiddleware:
    """Place after SessionMiddleware and AuthenticationMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.interval = int(getattr(settings, "SESSION_REFRESH_SECONDS", 300))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is None or user is None or not user.is_authenticated:
            return response
        now = int(time.time())
        refreshed = session.get(REFRESHED_KEY, 0)
        if not isinstance(refreshed, int) or now - refreshed >= self.interval:
            # Marks the session modified; SessionMiddleware saves it with a fresh expiry.
            session[REFRESHED_KEY] = now
        return response
