"""The scenarios of the protocol benchmark (bench/protocol.py), in the order they run and are reported."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # "fixed" (wrk) or a bench.loader mode
    concurrency: int = 4
    people: str = "citizen"  # citizen, citizens_with_totp, officials_with_totp
    node: bool = True  # node-oidc-provider has an equivalent

    @property
    def hashes_passwords(self) -> bool:
        """Each operation verifies an argon2id hash in dangnhap (officials bind to the directory
        instead): what the argon2id limit and the hashing thread's share are about."""
        return self.kind in ("sign-in", "flow") and self.people != "officials_with_totp"


SCENARIOS = (
    Scenario("discovery", "fixed"),
    Scenario("jwks", "fixed"),
    Scenario("client_credentials RS256", "fixed"),
    Scenario("client_credentials ES256", "fixed"),
    # One access token, presented again and again, as a portal does on its pages and a resource
    # server at each call it serves; then many, each presented once in MANY_TOKENS requests (a
    # signature dangnhap verifies every time: bench/targets.py).
    Scenario("userinfo", "fixed"),
    Scenario("introspection", "fixed"),
    Scenario("userinfo (many tokens)", "fixed"),
    Scenario("introspection (many tokens)", "fixed"),
    Scenario("code exchange", "exchange"),
    Scenario("refresh (confidential)", "refresh"),
    Scenario("refresh (public)", "refresh"),
    # Signed in once, then another portal: the code comes from the SSO session (the redirect only).
    Scenario("SSO authorization ×4", "sso"),
    # The sign-in page alone (no application): what the argon2id limit is about. node-oidc-provider
    # has no sign-in outside an authorization request.
    Scenario("citizen sign-in page ×4", "sign-in", node=False),
    Scenario("citizen sign-in flow ×1", "flow", concurrency=1),
    Scenario("citizen sign-in flow ×4", "flow"),
    Scenario("citizen sign-in + TOTP ×4", "flow", people="citizens_with_totp", node=False),
    Scenario("official (LDAP) + TOTP ×4", "flow", people="officials_with_totp", node=False),
)
