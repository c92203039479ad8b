"""Authentication: password hashing and policy, the sign-in flow, SSO sessions, brute-force limits."""
