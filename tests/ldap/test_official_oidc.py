"""An official completes the OpenID Connect code flow; the ``org`` scope releases their unit and roles
(UserInfo, and the ID token when asked for with the claims parameter, OIDC Core §5.5).

Officials always present a second factor: the test plays their phone, enrolling at the first sign-in
(it reads the key printed under the QR code) and keeping the recovery codes for later sign-ins (a
second TOTP code in the same 30-second step would be refused as a replay).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from idp.identity import ldap
from idp.storage import subjects
from tests.helpers import directory_data as data
from tests.helpers.forms import hidden_value
from tests.helpers.jwt_client import bearer
from tests.helpers.oidc import (
    RegisteredClient,
    authorize_params,
    decode,
    drive,
    exchange,
    redirect_params,
    register_client,
)

HUNG = data.OFFICIALS_BY_UID["hung.tv"]


@dataclass
class Person:
    """Who ``tests.helpers.oidc.drive`` signs in (it types ``id_number`` in the identifier field), and
    their phone: the authenticator's key and the recovery codes, once enrolled."""

    id_number: str
    password: str
    key: str | None = None
    recovery_codes: list[str] = field(default_factory=list)


def second_factor(client: FlaskClient, response: TestResponse, person: Person) -> TestResponse:
    """Pass the second factor as the official would; returns the response that resumes the flow."""
    while response.status_code == 302 and response.headers["Location"].startswith("/login/"):
        response = client.get(response.headers["Location"])
    body = response.get_data(as_text=True)
    form = {"csrf_token": hidden_value(body, "csrf_token"), "interaction": hidden_value(body, "interaction")}
    if person.key is None:
        assert 'id="secret-key"' in body, body[:500]
        person.key = re.search(r'id="secret-key">([^<]+)<', body).group(1).replace(" ", "")
        page = client.post("/login/enrol", data={**form, "code": pyotp.TOTP(person.key).now()})
        person.recovery_codes = re.findall(r"<li><code>([^<]+)</code>", page.get_data(as_text=True))
        assert len(person.recovery_codes) == 10
    else:
        client.post("/login/second-factor", data={**form, "method": "recovery",
                                                  "recovery_code": person.recovery_codes.pop()})
    return client.get("/login/second-factor/continue", query_string={"interaction": form["interaction"]})


@pytest.fixture
def portal(app: Flask) -> RegisteredClient:
    """The province's internal portal: officials' unit and roles matter to it."""
    return register_client(client_name="Cổng thông tin nội bộ", skip_consent=True,
                           scope="openid profile email org")


def tokens(client: FlaskClient, portal: RegisteredClient, person: Person, **params: str) -> dict:  # type: ignore[type-arg]
    """The token response of a complete code flow: sign-in, second factor, code, exchange."""
    query = authorize_params(portal, **params)
    asked = drive(client, client.get("/authorize", query_string=query), person)  # stops at the factor
    answer = redirect_params(drive(client, second_factor(client, asked, person)))
    assert answer["state"] == query["state"]
    response = exchange(client, portal, answer["code"])
    assert response.status_code == 200, response.json
    return response.json


def test_official_code_flow_releases_unit_and_roles_with_the_org_scope(client: FlaskClient,
                                                                      portal: RegisteredClient) -> None:
    body = tokens(client, portal, Person("hung.tv", HUNG.password), scope="openid profile email org")

    subject = subjects.find_identity(ldap.SOURCE, HUNG.entry_uuid).subject  # created by this sign-in
    id_token = decode(body["id_token"])
    assert id_token["sub"] == subject.sub and id_token["aud"] == portal.client_id
    assert id_token["amr"] == ["pwd", "otp", "mfa"]
    info = client.get("/userinfo", headers=bearer(body["access_token"])).json
    assert info["sub"] == subject.sub
    assert info["name"] == "Trần Văn Hùng" and info["email"] == HUNG.mail
    assert info["org_unit"]["code"] == "SNV" and isinstance(info["org_unit"]["name"], str)
    assert info["roles"] == ["admin"]


def test_id_token_carries_unit_and_roles_when_asked_for(client: FlaskClient, portal: RegisteredClient) -> None:
    duc = data.OFFICIALS_BY_UID["duc.hv"]
    claims = json.dumps({"id_token": {"org_unit": None, "roles": {"essential": True}}})

    body = tokens(client, portal, Person("duc.hv@thanhhoa.gov.vn", duc.password), scope="openid org", claims=claims)

    id_token = decode(body["id_token"])
    assert id_token["org_unit"]["code"] == "XA-DONGTIEN"
    assert id_token["roles"] == ["unit_admin"]


def test_without_the_org_scope_no_unit_or_roles_are_released(client: FlaskClient, portal: RegisteredClient) -> None:
    body = tokens(client, portal, Person("hung.tv", HUNG.password), scope="openid profile")

    info = client.get("/userinfo", headers=bearer(body["access_token"])).json
    assert "org_unit" not in info and "roles" not in info
    assert "org_unit" not in decode(body["id_token"])


def test_the_sub_survives_a_rename_across_sign_ins(client: FlaskClient, app: Flask, portal: RegisteredClient,
                                                  slapd, make_ldap_official) -> None:  # type: ignore[no-untyped-def]
    official = make_ldap_official(unit="STC")
    person = Person(official.uid, official.password)
    first = decode(tokens(client, portal, person)["id_token"])["sub"]

    slapd.rename(official.dn, uid="ten.moi")
    person.id_number = "ten.moi"
    other = app.test_client()  # a new browser: no SSO session, so a fresh sign-in with the new uid
    second = decode(tokens(other, portal, person)["id_token"])["sub"]

    assert first == second
