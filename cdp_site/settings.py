"""Settings for the CDP, read only from environment variables (see README, Configuration)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from csp.constants import UNSAFE_INLINE as CSP_UNSAFE_INLINE
from kombu import Queue

from core.env import (
    ImproperlyConfiguredEnv,
    env_bool,
    env_float,
    env_int,
    env_list,
    env_rate,
    get_from_env,
    is_production,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(get_from_env("CDP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

PRODUCTION = is_production()


def _local_secret_key() -> str:
    """A random key kept in var/ so web, worker and beat share it; never used in production."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(64))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY: str = get_from_env("SECRET_KEY", "", required_in_production=True) or _local_secret_key()
DEBUG = env_bool("DEBUG", False)
# Keys the HMAC of source write keys; rotating it revokes every write key.
CDP_WRITE_KEY_PEPPER: str = get_from_env("WRITE_KEY_PEPPER", "") or SECRET_KEY
# Keys the HMAC of staff API tokens; rotating it revokes every token.
CDP_API_TOKEN_PEPPER: str = get_from_env("API_TOKEN_PEPPER", "") or f"api-token:{SECRET_KEY}"
# Bad API tokens and write keys one client address may send: a burst, then one per period.
CDP_BAD_CREDENTIAL_RATE = env_rate("BAD_CREDENTIAL_RATE", "20/min")
# Keys the HMAC of suppressed identifiers (erased people). Locally it derives from
# SECRET_KEY; in production set it once and keep it: changing it forgets every suppression.
CDP_SUPPRESSION_KEY: str = get_from_env("SUPPRESSION_KEY", "") or f"suppression:{SECRET_KEY}"
ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"], required_in_production=True
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "cdp_site.admin_config.CdpAdminConfig",  # django.contrib.admin with the CDP's admin site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "csp",
    # Ours, lowest layer first (see docs/architecture.md).
    "core",
    "consent",
    "profiles",
    "collection",
    "segments",
    "campaigns",
    "reports",
    "cdp_site",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The steward's choice (the admin's language switch, a cookie), else the browser's
    # Accept-Language, else the organisation's LANGUAGE_CODE (docs/i18n.md).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
]

# Brute force on the admin login: django-axes locks a username from one client address
# after AXES_FAILURE_LIMIT failures, for AXES_COOLOFF_MINUTES (429 with a clear page).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# The same client address as rate limits and consent proofs (NUM_PROXIES hops).
AXES_CLIENT_IP_CALLABLE = "core.clients.client_ip"

ROOT_URLCONF = "cdp_site.urls"
WSGI_APPLICATION = "cdp_site.wsgi.application"
ASGI_APPLICATION = "cdp_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cdp_site" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL: str = get_from_env(
    "DATABASE_URL", f"sqlite:///{VAR_DIR / 'cdp.sqlite3'}", required_in_production=True
)
_db = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
    conn_health_checks=True,
)
if _db["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend; a connection that served a request less than this many seconds ago
    # is not pinged again before the next one (core/postgresql/base.py).
    _db["ENGINE"] = "core.postgresql"
    _db.setdefault("OPTIONS", {})["health_check_delay"] = env_int("DB_HEALTH_CHECK_DELAY", 2)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets web, worker and beat read while one writes; IMMEDIATE transactions take
    # the write lock up front so two writers wait (busy timeout) instead of deadlocking.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": env_int("SQLITE_BUSY_TIMEOUT", 30),
        "transaction_mode": "IMMEDIATE",
    }
    # A file, not memory, so that a worker process started by a test sees the test data.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test_cdp.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The languages of the admin, the public pages and the emails (docs/i18n.md). The
# organisation's default answers whoever states no language: CDP_LANGUAGE=fr for French.
LANGUAGES = [("en", "English"), ("fr", "Français")]
LANGUAGE_CODE = get_from_env("CDP_LANGUAGE", "en").strip().lower()
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise ImproperlyConfiguredEnv(
        f"CDP_LANGUAGE must be one of {', '.join(dict(LANGUAGES))}, not {LANGUAGE_CODE!r}"
    )
