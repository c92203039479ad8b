"""The IdP's IDP_LDAP_* settings for private slapd servers (tests/helpers/slapd.py), shared by the
directory tests and the sync benchmark.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import directory_data as data
from tests.helpers.slapd import Slapd, Tls

# The province's two administrative groups; the plain unit groups (can-bo-*) give no role.
ROLE_MAP = {data.ADMIN_GROUP_DN: "admin", data.UNIT_ADMIN_GROUP_DN: "unit_admin"}


def directory_settings(*servers: Slapd, tls: Tls = "starttls", ca_file: str | None = None,
                       **overrides: Any) -> dict[str, Any]:
    """IDP_LDAP_* for ``servers`` (tried in the order given), as the service account.

    ``tls``: "starttls" (ldap:// upgraded, the production setting), "ldaps" or None (plain ldap://);
    certificates are validated against ``ca_file`` (default: the servers' test CA). Timeouts are short
    (1 s) so that failure tests stay quick; ``overrides`` replaces any setting.
    """
    urls = tuple(server.ldaps_url if tls == "ldaps" else server.url for server in servers)
    return {
        "IDP_LDAP_URLS": urls,
        "IDP_LDAP_BIND_DN": data.SERVICE_DN,
        "IDP_LDAP_BIND_PASSWORD": data.SERVICE_PASSWORD,
        "IDP_LDAP_USER_BASE": data.PEOPLE_DN,
        "IDP_LDAP_GROUP_BASE": data.GROUPS_DN,
        "IDP_LDAP_START_TLS": tls == "starttls",
        "IDP_LDAP_CA_FILE": ca_file or (servers[0].ca_file if servers else ""),
        "IDP_LDAP_ROLE_MAP": dict(ROLE_MAP),
        "IDP_LDAP_DISABLED_FILTER": data.DISABLED_FILTER,
        "IDP_LDAP_EMAIL_DOMAINS": (data.MAIL_DOMAIN,),
        "IDP_LDAP_TIMEOUT": 1.0,
        "IDP_LDAP_RETRY_SECONDS": 30.0,
        **overrides,
    }
