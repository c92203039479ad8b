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


@pytest.fixture(params=["view", "kept"])
def token_endpoint(request: pytest.FixtureRequest, app) -> str:  # type: ignore[no-untyped-def]
    """How the test's first token request is answered: "view", by the view (a fresh worker: it then
    keeps the endpoint's headers, and answers the usual requests after it past Flask's request
    cycle); "kept", past Flask, by a worker that has answered another client's request already."""
    if request.param == "kept":
        other = register_client(grant_types=["client_credentials"], redirect_uris=[], scope="profile")
        response = app.test_client().post("/token", data={"grant_type": "client_credentials"},
                                          headers=other.basic_auth())
        assert response.status_code == 200
    return str(request.param)
