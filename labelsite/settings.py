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
    "assist",
    "ml",
    "datagym_v1",
    "demo",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "labelsite.middleware.CollapseSlashesMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # the Content-Security-Policy header (CONTENT_SECURITY_POLICY below)
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
                "projects.context_processors.navigation",
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
#: KiB of page cache per SQLite connection (docs/benchmarks.md, "The embedded default").
SQLITE_CACHE_KIB = int(os.environ.get("DATABASE_SQLITE_CACHE_KIB", 32_768))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets a reader and a writer work at once; the busy timeout makes a second writer
    # wait for the lock instead of failing with "database is locked"; IMMEDIATE takes the
    # write lock at BEGIN so that a transaction never has to upgrade its lock half way.
    # DATABASE_BUSY_TIMEOUT_MS (default 30 s) is how long a writer waits before it fails.
    # synchronous=NORMAL: a commit survives a crash of the process (the last ones may not
    # survive a power loss); never OFF. SQLite's default cache (2 MiB) is smaller than the
    # label table's indexes after a few thousand images: a write batch of 20,000 labels then
    # spilled dirty index pages into the log before its commit and wrote them again at it.
    # The cache is filled only as pages are read, and freed with the connection.
    _busy_ms = int(os.environ.get("DATABASE_BUSY_TIMEOUT_MS", "30000"))
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": _busy_ms / 1000,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            f"PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout={_busy_ms}; "
            f"PRAGMA cache_size=-{SQLITE_CACHE_KIB};"
        ),
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

# --- E-mail (password reset links) -------------------------------------------------------
# Development prints mails on the console; production sends them by SMTP, configured here.
# A mail that cannot be sent is logged; the reset page answers the same (it tells nobody
# whether an account has the address).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND") or (
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _env_bool("EMAIL_USE_TLS", False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = _env_bool("EMAIL_USE_SSL", False)  # implicit TLS, usually port 465
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", 10))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "labelsite@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Static and uploaded files ----------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))

