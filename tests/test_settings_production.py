"""Production settings read the environment and refuse to start insecurely."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "k" * 20 + "Zq8-Vw3_Lp0xR7sT2nY5mB9cD4fG6hJ1"


def _load(**env):
    environment = {
        key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "DEBUG"}
    }
    environment.update(DJANGO_SETTINGS_MODULE="config.settings.production", **env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.DEBUG, settings.ALLOWED_HOSTS, "
            "settings.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BASE = {"ALLOWED_HOSTS": "qinglian.donggang.local", "DATABASE_URL": "postgres://u@db/qinglian"}


def test_starts_from_the_environment():
    result = _load(SECRET_KEY=GOOD_SECRET, **BASE)
    assert result.returncode == 0, result.stderr
    assert "False ['qinglian.donggang.local'] django.db.backends.postgresql" in result.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "short"}, "SECRET_KEY is insecure"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 50}, "SECRET_KEY is insecure"),
        ({}, "SECRET_KEY is required"),
        ({"SECRET_KEY": GOOD_SECRET, "DEBUG": "true"}, "DEBUG must be off"),
    ],
)
def test_refuses_insecure_configuration(env, message):
    result = _load(**BASE, **env)
    assert result.returncode != 0
    assert message in result.stderr


def test_refuses_to_start_without_allowed_hosts():
    result = _load(SECRET_KEY=GOOD_SECRET, DATABASE_URL="postgres://u@db/q")
    assert result.returncode != 0
    assert "ALLOWED_HOSTS is required" in result.stderr
