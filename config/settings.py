"""Settings, read from the environment (see README: "Configuration").

With nothing set the platform runs on embedded defaults: a SQLite file under var/ and an embedded
Redis it starts itself. Production sets DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and
DEBUG=false.
"""

from pathlib import Path

import environ

from config.embedded_redis import embedded_redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="insecure-development-key-change-me-" + "x" * 30)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

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
    "channels",
    # Layered, imports only downward (docs/architecture.md; the import-linter contract in pyproject.toml):
    "core",  # errors, pushes on commit, the audit log, rate limits
    "agents",  # people: accounts, agents, skills, presence, capacity, shifts
    "tickets",  # escalations, the lifecycle, holding, messages, the webhook outbox
    "payouts",  # rate cards, pay, the ledger, floors, guarantees, payout batches
    "dispatch",  # the engine: policy, eligibility, ranking, surge, offers
    "actions",  # verbs that span apps (resolve, requeue, suspend, ...)
    "api",  # the REST API
    "accounts",  # sign-in, each role's home, the algorithm notice
    "console",  # the agent's console and socket
    "supervisor",  # the supervisor's console and socket
    "finance",  # finance's pages
    "ops",  # health, demo data, the load simulator's command, the process runner
]

MIDDLEWARE = [
    "core.middleware.RequestMetricsMiddleware",
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "core.middleware.RequestBodyLimitMiddleware",
    "core.middleware.NulCharactersRefusedMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.AgentDisplayPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
AUTH_USER_MODEL = "agents.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
VAR_DIR.mkdir(exist_ok=True)
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE transactions take the write lock up front, so two writers queue instead of one of
    # them failing with "database is locked" when it upgrades a read lock mid-transaction.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 30}
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
else:
    # JIT compilation pays off for long analytical queries; ours are short, and PostgreSQL's cost
    # estimate for the exclusion count would otherwise spend more time compiling than counting.
    DATABASES["default"]["OPTIONS"] = {"options": "-c jit=off"}
    if env.bool("DB_POOL", default=True):
        # A connection pool per process. Persistent per-thread connections do not suit ASGI: every
        # thread of the sync executor would keep its own, and a few hundred websockets exhaust the server.
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": 1,
            "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
            "timeout": 20,
        }
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache ---------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="") or embedded_redis_url(
    var_dir=VAR_DIR, port=env.int("EMBEDDED_REDIS_PORT", default=6390)
)

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 30},
    }
}

CACHES = {
    "default": {
        "BACKEND": "config.cache.SharedPoolRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dispatch",
    }
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
CELERY_RESULT_EXPIRES = 3600
# Nobody waits for a task's return value (the database holds what tasks did); storing one made every
# publish subscribe to its result channel in Redis. Tasks that are waited for say ignore_result=False.
CELERY_TASK_IGNORE_RESULT = True
# Celery closes every database connection (and the connection pool) around each task unless told to
# reuse them; config.celery checks them around each task instead, as Django does around a request.
# Celery still starts afresh every this many tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this long; keep it above the longest countdown.
# The queues are read in priority order: offers and their expiry never wait behind sweeps, webhooks
# or pay. Workers consume both: `celery -A config worker -Q dispatch,celery`.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "queue_order_strategy": "priority"}
CELERY_TASK_ROUTES = {
    "dispatch.tasks.dispatch_ticket_task": {"queue": "dispatch"},
    "dispatch.tasks.offer_expire_task": {"queue": "dispatch"},
    "dispatch.tasks.offers_expire_task": {"queue": "dispatch"},
}
CELERY_TIMEZONE = "UTC"
WEBHOOK_RETRY_BASE_SECONDS = env.int("WEBHOOK_RETRY_BASE_SECONDS", default=10)
# Each web process marks the agent sockets it holds alive this often (agents.presence).
PRESENCE_HEARTBEAT_SECONDS = env.int("PRESENCE_HEARTBEAT_SECONDS", default=15)
CELERY_BEAT_SCHEDULE = {
    "dispatch-sweep": {"task": "dispatch.tasks.dispatch_sweep_task", "schedule": 2.0},
    "presence-sweep": {"task": "dispatch.tasks.presence_sweep_task", "schedule": 5.0},
    "webhook-sweep": {"task": "tickets.tasks.webhook_sweep_task", "schedule": 3.0},
    # Pays finished tickets whose pay task was lost; closes the weekly earnings floor once the week is over.
    "ticket-pay-sweep": {"task": "payouts.tasks.ticket_pay_sweep_task", "schedule": 15.0},
    "earnings-floor-close": {"task": "payouts.tasks.earnings_floor_close_task", "schedule": 3600.0},
    # Pays the hourly guarantee of booked shifts that have ended.
    "shift-guarantee-close": {
        "task": "payouts.tasks.shift_guarantee_close_task",
        "schedule": env.float("SHIFT_GUARANTEE_CLOSE_SECONDS", default=300.0),
    },
    # Deletes or anonymises what is past the retention periods the algorithm notice states (actions.retention).
    # Daily would do; hourly, each run time-boxed, also works off a backlog without a long transaction.
    "retention": {"task": "actions.tasks.retention_enforce_task", "schedule": 3600.0},
    # Ends wrap-ups whose timer task was lost (the timer itself is a countdown task per wrap-up).
    "wrap-up-sweep": {"task": "actions.tasks.wrap_up_sweep_task", "schedule": 5.0},
}

# --- Auth, i18n, static ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 4}},
]
if env.bool("FAST_PASSWORD_HASHER", default=False):
    # For the test suite only: PBKDF2 costs over a second per hash on a small machine.
    PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("sv", "Svenska")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agents.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_PARSER_CLASSES": ["core.rest.JSONParserRefusingNul"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Dispatch platform API",
    "DESCRIPTION": "Escalation intake from the bot platform, offers and work for agents, the supervisor's tools, "
    "pay and payout batches. Bearer tokens from POST /api/v1/auth/token/ (people) or an integration's token.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: the docs work on a machine without internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # A conversation's outcome (contained/escalated/abandoned) is not a ticket's (solved/not_solved).
    "ENUM_NAME_OVERRIDES": {"ConversationOutcomeEnum": "tickets.models.ConversationOutcome"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.rest.error_responses_document",
    ],
}

