"""Errors of the authorization endpoint, sorted by where they may be told.

Before the client and its redirect URI are known to be genuine, an error is shown to the person and
never redirected (RFC 6749 §4.1.2.1: no open redirector). After that, the error goes back to the
client in the chosen response mode, with ``state`` and ``iss``.
"""

from __future__ import annotations


class AuthorizationError(Exception):
    """An error for the client: ``error`` is the registered code (RFC 6749 §4.1.2.1, OIDC §3.1.2.6)."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description


class UntrustedRequest(Exception):
    """The client or redirect URI cannot be trusted: show ``reason`` to the person, do not redirect."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def invalid_request(description: str) -> AuthorizationError:
    return AuthorizationError("invalid_request", description)
