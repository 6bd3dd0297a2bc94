"""Settings shared by every environment. Environment-specific files import * from here."""

from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "ninja",
    "axes",
    "csp",
    "huey.contrib.djhuey",
    "qinglian.core",
    "qinglian.org",
    "qinglian.audit",
    "qinglian.approvals",
    "qinglian.trading",
    "qinglian.supervision",
    "qinglian.legacy",
    "qinglian.portal",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "qinglian.core.sessions.SlidingSessionMiddleware",
    "qinglian.core.request_context.RequestContextMiddleware",
    "qinglian.core.request_context.ApplicationErrorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "org.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "qinglian" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "qinglian.portal.context_processors.navigation",
            ],
        },
    }
]


def database_from_url(url: str) -> dict[str, object]:
    """One database settings dict from a URL; SQLite gets the options a concurrent web app needs."""
    config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            # Writers take the lock at BEGIN, so two writers queue instead of failing mid-way.
            "transaction_mode": "IMMEDIATE",
            "timeout": 25,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
        # psycopg binds parameters on the server and prepares a statement once it has run five
        # times on a connection: the server then skips parsing and planning the statements every
        # approval and posting repeats (measured: about a third more documents per second).
        config["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 5}
    return config


DEFAULT_SQLITE_URL = f"sqlite:///{VAR_DIR / 'qinglian.sqlite3'}"
DATABASES = {"default": database_from_url(DEFAULT_SQLITE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "qinglian.org.passwords.MixedCharacterValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Lockout after repeated failures (django-axes): 5 failures per user name and address, 30 minutes.
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = 0.5
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Sessions: idle expiry after two hours, and always at browser close.
SESSION_COOKIE_AGE = 2 * 60 * 60
# Idle timeout: the session expiry slides, refreshed at most every SESSION_REFRESH_SECONDS
# (qinglian.core.sessions) instead of a session write on every request.
SESSION_REFRESH_SECONDS = 300
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content security policy: everything from this host only, no inline script.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "qinglian" / "locale"]
LANGUAGE_COOKIE_NAME = "qinglian_language"
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "qinglian" / "static"]
MEDIA_ROOT = VAR_DIR / "media"
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Background jobs (Huey): embedded SQLite storage by default, Redis in production.
HUEY = {
    "huey_class": "huey.SqliteHuey",
    "name": "qinglian",
    "filename": str(VAR_DIR / "huey.sqlite3"),
    "immediate": False,
    "results": True,
    "consumer": {"workers": 2, "worker_type": "thread", "periodic": True},
}

# Where the daily audit head-hash anchors are written: keep this directory outside the database
# host's backups (another disk, a WORM share) so it can prove the chain was not rewritten.
AUDIT_ANCHOR_DIR = VAR_DIR / "audit-anchors"
# Trust X-Forwarded-For only behind a known reverse proxy.
TRUST_X_FORWARDED_FOR = False

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "qinglian@localhost"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "INFO"},
    # run_huey installs its own handler on the "huey" logger; do not print its lines twice.
    "loggers": {
        "huey": {"level": "INFO", "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}

APP_NAME = _("Qinglian integrity supervision")
