"""Rules a new password must meet (NIST SP 800-63B: length and no trivial choices, no composition)."""

from __future__ import annotations

from flask import current_app


class WeakPassword(ValueError):
    """The password breaks a rule; ``reason`` is a key the pages translate."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def validate(password: str, *, identifiers: tuple[str, ...] = ()) -> None:
    cfg = current_app.config
    if "\x00" in password:
        raise WeakPassword("invalid_characters")
    if len(password) < cfg["IDP_PASSWORD_MIN_LENGTH"]:
        raise WeakPassword("too_short")
    if len(password) > cfg["IDP_PASSWORD_MAX_LENGTH"]:
        raise WeakPassword("too_long")
    if len(set(password)) < 3:
        raise WeakPassword("too_simple")
    lowered = password.casefold()
    if any(ident and ident.casefold() in lowered for ident in identifiers):
        raise WeakPassword("contains_identifier")
