"""Settings for the privacy-request portal, read from the environment.

Local development needs no configuration: SQLite and the ORM broker live in
``data/`` and keys are generated once into git-ignored files there. Production
(``DJANGO_ENV=production``) refuses to start without its secrets.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
IS_PRODUCTION = DJANGO_ENV == "production"
DATA_DIR = Path(env.str("DATA_DIR", default=str(BASE_DIR / "data")))


def _private_dir(path: Path) -> None:
    """Create ``path`` if missing; a folder we create is readable by its owner only."""
    if not path.exists():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)


def _local_secret(name: str, make) -> str:
    """Read a development secret from data/, generating it the first time."""
    _private_dir(DATA_DIR)
    path = DATA_DIR / name
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _required(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set when DJANGO_ENV=production.")
    return value


if not IS_PRODUCTION:
    _private_dir(DATA_DIR)  # keys, the SQLite database and media live here

if IS_PRODUCTION:
    SECRET_KEY = _required("SECRET_KEY")
    _field_keys = _required("FIELD_ENCRYPTION_KEY")
    ALLOWED_HOSTS = [h.strip() for h in _required("ALLOWED_HOSTS").split(",") if h.strip()]
else:
    import secrets

    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret(
        "secret_key", lambda: secrets.token_urlsafe(50)
    )
    _field_keys = env.str("FIELD_ENCRYPTION_KEY", default="") or _local_secret(
        "field_encryption.key", lambda: Fernet.generate_key().decode()
    )
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])

# Several comma-separated Fernet keys allow rotation: the first encrypts, all decrypt.
FIELD_ENCRYPTION_KEY = [k.strip() for k in _field_keys.split(",") if k.strip()]
if SECRET_KEY in FIELD_ENCRYPTION_KEY:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must differ from SECRET_KEY.")

DEBUG = env.bool("DJANGO_DEBUG", default=not IS_PRODUCTION)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "django_q",
    "csp",
    "encrypted_model_fields",
    "portal",
    "connectors",
    "requests_app",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "portal.middleware.StaffMFAMiddleware",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"
AUTH_USER_MODEL = "portal.User"

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
                "csp.context_processors.nonce",
                "portal.context_processors.portal",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web server and the worker share the file.
    # IMMEDIATE transactions take SQLite's write lock up front, so the token refresh
    # transaction serialises workers here as select_for_update does on PostgreSQL.
    # Its folder is created owner-only; portal/private_files.py makes the files 0600.
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        _private_dir(Path(DATABASES["default"]["NAME"]).parent)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="dsar"),
        }
    }
else:
    # A database cache is shared by the web server and the worker, so login
    # throttling and the provider rate-limit budget hold across processes. It
    # never evicts a live key (Django's own culls counters once MAX_ENTRIES is
    # reached); see portal/cache.py.
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.NonCullingDatabaseCache",
            "LOCATION": "portal_cache",
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "staticfiles")))
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(DATA_DIR / "media")))
if not IS_PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Email -------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="privacy@example.com")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Sign-in (allauth) ---------------------------------------------------------
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_ADAPTER = "portal.adapters.StaffAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_RATE_LIMITS = {
    "login_failed": env.str("LOGIN_FAILED_RATE_LIMIT", default="5/5m/ip,5/5m/key"),
    "login": "30/m/ip",
    "reset_password": "5/m/ip,3/m/key",
    "reauthenticate": "10/m/user",
}
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
# Staff cannot add addresses: the one an administrator entered is their only one,
# verified and primary (portal/staff_emails.py).
ACCOUNT_MAX_EMAIL_ADDRESSES = 1
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
# Encrypts TOTP and recovery-code seeds with FIELD_ENCRYPTION_KEY.
MFA_ADAPTER = "portal.adapters.StaffMFAAdapter"
# allauth refuses TOTP while any address is unverified, against someone signing up
# with another person's address first. Sign-up is closed here (accounts come from
# administrators), so a stale unverified address must not block enrolment.
MFA_ALLOW_UNVERIFIED_EMAIL = True
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="DSAR Portal")
# Staff must enrol in TOTP before they can use the portal.
PORTAL_REQUIRE_MFA = env.bool("PORTAL_REQUIRE_MFA", default=IS_PRODUCTION)

SESSION_COOKIE_AGE = 8 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "object-src": [NONE],
        "base-uri": [NONE],
    }
}

# --- Background work (django-q2) ------------------------------------------------
# Timing ladder: HTTP timeout < refresh lock timeout < task timeout < retry.
HTTP_CONNECT_TIMEOUT = env.float("HTTP_CONNECT_TIMEOUT", default=5.0)
HTTP_READ_TIMEOUT = env.float("HTTP_READ_TIMEOUT", default=30.0)
# Longer than the slowest token call (3 attempts x (connect + read) + retry waits).
TOKEN_REFRESH_LOCK_TIMEOUT = env.int("TOKEN_REFRESH_LOCK_TIMEOUT", default=180)
Q_TASK_TIMEOUT = env.int("Q_TASK_TIMEOUT", default=900)
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="dsar"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TASK_TIMEOUT,
    "retry": int(Q_TASK_TIMEOUT * 1.4),
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- Providers -------------------------------------------------------------------
SIMULATOR_ENABLED = env.bool("SIMULATOR_ENABLED", default=False)
if SIMULATOR_ENABLED and IS_PRODUCTION:
    # The simulator grants tokens to anyone and serves invented data: demos only.
    raise ImproperlyConfigured("SIMULATOR_ENABLED must not be set when DJANGO_ENV=production.")
SIMULATOR_PORT = env.int("SIMULATOR_PORT", default=9100)
# With the simulator on (the demo), the providers default to it instead of the real hosts.
_sim = f"http://127.0.0.1:{SIMULATOR_PORT}"
WEBEX_BASE_URL = env.str(
    "WEBEX_BASE_URL",
    default=f"{_sim}/webex/v1" if SIMULATOR_ENABLED else "https://webexapis.com/v1",
).rstrip("/")
ZOOM_OAUTH_BASE_URL = env.str(
    "ZOOM_OAUTH_BASE_URL", default=f"{_sim}/zoom" if SIMULATOR_ENABLED else "https://zoom.us"
).rstrip("/")
ZOOM_API_BASE_URL = env.str(
    "ZOOM_API_BASE_URL",
    default=f"{_sim}/zoom/v2" if SIMULATOR_ENABLED else "https://api.zoom.us/v2",
).rstrip("/")
# Public base URL of this portal, used to build the OAuth redirect URI staff register.
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
HTTP_MAX_RETRY_WAIT = env.float("HTTP_MAX_RETRY_WAIT", default=300.0)
HTTP_MAX_ATTEMPTS = env.int("HTTP_MAX_ATTEMPTS", default=6)
# Per-provider, per-category request budgets; see connectors/ratelimit.py for the shape
# and defaults, e.g. {"zoom": {"light": (30, 1.0)}} for a Zoom Pro account.
CONNECTOR_RATE_LIMITS = env.json("CONNECTOR_RATE_LIMITS", default={})
# Ceilings of the adaptive (learned) budgets, same shape: Webex's learned rate never goes
# above {"webex": {"default": (6000, 60.0)}} unless this says otherwise.
CONNECTOR_RATE_CEILINGS = env.json("CONNECTOR_RATE_CEILINGS", default={})
TOKEN_REFRESH_MARGIN = timedelta(minutes=env.int("TOKEN_REFRESH_MARGIN_MINUTES", default=10))
# Webex participant index (connectors/participant_index.py): a request tops the index
# up and reads only its own meetings; off, every request scans the whole organisation.
WEBEX_PARTICIPANT_INDEX = env.bool("WEBEX_PARTICIPANT_INDEX", default=True)
# A top-up lists again this far behind the watermark: instances appear in the listing late.
WEBEX_PARTICIPANT_INDEX_MARGIN = timedelta(
    hours=env.int("WEBEX_PARTICIPANT_INDEX_MARGIN_HOURS", default=48)
)
# An instance counts as settled (its participants are not read again) once it has been
# ended this long when read: Webex adds participants minutes after the end.
WEBEX_PARTICIPANT_INDEX_SETTLE = timedelta(
    minutes=env.int("WEBEX_PARTICIPANT_INDEX_SETTLE_MINUTES", default=60)
)
# The scanning worker renews its lease while it works; a dead one's lease expires.
WEBEX_PARTICIPANT_INDEX_LEASE_SECONDS = env.int("WEBEX_PARTICIPANT_INDEX_LEASE_SECONDS", default=60)

# --- Privacy requests -------------------------------------------------------------
FETCH_LOOKBACK_DAYS = env.int("FETCH_LOOKBACK_DAYS", default=365)
RETENTION_DAYS = env.int("RETENTION_DAYS", default=30)
DUE_SOON_DAYS = env.int("DUE_SOON_DAYS", default=7)
# Days allowed per regulation for regulations other than GDPR/CCPA.
OTHER_REGULATION_DUE_DAYS = env.int("OTHER_REGULATION_DUE_DAYS", default=30)
OTHER_REGULATION_EXTENSION_DAYS = env.int("OTHER_REGULATION_EXTENSION_DAYS", default=30)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # OAuth codes and states, search terms: query values never reach the access log.
        "redact_query": {"()": "portal.log_filters.RedactQueryStringFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        # Django's own access-log format (django.utils.log.DEFAULT_LOGGING).
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "django.server": {
            "level": "INFO",
            "class": "logging.StreamHandler",
            "formatter": "django.server",
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": ["redact_query"],
        },
    },
}

ADMIN_URL = env.str("ADMIN_URL", default="admin/")

# --- JSON API ------------------------------------------------------------------------
# Calls per API token per fixed window ("120/m"; units s, m, h, d; "0" for no limit),
# see portal/api_tokens.py.
API_TOKEN_RATE_LIMIT = env.str("API_TOKEN_RATE_LIMIT", default="120/m")

# --- Fetch pipeline ------------------------------------------------------------------
# A fetch task works at most this long, then re-enqueues itself from its checkpoint,
# so it always ends well inside the django-q2 task timeout.
FETCH_SLICE_SECONDS = env.int("FETCH_SLICE_SECONDS", default=int(Q_TASK_TIMEOUT * 0.6))
FETCH_MAX_ATTEMPTS = env.int("FETCH_MAX_ATTEMPTS", default=5)
# A running fetch whose heartbeat is older than this is presumed dead and re-enqueued.
FETCH_STALE_AFTER_SECONDS = env.int("FETCH_STALE_AFTER_SECONDS", default=Q_TASK_TIMEOUT + 120)
# Webex participant lists read at once per fetch (the shared budget paces them). One
# fetch keeps 50 calls a second busy with 8 (the bench's P1); with four worker processes
# on two cores, 8 each measured slower than 4 (P5), so the default stays 4.
FETCH_PARTICIPANT_CONCURRENCY = env.int("FETCH_PARTICIPANT_CONCURRENCY", default=4)
# Zoom units (object types, month windows) of one subject fetched at once: a year's
# lookback has about 45, so they all overlap; the shared budget paces every call.
ZOOM_FETCH_CONCURRENCY = env.int("ZOOM_FETCH_CONCURRENCY", default=48)

# --- Review ----------------------------------------------------------------------
# Four eyes: the approver of a report may not be the last person who changed its
# selection or edits. On by default in production, off locally (one-person demo).
REVIEW_FOUR_EYES = env.bool("REVIEW_FOUR_EYES", default=IS_PRODUCTION)

# --- Data subjects: public pages, links, codes and emails ------------------------------
# Branding of the public pages under /privacy/ and of the emails to data subjects.
PRIVACY_COMPANY_NAME = env.str("PRIVACY_COMPANY_NAME", default="Example Ltd")
PRIVACY_CONTACT_EMAIL = env.str("PRIVACY_CONTACT_EMAIL", default=DEFAULT_FROM_EMAIL)
# A path under the static files (e.g. "img/logo.svg"); empty shows the company name.
PRIVACY_LOGO_PATH = env.str("PRIVACY_LOGO_PATH", default="")
# A CSS hex colour (#rgb or #rrggbb) for buttons and links of the public pages.
PRIVACY_ACCENT_COLOUR = env.str("PRIVACY_ACCENT_COLOUR", default="#0b5cad")
# Email verification link lifetime, and when unconfirmed requests are purged.
SUBJECT_VERIFY_LINK_HOURS = env.int("SUBJECT_VERIFY_LINK_HOURS", default=24)
SUBJECT_UNVERIFIED_PURGE_DAYS = env.int("SUBJECT_UNVERIFIED_PURGE_DAYS", default=7)
# Status links in the emails stay valid this long.
SUBJECT_STATUS_LINK_DAYS = env.int("SUBJECT_STATUS_LINK_DAYS", default=90)
# Report download link: lifetime, downloads allowed, one-time code lifetime and tries.
SUBJECT_DOWNLOAD_LINK_DAYS = env.int("SUBJECT_DOWNLOAD_LINK_DAYS", default=7)
SUBJECT_DOWNLOAD_MAX = env.int("SUBJECT_DOWNLOAD_MAX", default=3)
SUBJECT_CODE_MINUTES = env.int("SUBJECT_CODE_MINUTES", default=10)
SUBJECT_CODE_TRIES = env.int("SUBJECT_CODE_TRIES", default=3)
# After the right code, the download page stays open this long in that browser.
SUBJECT_DOWNLOAD_SESSION_MINUTES = env.int("SUBJECT_DOWNLOAD_SESSION_MINUTES", default=30)
# Rate limits ("count/unit", units s, m, h, d): the public form per IP and per email;
# link pages per IP and per link; one-time codes sent per link.
SUBJECT_FORM_RATE_LIMIT = env.str("SUBJECT_FORM_RATE_LIMIT", default="10/h")
SUBJECT_FORM_EMAIL_RATE_LIMIT = env.str("SUBJECT_FORM_EMAIL_RATE_LIMIT", default="3/h")
SUBJECT_LINK_RATE_LIMIT = env.str("SUBJECT_LINK_RATE_LIMIT", default="60/h")
SUBJECT_LINK_TOKEN_RATE_LIMIT = env.str("SUBJECT_LINK_TOKEN_RATE_LIMIT", default="30/h")
SUBJECT_CODE_SEND_RATE_LIMIT = env.str("SUBJECT_CODE_SEND_RATE_LIMIT", default="5/h")
# Reverse proxies of our own in front of the portal: per-IP limits then take the client's
# address from X-Forwarded-For (portal/client_ip.py); 0 uses the connection's address.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# A failed email is retried by the periodic sweep, at most this many attempts in all.
SUBJECT_EMAIL_MAX_ATTEMPTS = env.int("SUBJECT_EMAIL_MAX_ATTEMPTS", default=6)

# --- Direct Contact -----------------------------------------------------------------
# A contact's link works this many days (reminders repeat it; a re-send or a new contact
# gets a new one).
DIRECT_CONTACT_LINK_DAYS = env.int("DIRECT_CONTACT_LINK_DAYS", default=14)
# Uploads from contacts: per file, per answer, and the allowed file name extensions.
DIRECT_CONTACT_UPLOAD_MAX_BYTES = env.int("DIRECT_CONTACT_UPLOAD_MAX_BYTES", default=25 * 2**20)
DIRECT_CONTACT_UPLOAD_MAX_FILES = env.int("DIRECT_CONTACT_UPLOAD_MAX_FILES", default=20)
DIRECT_CONTACT_UPLOAD_EXTENSIONS = env.list(
    "DIRECT_CONTACT_UPLOAD_EXTENSIONS",
    default=["pdf", "csv", "json", "txt", "xml", "zip", "png", "jpg", "jpeg", "xlsx", "docx"],
)
# Rate limits of the contact page ("count/unit"): per IP address and per task.
DIRECT_CONTACT_IP_RATE_LIMIT = env.str("DIRECT_CONTACT_IP_RATE_LIMIT", default="120/h")
DIRECT_CONTACT_TASK_RATE_LIMIT = env.str("DIRECT_CONTACT_TASK_RATE_LIMIT", default="60/h")
# Uploads stay in memory (portal/uploads.py): Django's default would write any upload
# over 2.5 MB to a temporary file in plaintext, and these are personal data, stored
# only encrypted. Memory per request is bounded by the contact page's own limits (files
# per answer x bytes per file, plus 1 MiB for the form); a larger body is refused.
FILE_UPLOAD_HANDLERS = ["portal.uploads.BoundedMemoryFileUploadHandler"]
FILE_UPLOAD_MAX_MEMORY_SIZE = (
    DIRECT_CONTACT_UPLOAD_MAX_BYTES * DIRECT_CONTACT_UPLOAD_MAX_FILES + 2**20
)
# How often the scheduled tick sends due reminders, escalates and retries failed emails.
DIRECT_CONTACT_TICK_MINUTES = env.int("DIRECT_CONTACT_TICK_MINUTES", default=15)
