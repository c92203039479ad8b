"""Every dangnhap setting, with its default and why it has that default.

`create_app` reads this module first, then any environment variable of the same name (``IDP_*``), then
the mapping passed to ``create_app(config)``. An environment value is converted to the type of the default
below (``int``, ``float``, ``bool`` from ``1/0/true/false/yes/no``, ``tuple`` from a space-separated
list, ``dict`` from a JSON object). Other defaults take the environment string as it is.

The defaults serve the embedded development deployment (SQLite, demo data, Thanh Hóa branding); a
production deployment sets ``IDP_ENV=production`` and at least the secrets, the issuer and the database.
"""

# --- Deployment -----------------------------------------------------------------------------------
# "development" or "production". Production refuses to start without IDP_SECRET_KEY and IDP_DATA_KEY
# (in development they are generated into instance/ at first start and kept there).
IDP_ENV = "development"
# The issuer identifier: the public base URL, exactly as relying parties see it (no trailing slash).
# Cookies are marked Secure whenever it starts with https://.
IDP_ISSUER = "http://127.0.0.1:5000"
# Folder for generated development secrets, the demo credentials and the default SQLite file.
# Empty means instance/ next to the package. (Read before the app exists: environment or create_app only.)
IDP_INSTANCE_PATH = ""
# SQLAlchemy URL. Empty means SQLite in instance/dangnhap.db. PostgreSQL: postgresql+psycopg://...
IDP_DATABASE_URL = ""
# Signs cookies and CSRF tokens. Generated into instance/secret_key in development when empty.
IDP_SECRET_KEY = ""
# Encrypts secrets at rest (TOTP seeds, private signing keys). Generated into instance/data_key in
# development when empty. Losing it makes those secrets unreadable: back it up with the database.
IDP_DATA_KEY = ""
# Optional Redis URL (redis://127.0.0.1:6379/0). When set, the per-client-IP sign-in failure counters
# live there (cheap, shared by every worker); per-account counters always stay in the database.
IDP_REDIS_URL = ""
# Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted (0: none).
# The client IP used by the brute-force counters and the audit log comes from there.
IDP_PROXY_COUNT = 0
# Largest request body accepted, in bytes. Sign-in forms are tiny; anything bigger is refused (413).
IDP_MAX_CONTENT_LENGTH = 64 * 1024

# --- Branding: the same code serves any province ------------------------------------------------------
# Province name as written in Vietnamese; pages say "Tỉnh Thanh Hóa" / "Thanh Hóa Province".
IDP_PROVINCE_NAME = "Thanh Hóa"
# Logo shown in the page header: a path under the app's static folder, or an absolute https URL.
IDP_BRAND_LOGO = "img/logo.svg"
# Colours of the header, buttons and links (CSS colours, served as custom properties by /branding.css).
IDP_BRAND_PRIMARY_COLOR = "#a6192e"
IDP_BRAND_ACCENT_COLOR = "#f2c300"
# Support contact shown on error and lock pages.
IDP_SUPPORT_CONTACT = "1900 0000"

# --- Languages ---------------------------------------------------------------------------------------
# Vietnamese first; English available through the language switch or ui_locales.
IDP_DEFAULT_LOCALE = "vi"
IDP_LOCALES = ("vi", "en")
IDP_TIMEZONE = "Asia/Ho_Chi_Minh"

# --- Passwords (argon2id) ----------------------------------------------------------------------------
# OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane (~20 ms per hash here). Stored hashes made with
# other parameters are upgraded at the next successful sign-in.
IDP_ARGON2_MEMORY_KIB = 19456
IDP_ARGON2_TIME_COST = 2
IDP_ARGON2_PARALLELISM = 1
# Password rules for citizens' local accounts (NIST SP 800-63B: length, not composition rules).
IDP_PASSWORD_MIN_LENGTH = 8
IDP_PASSWORD_MAX_LENGTH = 128

# --- SSO session ---------------------------------------------------------------------------------------
# A session ends after this many seconds without activity...
IDP_SESSION_IDLE_SECONDS = 30 * 60
# ...and in any case this many seconds after sign-in.
IDP_SESSION_ABSOLUTE_SECONDS = 10 * 60 * 60
# How often (seconds) a session's last-activity time is written back; bounds writes on busy pages.
IDP_SESSION_TOUCH_SECONDS = 60

# --- Brute-force protection ---------------------------------------------------------------------------
# Failed sign-ins per identifier within the window before the identifier is locked for a while.
# Unknown identifiers are counted the same way, so a lock never tells whether an account exists.
IDP_LOGIN_MAX_FAILURES = 5
IDP_LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60
IDP_LOGIN_LOCK_SECONDS = 15 * 60
# Failed sign-ins per client IP within the window before that IP is paused. Set high: many citizens
# sign in from behind one public-service centre's address.
IDP_LOGIN_IP_MAX_FAILURES = 50
# After the n-th failure (n >= 2) the next attempt waits DELAY_BASE * 2^(n-2) seconds, at most
# DELAY_MAX; a single typo costs no wait.
IDP_LOGIN_DELAY_BASE_SECONDS = 1.0
IDP_LOGIN_DELAY_MAX_SECONDS = 30.0

