"""The scopes we support and the claims each one releases (OIDC Core §5.4, plus our ``org``)."""

from __future__ import annotations

SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "family_name", "given_name", "preferred_username", "locale",
                "updated_at", "birthdate"),
    "email": ("email", "email_verified"),
    "phone": ("phone_number", "phone_number_verified"),
    "address": ("address",),
    # Officials: their organisational unit and roles from the directory.
    "org": ("org_unit", "roles"),
}
SUPPORTED_SCOPES: tuple[str, ...] = tuple(SCOPE_CLAIMS)
