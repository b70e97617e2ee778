"""Settings, read from the environment once, with documented defaults.

The defaults run on a fresh machine with nothing installed: SQLite in WAL mode under
`var/`, kombu's filesystem transport as an embedded broker under `var/`, and local files
under `var/media/`. `DATABASE_URL`, `CELERY_BROKER_URL` (or `REDIS_URL`) and
`AWS_STORAGE_BUCKET_NAME` switch to PostgreSQL, Redis and S3. Every variable is listed in
README.md.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LABELSITE_VAR_DIR", BASE_DIR / "var"))


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEVELOPMENT_SECRET_KEY = "labelsite-development-secret-key-do-not-use-in-production"  # noqa: S105

DEBUG = _env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
# Production mode (DEBUG off) refuses to serve with the development secret: see
# labelsite/checks.py, which the WSGI/ASGI entry points, the worker and manage.py run.
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "labelsite",
    "projects",
    "labeling",
    "imports",
    "exports",
    "backups",
    "datagym_v1",
    "demo",
    "axes",
]

MIDDLEWARE = [
    "labelsite.middleware.CollapseSlashesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into projects.throttling's answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "labelsite.urls"
WSGI_APPLICATION = "labelsite.wsgi.application"
ASGI_APPLICATION = "labelsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "labelsite.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets a reader and a writer work at once; the busy timeout makes a second writer
    # wait for the lock instead of failing with "database is locked"; IMMEDIATE takes the
    # write lock at BEGIN so that a transaction never has to upgrade its lock half way.
    # DATABASE_BUSY_TIMEOUT_MS (default 30 s) is how long a writer waits before it fails.
    _busy_ms = int(os.environ.get("DATABASE_BUSY_TIMEOUT_MS", "30000"))
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": _busy_ms / 1000,
        "transaction_mode": "IMMEDIATE",
        "init_command": f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={_busy_ms};",
    }
    # A file, not memory, so that a worker process started by a test shares the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

AUTHENTICATION_BACKENDS = [
    "projects.throttling.LoginLockoutBackend",  # first: refuses locked-out accounts and addresses
    "django.contrib.auth.backends.ModelBackend",
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

# --- Static and uploaded files ----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
if AWS_STORAGE_BUCKET_NAME:
    # Any S3-compatible server: AWS_S3_ENDPOINT_URL points at MinIO, Ceph, moto, ...
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": os.environ.get("AWS_S3_ENDPOINT_URL") or None,
            "region_name": os.environ.get("AWS_S3_REGION_NAME") or None,
            "access_key": os.environ.get("AWS_ACCESS_KEY_ID") or None,
            "secret_key": os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            "location": os.environ.get("AWS_LOCATION", ""),
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
        },
    }
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Uploads: requests larger than this are refused before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", 64 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
LABELSITE_MAX_IMAGE_BYTES = int(os.environ.get("LABELSITE_MAX_IMAGE_BYTES", 50 * 1024 * 1024))
# Pillow refuses images with more pixels than this (decompression bombs).
LABELSITE_MAX_IMAGE_PIXELS = int(os.environ.get("LABELSITE_MAX_IMAGE_PIXELS", 100_000_000))
# Import files (page and API) larger than this are refused with a clear error. The upload is
# spooled to a temporary file by Django (never held in memory) and moved to storage.
LABELSITE_MAX_IMPORT_BYTES = int(os.environ.get("LABELSITE_MAX_IMPORT_BYTES", 2 * 1024**3))
# Hosts or CIDRs that server-side fetches of user URLs may reach although they are not public
# (loopback, private, link-local); labelsite/netguard.py refuses every other such address.
LABELSITE_URL_ALLOWLIST = _env_list("LABELSITE_URL_ALLOWLIST", [])
# Storages that imports may read masks from by `storage_id` (Ango CSV "Import Labels"): a JSON
# object {"<storage_id>": {"BACKEND": "...", "OPTIONS": {...}, "organizations": ["<org id>" | "*"]}}.
# Only the listed organisations may name a storage; mask paths stay inside it.
LABELSITE_MASK_STORAGES = json.loads(os.environ.get("LABELSITE_MASK_STORAGES") or "{}")

# --- Celery -----------------------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: queues are files under var/broker, so that a worker process
    # runs imports on a fresh machine with no server to install.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    # A task a dead worker had taken is delivered again after this many seconds.
    # A message a worker held when Redis restarted stays in Redis's unacked set; kombu looks
    # for such messages every interval x throttle seconds (100 s by default): every 10 s here.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_BROKER_VISIBILITY_TIMEOUT", 3600)),
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
    }
# Tests and benchmarks give their workers a queue of their own.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# Jobs keep their state in the database; a task is acknowledged only once it has run, so
# that a killed worker's task is delivered again and resumes from the job's checkpoint.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)

# --- Cache ------------------------------------------------------------------------------
# It holds the counts of failed token attempts (projects/throttling.py). By default each process
# has its own memory cache (nothing to install; the limit then holds per process); when Redis is
# the broker the counts live there, shared by every process. Short timeouts: a throttle whose
# cache is gone lets requests through rather than holding them.
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CELERY_BROKER_URL,
            "KEY_PREFIX": "labelsite",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Limits on failed sign-ins and token attempts (docs/security.md) ----------------------
# Only failures count. The client address is the connection's; behind reverse proxies that
# append to X-Forwarded-For, say how many, else every client has the proxy's address.
LABELSITE_TRUSTED_PROXY_COUNT = int(os.environ.get("LABELSITE_TRUSTED_PROXY_COUNT", 0))
# Sign-in (login page and admin), by django-axes: this many failures for one account, or from one
# address, lock both out for this long (counted from the last failure), the right password included.
AXES_FAILURE_LIMIT = int(os.environ.get("LABELSITE_LOGIN_FAILURE_LIMIT", 10))
AXES_COOLOFF_TIME = timedelta(seconds=int(os.environ.get("LABELSITE_LOGIN_LOCKOUT_SECONDS", 900)))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "projects.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "projects.throttling.login_lockout_response"
# Attempts during a lockout are refused without being recorded: the lockout does not grow
# with them, nor does the attempts table under a flood.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the counts: else an attacker with an account of their own could clear
# their address's count between guesses. The counts expire with the lockout time.
AXES_RESET_ON_SUCCESS = False
# Only failures are kept; successful sign-ins are not logged to the database.
AXES_DISABLE_ACCESS_LOG = True

# --- Imports ----------------------------------------------------------------------------
# A file of more items than this is split into chunks of this many, validated and written
# by all workers in parallel.
LABELSITE_IMPORT_CHUNK_ITEMS = int(os.environ.get("LABELSITE_IMPORT_CHUNK_ITEMS", 5000))
# Labels per write batch (one COPY and one short transaction each).
LABELSITE_IMPORT_WRITE_BATCH_LABELS = int(os.environ.get("LABELSITE_IMPORT_WRITE_BATCH_LABELS", 20_000))
# A phase or chunk without a heartbeat for this long is taken over by another worker.
LABELSITE_IMPORT_STALE_SECONDS = int(os.environ.get("LABELSITE_IMPORT_STALE_SECONDS", 120))
# Imports of one organisation at the broker or running at once; the others wait in the database
# and are published as these end (organisations take turns on the one queue). At least 1.
LABELSITE_IMPORT_JOBS_PER_ORGANIZATION = max(1, int(os.environ.get("LABELSITE_IMPORT_JOBS_PER_ORGANIZATION", 2)))
# The longest line an NDJSON, CSV/TSV or TXT import reads (bytes, line break excluded); a longer
# one is refused at its line number before it is read whole.
LABELSITE_IMPORT_MAX_LINE_BYTES = int(os.environ.get("LABELSITE_IMPORT_MAX_LINE_BYTES", 10 * 1024 * 1024))

# --- REST framework ---------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested beyond 64 levels is refused before `json` recurses into it (labelsite/jsondepth.py).
    "DEFAULT_PARSER_CLASSES": [
        "labelsite.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "labelsite.api.exception_handler",
    # projects.throttling.TokenFailureThrottle: failed token attempts per client address, `N/s|min|hour|day`.
    "DEFAULT_THROTTLE_RATES": {"token_failures": os.environ.get("LABELSITE_TOKEN_FAILURE_RATE", "20/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Labelsite API",
    "DESCRIPTION": "The native REST API of Labelsite.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The documentation page's scripts are served from our own static files (the
    # drf-spectacular-sidecar package), never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The DataGym v1 facade has its own fixed contract (docs/datagym.md); the schema is ours.
    "PREPROCESSING_HOOKS": ["labelsite.api.schema_exclude_datagym_v1"],
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "MediaSourceEnum": "projects.models.MediaSource",
        "LabelSourceEnum": "labeling.models.LabelSource",
        "MediaAddStatusEnum": "projects.serializers.MEDIA_ADD_STATUSES",
        "ImportStatusEnum": "imports.models.ImportStatus",
    },
}

# --- Security ---------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _env_bool("USE_X_FORWARDED_PROTO", False) else None
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print each line a second time.
        "django": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": False},
        "django.db.backends": {"level": "WARNING"},
    },
}
