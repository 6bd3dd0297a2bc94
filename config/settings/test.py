"""Test settings. SQLite unless DATABASE_URL names another database (CI sets a PostgreSQL one)."""

import os

from .base import *  # noqa: F403
from .base import BASE_DIR, HUEY, database_from_url

DEBUG = False
SECRET_KEY = "test-only-secret-key"
ALLOWED_HOSTS = ["*"]
DATABASES = {"default": database_from_url(os.environ.get("DATABASE_URL", "sqlite:///:memory:"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file database so threaded live-server (browser) tests share it; one per test run, so
    # two runs on one machine never write into each other's database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / f"test-{os.getpid()}.sqlite3")}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if os.environ.get("QINGLIAN_HUEY_QUEUE") == "memory":
    # Benchmarks (bench/harness.py `setup_django(..., queued_jobs=True)`): tasks are queued in
    # memory and never run, so a timing covers the request and its enqueue, not the worker's
    # work.
    HUEY = {
        **{key: value for key, value in HUEY.items() if key != "filename"},
        "huey_class": "huey.MemoryHuey",
        "immediate": False,
    }
else:
    HUEY = {**HUEY, "immediate": True}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
AUDIT_ANCHOR_DIR = BASE_DIR / "var" / "test-audit-anchors"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