AWS_STORAGE_BUCKET_NAME = os.environ.get("AWS_STORAGE_BUCKET_NAME", "")
# Any S3-compatible server: AWS_S3_ENDPOINT_URL points at MinIO, Ceph, moto, ... (also the
# default endpoint and region of LABELSITE_S3_SOURCES below).
AWS_S3_ENDPOINT_URL = os.environ.get("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = os.environ.get("AWS_S3_REGION_NAME") or None
if AWS_STORAGE_BUCKET_NAME:
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
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
# Files one multipart request may carry (Django refuses more); with LABELSITE_MAX_IMAGE_BYTES it
# bounds what a many-file upload may declare (labelsite/uploads.py).
DATA_UPLOAD_MAX_NUMBER_FILES = int(os.environ.get("DATA_UPLOAD_MAX_NUMBER_FILES", 100))
# Uploaded files larger than these are refused: by the declared size before the body is read,
# else as they stream (labelsite/uploads.py); an upload is never held whole in memory.
LABELSITE_MAX_IMAGE_BYTES = int(os.environ.get("LABELSITE_MAX_IMAGE_BYTES", 50 * 1024 * 1024))
# Pillow refuses images with more pixels than this (decompression bombs).
LABELSITE_MAX_IMAGE_PIXELS = int(os.environ.get("LABELSITE_MAX_IMAGE_PIXELS", 100_000_000))
# Import files (page and API) larger than this are refused with a clear error. The upload is
# spooled to a temporary file by Django (never held in memory) and moved to storage.
LABELSITE_MAX_IMPORT_BYTES = int(os.environ.get("LABELSITE_MAX_IMPORT_BYTES", 2 * 1024**3))
# A DataGym v1 prediction import (POST /api/v1/project/{id}/prediction) up to this many bytes is
# imported in the request (about 2 s for 2 MiB of small labels on 2 cores); a larger body is
# streamed to storage and imported by a worker as an import job, the answer naming the job.
LABELSITE_V1_INLINE_MAX_BYTES = int(os.environ.get("LABELSITE_V1_INLINE_MAX_BYTES", 2 * 1024**2))
# The address users reach the site at (`https://labels.example.com`, behind any proxy): the base
# of the image URLs that exports write (projects/media_urls.py). Empty: the address of the request
# that started the export.
LABELSITE_PUBLIC_URL = os.environ.get("LABELSITE_PUBLIC_URL", "").strip().rstrip("/")
# Hosts or CIDRs that server-side fetches of user URLs may reach although they are not public
# (loopback, private, link-local); labelsite/netguard.py refuses every other such address.
LABELSITE_URL_ALLOWLIST = _env_list("LABELSITE_URL_ALLOWLIST", [])
# Model servers (ml/, Label Studio's ML backend protocol): hosts or CIDRs of internal model hosts that
# a project admin may connect although they are not public (e.g. `10.0.0.0/8`, `models.internal`,
# `127.0.0.1` on one machine); every other URL passes labelsite/netguard.py's public-address check.
# This list alone decides for model servers (LABELSITE_URL_ALLOWLIST is for media URLs).
LABELSITE_ML_HOST_ALLOWLIST = _env_list("LABELSITE_ML_HOST_ALLOWLIST", [])
# Seconds a model server may take to answer one /predict batch (Label Studio: 100), and the
# other calls (/health, /setup; Label Studio: 1 and 3).
LABELSITE_ML_PREDICT_TIMEOUT_SECONDS = float(os.environ.get("LABELSITE_ML_PREDICT_TIMEOUT_SECONDS", 100))
LABELSITE_ML_CALL_TIMEOUT_SECONDS = float(os.environ.get("LABELSITE_ML_CALL_TIMEOUT_SECONDS", 10))
# The worker's probe of new media (projects/media_probe.py): the largest image it fetches (bytes)
# and the deadline of one fetch (seconds), through the same guard and allow-list.
LABELSITE_MEDIA_PROBE_MAX_BYTES = int(os.environ.get("LABELSITE_MEDIA_PROBE_MAX_BYTES", 50 * 1024 * 1024))
LABELSITE_MEDIA_PROBE_TIMEOUT_SECONDS = float(os.environ.get("LABELSITE_MEDIA_PROBE_TIMEOUT_SECONDS", 15))
# Off: the server never fetches URL media (an operator who wants no outbound fetches; the tests,
# which must not reach the internet); they are recorded as not read, and exports that need their
# size leave their regions out.
LABELSITE_MEDIA_PROBE_URLS = _env_bool("LABELSITE_MEDIA_PROBE_URLS", True)
# Storages that imports may read masks from by `storage_id` (Ango CSV "Import Labels"): a JSON
# object {"<storage_id>": {"BACKEND": "...", "OPTIONS": {...}, "organizations": ["<org id>" | "*"]}}.
# Only the listed organisations may name a storage; mask paths stay inside it.
LABELSITE_MASK_STORAGES = json.loads(os.environ.get("LABELSITE_MASK_STORAGES") or "{}")
# The S3 buckets and prefixes each organisation may add media from by key (their images are
# shown through URLs signed with the server's credentials): a JSON object
# {"<name>": {"bucket": "...", "prefix": "...", "endpoint_url"?: "...", "region_name"?: "...",
#             "organizations": ["<org id>" | "*"]}}. Empty: no S3 media. The app's own storage
# is never a source, even if named here (projects/s3_sources.py).
LABELSITE_S3_SOURCES = json.loads(os.environ.get("LABELSITE_S3_SOURCES") or "{}")

# --- Celery -----------------------------------------------------------------------------
_broker_dir = VAR_DIR / "broker"
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker: queues are files under var/broker, so that a worker process
    # runs imports on a fresh machine with no server to install.
    # kombu's transport with messages that appear whole: labelsite/celery.py maps the scheme
    # to labelsite/broker_filesystem.py.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Seconds the worker sleeps when it found no message (kombu's default is 1 s, which
        # cost a small import ~1 s per step: validate, then write). A poll lists one small
        # folder, so 20 a second cost an idle worker well under 1 % of a core.
        "polling_interval": float(os.environ.get("LABELSITE_BROKER_POLLING_INTERVAL", 0.05)),
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
# No start-up banner on stdout: it would precede the output of every management command.
AXES_VERBOSE = False

# --- Imports ----------------------------------------------------------------------------
# A file of more items than this is split into chunks of this many, validated and written
# by all workers in parallel.
LABELSITE_IMPORT_CHUNK_ITEMS = int(os.environ.get("LABELSITE_IMPORT_CHUNK_ITEMS", 5000))
# Labels per write batch (one COPY and one short transaction each).
LABELSITE_IMPORT_WRITE_BATCH_LABELS = int(os.environ.get("LABELSITE_IMPORT_WRITE_BATCH_LABELS", 20_000))
# PostgreSQL: a job that writes when valid has its chunks copied into the label table while the
# rest of the file is validated, in a transaction committed only once the whole job is valid
# (imports/prewrite.py); 0 writes them after validation instead; "auto" (the default) does it
# unless the worker runs niced (below the web server's priority: the copy runs in PostgreSQL,
# which the nice does not reach, and would take the core the nice leaves to the web).
LABELSITE_IMPORT_PREWRITE = os.environ.get("LABELSITE_IMPORT_PREWRITE", "auto").strip().lower()
# A phase or chunk without a heartbeat for this long is taken over by another worker.
LABELSITE_IMPORT_STALE_SECONDS = int(os.environ.get("LABELSITE_IMPORT_STALE_SECONDS", 120))
# Imports of one organisation at the broker or running at once; the others wait in the database
# and are published as these end (organisations take turns on the one queue). At least 1.
LABELSITE_IMPORT_JOBS_PER_ORGANIZATION = max(1, int(os.environ.get("LABELSITE_IMPORT_JOBS_PER_ORGANIZATION", 2)))
# The longest line an NDJSON, CSV/TSV or TXT import reads (bytes, line break excluded); a longer
# one is refused at its line number before it is read whole.
LABELSITE_IMPORT_MAX_LINE_BYTES = int(os.environ.get("LABELSITE_IMPORT_MAX_LINE_BYTES", 10 * 1024 * 1024))

# --- Labeling ---------------------------------------------------------------------------
# How long opening a task reserves it for its user (seconds); the open page renews it (a heartbeat
# about every minute) and so does each save. An expired reservation frees the task.
LABELSITE_TASK_LEASE_SECONDS = max(30, int(os.environ.get("LABELSITE_TASK_LEASE_SECONDS", 15 * 60)))

# --- Assisted segmentation (assist/) ------------------------------------------------------
# GrabCut, magic wand and scissors run in the web process, at most this many at once on one
# machine (all processes together, counted with lock files under LABELSITE_VAR_DIR); each takes
# about one core for a tenth of a second. Half the cores by default, so pages stay quick.
LABELSITE_ASSIST_CONCURRENCY = max(1, int(os.environ.get("LABELSITE_ASSIST_CONCURRENCY", (os.cpu_count() or 2) // 2)))
# Requests that may wait for one of those slots (besides the running ones), and how long (seconds);
# beyond either the API answers 429 with Retry-After.
LABELSITE_ASSIST_QUEUE = max(0, int(os.environ.get("LABELSITE_ASSIST_QUEUE", 4)))
LABELSITE_ASSIST_WAIT_SECONDS = float(os.environ.get("LABELSITE_ASSIST_WAIT_SECONDS", 2))
# Decoded images each web process keeps for the next click on the same image (bytes, LRU).
LABELSITE_ASSIST_CACHE_BYTES = int(os.environ.get("LABELSITE_ASSIST_CACHE_BYTES", 256 * 1024 * 1024))
# Images with more pixels are refused by the assist tools (a decoded pixel takes 3 bytes).
LABELSITE_ASSIST_MAX_PIXELS = int(os.environ.get("LABELSITE_ASSIST_MAX_PIXELS", 40_000_000))

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
        # Export and task bulk jobs share these four states.
        "JobStatusEnum": "labeling.models.TaskBulkStatus",
        "TaskStateEnum": "labeling.models.TaskState",
        "AssistGeometryEnum": "assist.serializers.ASSIST_GEOMETRIES",
        "AssistScissorsGeometryEnum": "assist.serializers.SCISSORS_GEOMETRIES",
        "MlJobStatusEnum": "ml.models.JobStatus",
        "MlBackendStateEnum": "ml.models.BackendState",
    },
}

# --- Security ---------------------------------------------------------------------------
# Production (DEBUG off) is HTTPS by default: Secure cookies and HSTS. To serve plain HTTP (a
# trial on a private network), set SECURE_COOKIES=0 and SECURE_HSTS_SECONDS=0 (README).
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (and strips a client's own).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _env_bool("USE_X_FORWARDED_PROTO", False) else None
# Redirect http to https only when asked: behind a proxy Django sees https only with USE_X_FORWARDED_PROTO.
SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = _env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Sent on HTTPS answers only; browsers then refuse plain HTTP to the host for this long.
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 0 if DEBUG else 365 * 24 * 3600))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading puts the whole domain into the browsers' built-in HTTPS lists, a decision for the
# domain's owner: off unless asked, and `check --deploy`'s reminder of it (W021) is silenced then.
SECURE_HSTS_PRELOAD = _env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

# Content-Security-Policy (django-csp): scripts and styles from our own origin only, no inline
# script or style (pages pass data with json_script, scripts add listeners). Images may also come
# from where URL media and S3 media live, which the browser is redirected to: by default any
# http(s) origin; LABELSITE_CSP_IMG_SRC narrows that to the image hosts in use.
_CSP_IMG_SRC = _env_list("LABELSITE_CSP_IMG_SRC", ["https:", "http:"])
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", *_CSP_IMG_SRC],
        "connect-src": ["'self'"],
        "font-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # The DataGym client sends its token as `?token=`: no handler writes its value.
    "filters": {"redact_tokens": {"()": "labelsite.log_redaction.TokenRedactingFilter"}},
    "formatters": {
        # Django's own, for runserver's request lines.
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_tokens"]},
        "django.server": {"class": "logging.StreamHandler", "formatter": "django.server", "filters": ["redact_tokens"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's own console handler would print each line a second time.
        "django": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO"), "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        # runserver's request lines (with their query strings): Django's handler, with the filter.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
}
