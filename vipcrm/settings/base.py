"""Settings shared by every environment; everything variable comes from the environment."""
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VIPCRM_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
# A local .env is optional; the environment always wins over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-insecure-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# The site's address (https://crm.example.com) before the links in e-mails; unset: the first trusted origin.
VIPCRM_SITE_URL = env.str("VIPCRM_SITE_URL", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files for /api/v1/docs/ (no CDN)
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    # Login throttling and lockout (failed attempts in the database: shared by every process).
    "axes",
    "vipcrm.apps.VipcrmConfig",
    "accounts",
    "members",
    "visits",
    "complaints",
    "campaigns",
    "reports",
    "duties",
]

MIDDLEWARE = [
    # /healthz for load balancers, answered before the HTTPS redirect, host check, sessions and login.
    "vipcrm.health.HealthCheckMiddleware",
    # The proxy's X-Request-ID on every log line of the request (vipcrm/logging.py).
    "vipcrm.logging.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A NUL byte or another control character anywhere in the query string is a 400.
    "vipcrm.security.QueryCheckMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "vipcrm.security.SessionIdleTimeoutMiddleware",
    "vipcrm.security.NoStoreMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Every page needs a login unless its view is marked public (login itself).
    "vipcrm.security.LoginRequiredMiddleware",  # Django's, except for the API (it answers 401 itself)
    "vipcrm.security.MustChangePasswordMiddleware",
    # Last, as django-axes asks: turns a lockout into the lockout page (429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "vipcrm.urls"
WSGI_APPLICATION = "vipcrm.wsgi.application"

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
                "django.template.context_processors.i18n",
                "accounts.context_processors.notifications",
            ],
        },
    },
]

# SQLite under var/ unless DATABASE_URL points at PostgreSQL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'vipcrm.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite does not create the folder its file lives in (var/ is not in the repository).
    if DATABASES["default"]["NAME"] != ":memory:":
        Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one file: wait for locks rather than failing at once.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DJANGO_CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # PostgreSQL's JIT compiles big plans: 200+ ms of a dashboard's 400 ms query went to compiling
    # (issue 14). Pages and duties are short statements run often; compiling them never pays off.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.Staff"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# django-axes first: it refuses a locked-out username+address before ModelBackend checks the
