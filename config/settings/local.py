"""The embedded default a newcomer runs: SQLite, DEBUG, demo data, console e-mail."""

import os

from .base import *  # noqa: F403
from .base import DEFAULT_SQLITE_URL, database_from_url

DEBUG = True
SECRET_KEY = os.environ.get("SECRET_KEY", "local-development-only-not-for-production")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", DEFAULT_SQLITE_URL))}