LOCALE_PATHS = [BASE_DIR / "locale"]
# English dates as ISO and 24-hour times (cdp_site/formats/en); French as Django writes it.
FORMAT_MODULE_PATH = ["cdp_site.formats"]
TIME_ZONE = get_from_env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
# Dates, times and decimals follow the active language's formats (localisation is always
# on since Django 5.0). Thousands are grouped only where a template asks (`intcomma`), so
# that ids in links and forms stay plain digits.

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = Path(get_from_env("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# In production collectstatic builds a hashed, compressed manifest; locally WhiteNoise serves
# straight from the apps so `make run` needs no collectstatic step.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = not PRODUCTION

# --- Security (production values make `check --deploy` clean) --------------------
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", PRODUCTION)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", PRODUCTION)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", PRODUCTION)
# Load balancers probe health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", PRODUCTION)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", PRODUCTION)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Content-Security-Policy (django-csp) on every page but the tracking API's JSON answers:
# scripts only from our own static files (no inline script anywhere, no eval); styles
# inline too (admin templates and Django's widgets carry style attributes; a style cannot
# run code); images also from https (email previews) and data: (icons of the API docs).
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/v1/"],
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF, CSP_UNSAFE_INLINE],
        "img-src": [CSP_SELF, "data:", "https:"],
        "font-src": [CSP_SELF, "data:"],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_SELF],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    },
}
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Email ----------------------------------------------------------------------
EMAIL_HOST = get_from_env("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = get_from_env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = get_from_env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
# Without an SMTP host, mail is written to files under var/mail, never to the log.
EMAIL_BACKEND = get_from_env(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend",
)
EMAIL_FILE_PATH = VAR_DIR / "mail"
# An email service through django-anymail: EMAIL_BACKEND=anymail.backends.mailgun.EmailBackend
# (or postmark, brevo…) and its credentials, all from the environment. Its
# tracking webhook, /t/esp/<service>/tracking/, answers only once its secret is set.
ANYMAIL = {
    name: value
    for name, value in {
        "MAILGUN_API_KEY": get_from_env("MAILGUN_API_KEY", ""),
        "MAILGUN_SENDER_DOMAIN": get_from_env("MAILGUN_SENDER_DOMAIN", ""),
        "MAILGUN_API_URL": get_from_env("MAILGUN_API_URL", ""),  # the EU region's
        "MAILGUN_WEBHOOK_SIGNING_KEY": get_from_env("MAILGUN_WEBHOOK_SIGNING_KEY", ""),
        "POSTMARK_SERVER_TOKEN": get_from_env("POSTMARK_SERVER_TOKEN", ""),
        "BREVO_API_KEY": get_from_env("BREVO_API_KEY", ""),
        # "user:password" the service's webhook calls carry (HTTP basic auth).
        "WEBHOOK_SECRET": get_from_env("ANYMAIL_WEBHOOK_SECRET", ""),
    }.items()
    if value
}
DEFAULT_FROM_EMAIL = get_from_env("DEFAULT_FROM_EMAIL", "cdp@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Event names the reports count as conversions.
CDP_CONVERSION_EVENTS = env_list("CDP_CONVERSION_EVENTS", ["Order Completed"])
# A conversion is credited to the last email the person clicked within this many days.
CDP_ATTRIBUTION_DAYS = env_int("CDP_ATTRIBUTION_DAYS", 7)

# --- Logging: ids and counts only; personal data never reaches a log line ---------
LOG_LEVEL = get_from_env("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Redacting: a traceback's database error text names row values (core/logs.py).
    "formatters": {
        "plain": {
            "()": "core.logs.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every successful login and reset at INFO; lockouts are warnings.
        "axes": {"level": "WARNING"},
    },
}

# --- API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous call gets 401 with a WWW-Authenticate header.
        "core.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Fail closed: a view that does not declare its actions' permissions refuses everyone
    # (core/permissions.py); public endpoints set their own classes.
    "DEFAULT_PERMISSION_CLASSES": ["core.permissions.HasActionPermissions"],
    "DEFAULT_PAGINATION_CLASS": "core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "anon": "120/min",
        "form": env_rate("FORM_RATE_LIMIT", "30/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # How many reverse proxies put themselves in X-Forwarded-For: client IPs for rate
    # limits and consent proofs are read that many hops from the right. 0: REMOTE_ADDR.
    "NUM_PROXIES": env_int("NUM_PROXIES", 0),
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CDP API",
    "DESCRIPTION": "Intake (Segment-compatible /v1 and forms) and staff API of the CDP.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SourceKindEnum": "profiles.models.core.Source.Kind",
        "IdentityKindEnum": "profiles.models.core.Identity.Kind",
        "RequestKindEnum": "consent.models.gdpr.RequestKind",
        "RequestStatusEnum": "consent.models.gdpr.RequestStatus",
        "SegmentKindEnum": "segments.models.Segment.Kind",
        "MessageKindEnum": "campaigns.models.MessageKind",
        "MessageStatusEnum": "campaigns.models.MessageStatus",
        "BroadcastStatusEnum": "campaigns.models.BroadcastStatus",
    },
}

# --- Cache (rate limits, throttles) ----------------------------------------------
REDIS_URL: str = get_from_env("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "core.cache.RedisCache",
            "LOCATION": REDIS_URL,
            # Short: a cache that does not answer is skipped (core/cache.py).
            "OPTIONS": {
                "socket_connect_timeout": env_float("REDIS_TIMEOUT", 0.5),
                "socket_timeout": env_float("REDIS_TIMEOUT", 0.5),
            },
        }
    }
else:
    # Shared by web, worker and beat without a server.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# --- Celery -------------------------------------------------------------------------
# The longest countdown/eta any task uses; the broker must not redeliver before it.
CELERY_MAX_COUNTDOWN_SECONDS = 6 * 3600
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL: str = get_from_env(
    "CELERY_BROKER_URL", "filesystem://", required_in_production=True
)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    "visibility_timeout": 2 * CELERY_MAX_COUNTDOWN_SECONDS,
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for sub in ("queue", "control", "processed"):
        (_broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(_broker_dir / "queue"),
        data_folder_out=str(_broker_dir / "queue"),
        control_folder=str(_broker_dir / "control"),
        processed_folder=str(_broker_dir / "processed"),
        store_processed=False,
    )
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    _default_result_backend = CELERY_BROKER_URL
elif CELERY_BROKER_URL.startswith("filesystem://"):
    (VAR_DIR / "results").mkdir(exist_ok=True)
    _default_result_backend = f"file://{VAR_DIR / 'results'}"
else:
    _default_result_backend = "rpc://"
CELERY_RESULT_BACKEND: str = get_from_env("CELERY_RESULT_BACKEND", _default_result_backend)
CELERY_RESULT_EXPIRES = 24 * 3600
# Tasks report through the database (jobs, runs, heartbeats); a kept result would also
# keep a failed task's traceback, whose database error may name a person's values.
# A task whose caller waits for it says ignore_result=False.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_QUEUES = [
    Queue(name) for name in ("ingest", "segments", "journeys", "reports", "default")
]
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {
    "collection.tasks.*": {"queue": "ingest"},
    "profiles.tasks.*": {"queue": "ingest"},
    "consent.tasks.*": {"queue": "default"},
    "segments.tasks.*": {"queue": "segments"},
    "campaigns.tasks.*": {"queue": "journeys"},
    "reports.tasks.*": {"queue": "reports"},
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
assert CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > CELERY_MAX_COUNTDOWN_SECONDS  # type: ignore[operator]  # a dict of mixed values; this one is an int

# Links in emails (double opt-in confirmation, unsubscribe, preferences) start with this.
CDP_PUBLIC_URL: str = get_from_env(
    "CDP_PUBLIC_URL", "http://localhost:8000", required_in_production=True
)
CONSENT_CONFIRM_MAX_AGE_DAYS = env_int("CONSENT_CONFIRM_MAX_AGE_DAYS", 7)
# How the steward search reads a phone number typed without its country code.
CDP_DEFAULT_PHONE_REGION = get_from_env("CDP_DEFAULT_PHONE_REGION", "FR")

# Campaigns: who sends, from where, and when marketing may reach people.
CDP_ORGANISATION_NAME = get_from_env("CDP_ORGANISATION_NAME", "CDP")
CDP_POSTAL_ADDRESS = get_from_env("CDP_POSTAL_ADDRESS", "")
CDP_MAIL_DOMAIN = get_from_env("CDP_MAIL_DOMAIN", "cdp.localhost")  # right side of Message-IDs
CDP_ORGANISATION_TIME_ZONE = get_from_env("CDP_ORGANISATION_TIME_ZONE", "Europe/Paris")
CDP_QUIET_HOURS = get_from_env("CDP_QUIET_HOURS", "21:00-08:00")  # local time; "off" for none
CDP_FREQUENCY_CAPS = {
    "email": {"day": env_int("CDP_EMAIL_CAP_DAY", 2), "week": env_int("CDP_EMAIL_CAP_WEEK", 5)},
    # Webhook calls (an SMS gateway's texts): marketing ones, across every endpoint.
    "webhook": {
        "day": env_int("CDP_WEBHOOK_CAP_DAY", 1),
        "week": env_int("CDP_WEBHOOK_CAP_WEEK", 3),
    },
}
# A channel's own quiet hours; unset: CDP_QUIET_HOURS.
CDP_CHANNEL_QUIET_HOURS = {
    channel: value
    for channel, value in {"webhook": get_from_env("CDP_WEBHOOK_QUIET_HOURS", "")}.items()
    if value
}
CDP_OUTBOX_LEASE_SECONDS = env_int("CDP_OUTBOX_LEASE_SECONDS", 300)
# Journeys: enrolments claimed (and advanced as sets) in one transaction.
CDP_JOURNEY_BATCH = env_int("CDP_JOURNEY_BATCH", 5000)
# A second celery beat on the same database stands by; it checks this often for the lock.
CDP_BEAT_STANDBY_SECONDS = env_int("CDP_BEAT_STANDBY_SECONDS", 10)
CDP_MACHINE_OPEN_SECONDS = env_int("CDP_MACHINE_OPEN_SECONDS", 10)
# Data-subject requests and retention.
CDP_RETENTION_BATCH = env_int("CDP_RETENTION_BATCH", 500)
# Days a retention policy's dry-run report waits for review before the first real run.
CDP_RETENTION_REVIEW_DAYS = env_int("CDP_RETENTION_REVIEW_DAYS", 7)

# Intake: "buffered" answers HTTP calls once messages are stored and lets the worker
# ingest them in batches; "sync" runs the whole pipeline inside the request.
CDP_INTAKE_MODE = get_from_env("CDP_INTAKE_MODE", "buffered")
CDP_IMPORT_MAX_BYTES = env_int("CDP_IMPORT_MAX_BYTES", 100 * 1024 * 1024)
CDP_IMPORT_TASK_ROWS = env_int("CDP_IMPORT_TASK_ROWS", 5_000)
# How long a queued or running import may go without a batch before beat queues it again.
CDP_IMPORT_LEASE_SECONDS = env_int("CDP_IMPORT_LEASE_SECONDS", 90)
# Duplicate scans, maintenance and retention runs, segment refreshes: a runner renews its
# lease every third of this; a lease left this long unrenewed is queued again by beat.
CDP_JOB_LEASE_SECONDS = env_int("CDP_JOB_LEASE_SECONDS", 90)
# Days an import's uploaded file and error report are kept after the job finished.
CDP_IMPORT_FILE_RETENTION_DAYS = env_int("CDP_IMPORT_FILE_RETENTION_DAYS", 30)

# A worker that has not written a heartbeat for this long counts as gone (/health/).
CDP_WORKER_HEARTBEAT_SECONDS = env_int("CDP_WORKER_HEARTBEAT_SECONDS", 10)
CDP_WORKER_STALE_SECONDS = env_int("CDP_WORKER_STALE_SECONDS", 60)

# Data quality: a profile not seen for this many days is flagged stale; maintenance runs
# work through profiles this many at a time (one transaction, one task each).
CDP_STALE_AFTER_DAYS = env_int("CDP_STALE_AFTER_DAYS", 730)
CDP_QUALITY_BATCH = env_int("CDP_QUALITY_BATCH", 1_000)
