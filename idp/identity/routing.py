"""Which identity source answers for an identifier, decided from its form alone.

A password is only ever sent to the one source that owns the identifier: a 12-digit number or a
citizen's e-mail is local; a bare directory uid or an e-mail in the officials' domains goes to the
directory. Nothing else is tried, so a citizen's password never reaches LDAP and vice versa.
"""

from __future__ import annotations

import enum
import re

from flask import current_app

from . import emails, id_number

# Directory uids as the province issues them (lan.nt, nguyen_van_a, ...).
_UID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class Source(enum.StrEnum):
    LOCAL = "local"
    DIRECTORY = "ldap"


def _directory_enabled() -> bool:
    return bool(current_app.config["IDP_LDAP_URLS"])


def source_for(identifier: str) -> Source | None:
    value = identifier.strip()
    if id_number.looks_like(value):
        return Source.LOCAL
    email = emails.normalise(value)
    if email is not None:
        domain = email.rsplit("@", 1)[1]
        if domain in {d.lower() for d in current_app.config["IDP_LDAP_EMAIL_DOMAINS"]}:
            return Source.DIRECTORY if _directory_enabled() else None
        return Source.LOCAL
    if _directory_enabled() and _UID.match(value):
        return Source.DIRECTORY
    return None