# password (so a locked-out guess costs no hashing), and it sees every authenticate() call: the
# login page, the admin's login and the API's Basic authentication alike.
AUTHENTICATION_BACKENDS = [
    "vipcrm.security.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("VIPCRM_LOGIN_FAILURE_LIMIT", default=5)
# Hours (a float): 15 minutes by default, from the failure that locked. Attempts during the lockout
# are refused without hashing and do not extend it (a person retrying is not locked out for good).
AXES_COOLOFF_TIME = env.float("VIPCRM_LOGIN_COOLOFF_MINUTES", default=15) / 60
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The username and the address together: a colleague's typos on the shop's shared address lock
# nobody else out, and a guesser cannot lock a person out from another address.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# The client's address behind VIPCRM_TRUSTED_PROXY_COUNT reverse proxies (X-Forwarded-For); 0 here
# (runserver, `make run`), 1 in production (which sits behind an HTTPS proxy).
VIPCRM_TRUSTED_PROXY_COUNT = env.int("VIPCRM_TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "vipcrm.security.client_ip"
# And any username from one address: refused once the address has this many failures in the cool-off
# period (vipcrm.security.LockoutBackend), so that guessing over many usernames is cut off too.
VIPCRM_LOGIN_ADDRESS_FAILURE_LIMIT = env.int("VIPCRM_LOGIN_ADDRESS_FAILURE_LIMIT", default=30)
# The database handler: every web process sees the same counts on any database and cache, and HQ
# can see and clear lockouts in the admin (django-axes' cache handler would need Redis as the cache).
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# Never log a password or the username someone typed into the Django log.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "password"]

# Sessions (DOMAIN §11, shop devices are shared): signed out after VIPCRM_SESSION_IDLE_MINUTES
# without a request (vipcrm.security.SessionIdleTimeoutMiddleware; the cookie and the stored session
# expire then too), and the cookie ends when the browser closes.
VIPCRM_SESSION_IDLE_MINUTES = env.int("VIPCRM_SESSION_IDLE_MINUTES", default=30)
# The stored session outlives the idle limit by 5 minutes, so that the middleware (which says why)
# is what signs a person out; past that the session is gone whatever happens.
SESSION_COOKIE_AGE = (VIPCRM_SESSION_IDLE_MINUTES + 5) * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("VIPCRM_SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
# Longest query value (vipcrm.params): a search box takes 50 characters, a filter far less.
VIPCRM_MAX_QUERY_VALUE_LENGTH = 500

# Content-Security-Policy (django-csp): scripts only from our own static files, so an injected
# <script> or onclick= does not run; data: images for Bootstrap's inline SVG icons. Styles allow
# 'unsafe-inline' for the style="" attributes that carry a computed width or grid column (progress
# bars, the campaign calendar) and the campaign pages' <style> block; no script needs it.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("简体中文")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("VIPCRM_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MEDIA_ROOT = VAR_DIR / "media"

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

EMAIL_BACKEND = env.str("DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="vipcrm@localhost")
# Seconds for each SMTP call: a mail server that hangs must not hold an outbox email in "sending"
# past duties.services.SENDING_TIMEOUT, after which it is retried.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=30)

REST_FRAMEWORK = {
    # Basic first: an unauthenticated call is answered 401 with `WWW-Authenticate: Basic` (DRF
    # takes the header from the first class; SessionAuthentication has none, which gave a 403).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "vipcrm.drf.BasicAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        # A POS key (accounts.api_keys) signs in a till, not a person: every endpoint but the POS
        # ones refuses it with 403 (IsPosKey / the staff-only permissions).
        "accounts.api_keys.ApiKeyAuthentication",
    ],
    # JSON with a nesting limit (a deeply nested body is a 400, not a RecursionError); forms as DRF has them.
    "DEFAULT_PARSER_CLASSES": [
        "vipcrm.drf.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # One error format: {"errors": [{"field", "code", "message"}], "detail"} (vipcrm/api/errors.py).
    "EXCEPTION_HANDLER": "vipcrm.api.errors.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Per signed-in person (and per address before signing in), counted in the cache.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("VIPCRM_API_RATE_USER", default="600/minute"),
        "anon": env.str("VIPCRM_API_RATE_ANON", default="60/minute"),
        # Per POS key (accounts.api_keys.PosKeyThrottle): a store's tills share their key.
        "pos_key": env.str("VIPCRM_API_RATE_POS_KEY", default="120/minute"),
    },
}

# The OpenAPI schema at /api/v1/schema/ and Swagger UI at /api/v1/docs/, from vendored files.
SPECTACULAR_SETTINGS = {
    "TITLE": "VIP CRM API",
    "DESCRIPTION": (
        "Members, purchases and reports of the VIP CRM. Basic or session authentication; every "
        "object is scoped to the caller's store (another store's object is a 404). Errors: "
        '{"errors": [{"field", "code", "message"}], "detail"}.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No validator badge: it would load an image from another site (CSP img-src 'self').
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets that share a field name (status, kind, result) get a name of their own each.
    "ENUM_NAME_OVERRIDES": {
        "TaskKindEnum": "visits.models.TaskKind",
        "TaskStatusEnum": "visits.models.TaskStatus",
        "VisitResultEnum": "visits.models.VisitResult",
        "NotReachedResultEnum": "visits.api.NOT_REACHED_RESULTS",
        "InvitationStatusEnum": "visits.models.InvitationStatus",
        "ComplaintStatusEnum": "complaints.models.Status",
        "ComplaintChannelEnum": "complaints.models.ComplaintChannel",
        "CampaignStatusEnum": "campaigns.models.CampaignStatus",
        "GiftStatusEnum": "visits.models.GiftStatus",
        "VisitChannelEnum": "visits.models.Channel",  # a complaint's `channel` has other values
    },
}

# Celery: Redis when CELERY_BROKER_URL is set; otherwise kombu's filesystem transport under var/,
# which lets a worker and beat in separate processes talk without any server installed.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "store_processed": False,
        # Fanout tables (remote control, events); kombu's default is a folder relative to the cwd.
        "control_folder": str(VAR_DIR / "celery-control"),
    }
    # kombu does not create its folders, and the web process may queue a task before any worker
    # has started: create them wherever these settings are loaded.
    for _folder in (_queue_dir, VAR_DIR / "celery-processed", VAR_DIR / "celery-control"):
        _folder.mkdir(parents=True, exist_ok=True)
else:
    # Longer than the longest task (CELERY_TASK_TIME_LIMIT), so that Redis never hands an unacked
    # duty to a second worker while the first is still running it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 2 * 60 * 60}
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TIMEZONE = TIME_ZONE
CELERY_ENABLE_UTC = True
# Duties must be neither lost nor doubled: ack after the work, requeue if the worker dies,
# and the duties themselves are idempotent per store and date.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 50 * 60
CELERY_TASK_TIME_LIMIT = 60 * 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# DJANGO_LOG_FORMAT=json: one JSON object per line (vipcrm/logging.py), for Django, the Celery worker
# and beat alike; human-readable lines otherwise.
DJANGO_LOG_FORMAT = env.str("DJANGO_LOG_FORMAT", default="plain").strip().lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "vipcrm.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if DJANGO_LOG_FORMAT == "json" else "plain"}
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}
if DJANGO_LOG_FORMAT == "json":
    # runserver's request lines too (Django gives them a handler and format of their own).
    LOGGING["loggers"] = {"django.server": {"handlers": ["console"], "level": "INFO", "propagate": False}}

# /healthz (vipcrm/health.py): the deadline for all its checks together, in seconds, and the age past
# which the worker's heartbeat (written every VIPCRM_HEARTBEAT_SECONDS, 60) counts as stale.
VIPCRM_HEALTH_TIMEOUT = env.float("VIPCRM_HEALTH_TIMEOUT", default=1.5)
VIPCRM_HEALTH_HEARTBEAT_MAX_AGE = env.int("VIPCRM_HEALTH_HEARTBEAT_MAX_AGE", default=300)

# Error reporting (vipcrm/sentry.py), only when SENTRY_DSN is set: Django and Celery, no personal data.
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from vipcrm.sentry import sentry_init

    sentry_init(
        SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        release=env.str("SENTRY_RELEASE", default=""),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )

# Import uploads: a 25,000-row XLSX is a few MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 30 * 1024 * 1024
# Import limits (members/imports.py): the upload's size, the rows read (blank rows count too) and
# what an XLSX may unpack to (its zip directory is checked before the workbook is opened).
IMPORT_MAX_BYTES = env.int("VIPCRM_IMPORT_MAX_BYTES", default=20 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("VIPCRM_IMPORT_MAX_ROWS", default=200_000)
IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES = env.int("VIPCRM_IMPORT_XLSX_MAX_UNCOMPRESSED_BYTES", default=200 * 1024 * 1024)
IMPORT_XLSX_MAX_RATIO = env.int("VIPCRM_IMPORT_XLSX_MAX_RATIO", default=100)

# A file cache by default so that web, worker and beat share it; Redis in production (CACHE_URL).
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}
# HQ's chain view serves its kept figures as they are for this long, then serves them and
# refreshes them in the background (reports/chain.py, "The figures cache").
VIPCRM_CHAIN_FRESH_SECONDS = env.int("VIPCRM_CHAIN_FRESH_SECONDS", default=600)
