"""Fixtures of the protocol tests: the usual person and the usual (first-party) relying party."""

from __future__ import annotations

import pytest

from tests.conftest import Citizen
from tests.helpers.oidc import RegisteredClient, register_client


@pytest.fixture
def citizen(make_citizen) -> Citizen:  # type: ignore[no-untyped-def]
    return make_citizen(full_name="Nguyễn Văn An", email="an@example.vn")


@pytest.fixture
def rp(app) -> RegisteredClient:  # type: ignore[no-untyped-def]
    """A confidential first-party portal (no consent page), allowed to refresh."""
    return register_client(skip_consent=True)