# The platform's own bank account, debited by SEPA payout files. No default: until all three are set
# (and valid) the SEPA export is refused with a 409 naming what is missing. `make run` sets a demo one.
PAYOUT_DEBTOR = {
    key: value
    for key, value in {
        "name": env.str("PAYOUT_DEBTOR_NAME", default=""),
        "IBAN": env.str("PAYOUT_DEBTOR_IBAN", default=""),
        "BIC": env.str("PAYOUT_DEBTOR_BIC", default=""),
    }.items()
    if value
}
# Requests per client address (login page, token endpoint) or per integration (intake), counted in
# Redis across all processes; over the limit -> 429 with Retry-After. Written "<count>/<period>".
# Intake is generous: a bot platform replays bursts after an outage of its own.
RATE_LIMITS = {
    "login": env.str("RATE_LIMIT_LOGIN", default="30/min"),
    "token": env.str("RATE_LIMIT_TOKEN", default="30/min"),
    # 100 escalations a second from one bot platform: far above a busy day, well below a retry storm.
    "intake": env.str("RATE_LIMIT_INTAKE", default="6000/min"),
}
# Per username, on the login page and the token endpoint together: this many wrong passwords within
# the window lock the account for LOGIN_LOCKOUT_SECONDS, the right password included.
LOGIN_LOCKOUT_FAILURES = env.int("LOGIN_LOCKOUT_FAILURES", default=5)
LOGIN_LOCKOUT_WINDOW_SECONDS = env.int("LOGIN_LOCKOUT_WINDOW_SECONDS", default=15 * 60)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)

# --- Operations (README: "Production") -------------------------------------------------------------
# GET /metrics wants `Authorization: Bearer <METRICS_TOKEN>` when set; without it only 127.0.0.1 may read it.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Every process of a host writes its metrics here (prometheus-client's multiprocess mode); the directory
# is emptied when the host's processes start (ops.runplatform, deploy/README.md), never while they run.
if env.str("PROMETHEUS_MULTIPROC_DIR", default=""):
    Path(env.str("PROMETHEUS_MULTIPROC_DIR")).mkdir(parents=True, exist_ok=True)

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo")
DEMO_WEBHOOK_URL = env.str("DEMO_WEBHOOK_URL", default="")
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# --- Security in production -----------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Probes and the metrics scraper talk to each process directly, in plain HTTP, inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])

# Every record passes the IBAN filter on its way out (message, arguments and traceback), whoever logged
# it. Django's own loggers hand their records to the root handler instead of Django's default ones, so
# there is no second, unfiltered way out.
# LOG_FORMAT=json: one JSON object a line, with the request, task, ticket, offer or agent id it concerns
# (core.log_context); uvicorn's and Celery's own lines go the same way out.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "core.log_context.JsonFormatter"},
    },
    "filters": {"redact_ibans": {"()": "core.log_redaction.IbanRedactingFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
            "filters": ["redact_ibans"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        "django.channels.server": {"level": "WARNING"},
    },
}
if LOG_FORMAT == "json":
    # uvicorn configured its loggers with handlers of its own before Django started: hand them to the root.
    for _name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        LOGGING["loggers"][_name] = {"handlers": [], "propagate": True}
    # Celery would put its own plain handler on the root logger.
    CELERY_WORKER_HIJACK_ROOT_LOGGER = False
    # Python's warnings become log lines (JSON) too; those raised before Django starts (importing uvicorn)
    # are silenced in production with PYTHONWARNINGS=ignore::DeprecationWarning (deploy/README.md).
    LOGGING["loggers"]["py.warnings"] = {"handlers": [], "propagate": True}
    import logging as _logging

    _logging.captureWarnings(True)