# --- OpenID Connect provider ----------------------------------------------------------------------------
# Lifetimes, in seconds. Codes are single-use and short (≤ 60 s); access tokens are RFC 9068 JWTs that
# resource servers verify locally, so they stay short; refresh tokens rotate on every use.
IDP_CODE_LIFETIME_SECONDS = 60
IDP_ID_TOKEN_LIFETIME_SECONDS = 600
IDP_ACCESS_TOKEN_LIFETIME_SECONDS = 600
IDP_REFRESH_TOKEN_LIFETIME_SECONDS = 14 * 24 * 3600
# A person has this long to finish signing in / consenting before the authorization request expires.
IDP_INTERACTION_LIFETIME_SECONDS = 15 * 60
# PKCE (S256) is always required of public clients; True requires it of confidential clients too
# (OWASP ASVS level 2). A client's own require_pkce setting overrides this default.
IDP_REQUIRE_PKCE = False
# Algorithms we keep signing keys for; RS256 is the default (and first) for interoperability.
IDP_SIGNING_ALGS = ("RS256", "ES256", "EdDSA")

# --- Per-process caches -------------------------------------------------------------------------------
# Each worker keeps the clients and the signing keys in memory, and asks the database at most this
# often (seconds; one small query for all of them) whether another process changed them: a client
# edit or a key rotation is seen by every worker within this time. 0 asks at every use.
IDP_CACHE_CHECK_SECONDS = 1.0

# --- Back-channel logout (OpenID Connect Back-Channel Logout 1.0) ---------------------------------------
# When a session ends, each application that took part in it and registered a backchannel_logout_uri
# is sent a logout token from a background thread; pending deliveries are rows, so a restart loses none.
# Seconds an application has to answer one delivery attempt.
IDP_BACKCHANNEL_TIMEOUT_SECONDS = 5
# Attempts before a delivery is given up and audited as logout.backchannel.failed.
IDP_BACKCHANNEL_MAX_ATTEMPTS = 4
# After the n-th failed attempt the next waits RETRY_BASE * 2^(n-1) seconds (2, 4, 8 s by default).
IDP_BACKCHANNEL_RETRY_BASE_SECONDS = 2.0
# While deliveries are pending, each worker looks this often for retries that are due and for
# deliveries another process left (it stopped, or died holding them).
IDP_BACKCHANNEL_POLL_SECONDS = 5.0

# --- Officials' directory (LDAP) ---------------------------------------------------------------------
# Servers, tried in order (failover): ldap://host:389 (with IDP_LDAP_START_TLS) or ldaps://host:636.
# Empty: no directory; officials' identifiers are then answered like unknown ones.
IDP_LDAP_URLS = ()
# The service account that searches the directory (read access to people and groups, not passwords).
IDP_LDAP_BIND_DN = ""
IDP_LDAP_BIND_PASSWORD = ""
# Where people are, and which entries are people.
IDP_LDAP_USER_BASE = ""
IDP_LDAP_USER_FILTER = "(objectClass=inetOrgPerson)"
# Attributes a person may sign in with (uid, and mail for the officials' e-mail domain).
IDP_LDAP_LOGIN_ATTRIBUTES = ("uid", "mail")
# Where groups are. Membership is read from the group entries (groupOfNames member), so no overlay
# is needed on the directory side.
IDP_LDAP_GROUP_BASE = ""
IDP_LDAP_GROUP_FILTER = "(objectClass=groupOfNames)"
# ldap:// servers: upgrade with StartTLS (required in production). Certificates are always validated
# against IDP_LDAP_CA_FILE (or the system's CAs when empty) for StartTLS and ldaps://.
IDP_LDAP_START_TLS = False
IDP_LDAP_CA_FILE = ""
# Seconds to connect and to wait for each answer; a person never waits much longer than this.
IDP_LDAP_TIMEOUT = 3.0
# A server that failed is not tried again for this many seconds (others are tried meanwhile).
IDP_LDAP_RETRY_SECONDS = 30.0
# Directory attribute for each of our fields (JSON object in the environment).
IDP_LDAP_ATTRIBUTES = {
    "uid": "uid",
    "name": "cn",
    "email": "mail",
    "phone": "telephoneNumber",
    "title": "title",
    "unit": "departmentNumber",
}
# Group DN → role (JSON object in the environment); groups not listed give no role.
IDP_LDAP_ROLE_MAP: dict[str, str] = {}
# Entries matching this filter are disabled: refused at sign-in, disabled here by the sync.
IDP_LDAP_DISABLED_FILTER = "(employeeType=disabled)"
# E-mail domains of officials: such addresses sign in against the directory, never as citizens.
IDP_LDAP_EMAIL_DOMAINS = ("thanhhoa.gov.vn",)
# Entries per page when the sync reads the whole directory.
IDP_LDAP_PAGE_SIZE = 1000

# --- Second factor (TOTP, RFC 6238) and who must use it ------------------------------------------------
# The issuer an authenticator app shows above the code (otpauth:// "issuer"). Empty means
# "Đăng nhập một lần <IDP_PROVINCE_NAME>" ("dangnhap" when that is empty too). No colon allowed.
IDP_TOTP_ISSUER = ""
# Failed codes (TOTP or recovery codes) per person within the window before the second factor is
# locked for a while. Counted apart from password failures: neither locks the other.
IDP_TOTP_MAX_FAILURES = 5
IDP_TOTP_FAILURE_WINDOW_SECONDS = 15 * 60
IDP_TOTP_LOCK_SECONDS = 15 * 60
# Seconds a person has to confirm a new authenticator with its first code after the QR code is shown
# (installing an app on a phone takes a while); the enrolment must be started again after that.
IDP_TOTP_ENROLMENT_SECONDS = 30 * 60
# Roles that make a subject an admin: admins always present a second factor, like officials.
IDP_ADMIN_ROLES = ("admin", "unit_admin")
