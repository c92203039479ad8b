"""Authentication levels: the ``acr`` values we assert, derived from the methods achieved (``amr``).

Deriving ``acr`` from ``amr`` (RFC 8176 values) keeps one source of truth: a session records what
the person did, and the level follows.
"""

from __future__ import annotations

# Documented in discovery (acr_values_supported), lowest first.
ACR_PWD = "urn:dangnhap:acr:pwd"  # noqa: S105 (a level name, not a password)
ACR_MFA = "urn:dangnhap:acr:mfa"
ACR_VALUES = (ACR_PWD, ACR_MFA)


def acr_for(amr: list[str]) -> str:
    return ACR_MFA if "mfa" in amr else ACR_PWD
