"""The client registry: the metadata it accepts and refuses, how it keeps secrets, imports, audit."""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import pytest
from joserfc.jwk import ECKey, OctKey

from idp.oidc import client_metadata, client_registry
from idp.oidc.client_registry import InvalidClientMetadata
from idp.storage import audit_events
from idp.storage.clients import Client
from tests.conftest import make_app

WEB_APP = {"client_name": "Cổng Dịch vụ công tỉnh Thanh Hóa", "redirect_uris": ["https://dichvucong.example.vn/cb"]}
NATIVE_APP = {"client_name": "Ứng dụng Thanh Hóa số", "token_endpoint_auth_method": "none",
              "redirect_uris": ["vn.gov.thanhhoa.app:/oauth2/cb"]}
_EC_KEY = ECKey.generate_key("P-256")
PUBLIC_JWKS = {"keys": [_EC_KEY.as_dict(private=False)]}
PRIVATE_JWKS = {"keys": [_EC_KEY.as_dict(private=True)]}
CHOSEN_SECRET = "một-bí-mật-do-người-vận-hành-chọn-đủ-dài"


def web(**fields: Any) -> dict[str, Any]:
    return {**WEB_APP, **fields}


def native(**fields: Any) -> dict[str, Any]:
    return {**NATIVE_APP, **fields}


def count() -> int:
    return len(client_registry.all_clients())


@pytest.mark.usefixtures("app")
@pytest.mark.parametrize("metadata", [
    web(redirect_uris=["http://127.0.0.1:8080/cb", "http://[::1]/cb", "http://localhost:3000/cb"]),
    web(redirect_uris=["https://dvc.example.vn/cb?from=sso"], post_logout_redirect_uris=["https://dvc.example.vn/"]),
    native(),
    native(redirect_uris=["http://127.0.0.1/cb"], post_logout_redirect_uris=["vn.gov.thanhhoa.app:/bye"],
           require_pkce=True),
    web(grant_types=["authorization_code", "refresh_token"]),
    {"client_name": "Dịch vụ nền", "grant_types": ["client_credentials"]},
    web(grant_types=["authorization_code", "client_credentials"], token_endpoint_auth_method="client_secret_post"),
    web(token_endpoint_auth_method="private_key_jwt", jwks=PUBLIC_JWKS),
    web(token_endpoint_auth_method="private_key_jwt", jwks_uri="https://dvc.example.vn/jwks.json"),
    web(id_token_signed_response_alg="ES256", access_token_signed_response_alg="EdDSA"),
    web(scope="openid org phone address"),
    web(client_id="portal.so-y_te~1"),
    web(client_name="Ủ" * 200),
    web(backchannel_logout_uri="https://dvc.example.vn/logout/bc", backchannel_logout_session_required=False,
        frontchannel_logout_uri="https://dichvucong.example.vn/logout/fc", frontchannel_logout_session_required=False),
    web(skip_consent=True, require_mfa=True, require_pkce=False),
], ids=lambda m: ",".join(sorted(m)))
def test_valid_metadata_is_registered(metadata: dict[str, Any]) -> None:
    client, _secret = client_registry.register(metadata)
    stored = client_registry.get(client.client_id)
    assert stored is client
    for name, value in metadata.items():
        assert getattr(stored, name) == value


@pytest.mark.usefixtures("app")
@pytest.mark.parametrize(("metadata", "field"), [
    (web(redirect_uri=["https://dvc.example.vn/cb"]), "redirect_uri"),
    (web(client_secret_hash="00" * 32), "client_secret_hash"),
    (web(redirect_uris=[]), "redirect_uris"),
    (web(redirect_uris="https://dvc.example.vn/cb"), "redirect_uris"),
    (web(redirect_uris=["/cb"]), "redirect_uris"),
    (web(redirect_uris=["https://dvc.example.vn/cb#top"]), "redirect_uris"),
    (web(redirect_uris=["https://dvc.example.vn/cb#"]), "redirect_uris"),
    (web(redirect_uris=["http://dvc.example.vn/cb"]), "redirect_uris"),
    (web(redirect_uris=["http://localhost.example.vn/cb"]), "redirect_uris"),
    (web(redirect_uris=["https:///cb"]), "redirect_uris"),
    (web(redirect_uris=["https://dvc.example.vn/c b"]), "redirect_uris"),
    (web(redirect_uris=["https://dvc.example.vn:port/cb"]), "redirect_uris"),
    (web(redirect_uris=["vn.gov.thanhhoa.app:/cb"]), "redirect_uris"),  # private-use: public clients only
    (native(redirect_uris=["javascript:alert(1)"]), "redirect_uris"),
    (web(post_logout_redirect_uris=["http://dvc.example.vn/"]), "post_logout_redirect_uris"),
    (web(backchannel_logout_uri="http://dvc.example.vn/bc"), "backchannel_logout_uri"),
    (native(backchannel_logout_uri="vn.gov.thanhhoa.app:/bc"), "backchannel_logout_uri"),
    (web(frontchannel_logout_uri="https://other.example.vn/fc"), "frontchannel_logout_uri"),
    (web(grant_types=["implicit"]), "grant_types"),
    (web(grant_types=["password"]), "grant_types"),
    (web(grant_types=[]), "grant_types"),
    (web(grant_types=["client_credentials", "refresh_token"]), "grant_types"),
    (web(response_types=["token"]), "response_types"),
    (web(response_types=["code", "id_token"]), "response_types"),
    (web(response_types=[]), "response_types"),
    (web(grant_types=["client_credentials"], response_types=["code"]), "response_types"),
    (web(token_endpoint_auth_method="client_secret_jwt"), "token_endpoint_auth_method"),
    (native(grant_types=["authorization_code", "client_credentials"]), "grant_types"),
    (native(require_pkce=False), "require_pkce"),
    (web(token_endpoint_auth_method="private_key_jwt"), "jwks"),
    (web(token_endpoint_auth_method="private_key_jwt", jwks=PRIVATE_JWKS), "jwks"),
    (web(jwks={"keys": [OctKey.generate_key(256).as_dict()]}), "jwks"),
    (web(jwks={"keys": [{"kty": "RSA", "n": "AQAB"}]}), "jwks"),
    (web(jwks={"keys": [{"kty": "XYZ"}]}), "jwks"),
    (web(jwks={"keys": []}), "jwks"),
    (web(jwks=PUBLIC_JWKS["keys"][0]), "jwks"),
    (web(jwks=PUBLIC_JWKS, jwks_uri="https://dvc.example.vn/jwks.json"), "jwks"),
    (web(token_endpoint_auth_method="private_key_jwt", jwks_uri="http://dvc.example.vn/jwks"), "jwks_uri"),
    (web(id_token_signed_response_alg="HS256"), "id_token_signed_response_alg"),
    (web(id_token_signed_response_alg="none"), "id_token_signed_response_alg"),
    (web(access_token_signed_response_alg="PS256"), "access_token_signed_response_alg"),
    (web(scope="openid offline_access"), "scope"),
    (web(scope=""), "scope"),
    (web(scope=["openid"]), "scope"),
    ({"redirect_uris": ["https://dvc.example.vn/cb"]}, "client_name"),
    (web(client_name="   "), "client_name"),
    (web(client_name="Ủ" * 201), "client_name"),
    (web(client_name="Cổng\x00"), "client_name"),
    (web(client_id=""), "client_id"),
    (web(client_id="cổng"), "client_id"),
    (web(client_id="a b"), "client_id"),
    (web(client_id="a" * 129), "client_id"),
    (web(skip_consent="yes"), "skip_consent"),
    (web(require_pkce=1), "require_pkce"),
], ids=lambda case: str(case) if isinstance(case, str) else None)
def test_invalid_metadata_is_refused(metadata: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidClientMetadata) as caught:
        client_registry.register(metadata)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert count() == 0


@pytest.mark.usefixtures("app")
def test_refusals_carry_the_rfc_7591_error_code() -> None:
    with pytest.raises(InvalidClientMetadata) as bad_uri:
        client_registry.register(web(redirect_uris=["http://dvc.example.vn/cb"]))
    assert bad_uri.value.error == "invalid_redirect_uri" and isinstance(bad_uri.value, ValueError)
    assert "must use https" in str(bad_uri.value)
    with pytest.raises(InvalidClientMetadata) as bad_scope:
        client_registry.register(web(scope="openid admin"))
    assert bad_scope.value.error == "invalid_client_metadata" and "unsupported admin" in str(bad_scope.value)


@pytest.mark.usefixtures("app")
def test_a_misspelt_field_gets_a_suggestion() -> None:
    with pytest.raises(InvalidClientMetadata, match="did you mean redirect_uris"):
        client_registry.register(web(redirect_uri=["https://dvc.example.vn/cb"]))


@pytest.mark.usefixtures("app")
def test_defaults() -> None:
    client, secret = client_registry.register(WEB_APP)
    assert client.grant_types == ["authorization_code"] and client.response_types == ["code"]
    assert client.scope == "openid profile email"
    assert client.token_endpoint_auth_method == "client_secret_basic" and secret is not None
    assert client.id_token_signed_response_alg == client.access_token_signed_response_alg == "RS256"
    assert client.require_pkce is None and not client.skip_consent and not client.require_mfa
    assert client.backchannel_logout_session_required and client.frontchannel_logout_session_required
    assert client.enabled
    service, _secret = client_registry.register({"client_name": "Dịch vụ nền", "grant_types": ["client_credentials"]})
    assert service.response_types == [] and service.redirect_uris == []


@pytest.mark.usefixtures("app")
def test_generated_client_ids_are_random_and_url_safe() -> None:
    first, _ = client_registry.register(WEB_APP)
    second, _ = client_registry.register(WEB_APP)
    assert first.client_id != second.client_id
    assert len(first.client_id) >= 32 and client_metadata._CLIENT_ID.fullmatch(first.client_id)


@pytest.mark.usefixtures("app")
def test_names_are_stored_composed_with_single_spaces() -> None:
    decomposed = unicodedata.normalize("NFD", "  Cổng   dịch vụ công\n")
    client, _ = client_registry.register(web(client_name=decomposed))
    assert client.client_name == "Cổng dịch vụ công" == unicodedata.normalize("NFC", client.client_name)


@pytest.mark.usefixtures("app")
def test_a_client_id_is_registered_once() -> None:
    client_registry.register(web(client_id="cong-dvc"))
    with pytest.raises(InvalidClientMetadata, match="client_id: cong-dvc is already registered"):
        client_registry.register(web(client_id="cong-dvc", client_name="Khác"))
    assert client_registry.get("cong-dvc").client_name == WEB_APP["client_name"]


def _row_text(client: Client) -> str:
    return " ".join(str(getattr(client, column.key)) for column in Client.__table__.columns)


@pytest.mark.usefixtures("app")
def test_a_generated_secret_is_strong_and_stored_only_as_its_hash() -> None:
    client, secret = client_registry.register(WEB_APP)
    assert secret is not None and len(secret) >= 43
    assert client.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in _row_text(client)
    assert len({client_registry.generate_secret() for _ in range(10)}) == 10
    assert all(len(client_registry.generate_secret()) >= 43 for _ in range(10))


@pytest.mark.usefixtures("app")
def test_verify_secret() -> None:
    client, secret = client_registry.register(WEB_APP)
    assert client_registry.verify_secret(client, secret)
    assert not client_registry.verify_secret(client, secret[:-1])
    assert not client_registry.verify_secret(client, "")
    public, no_secret = client_registry.register(NATIVE_APP)
    assert no_secret is None and public.client_secret_hash is None
    assert not client_registry.verify_secret(public, "")
    assert not client_registry.verify_secret(public, secret)


@pytest.mark.usefixtures("app")
def test_private_key_jwt_clients_have_no_secret() -> None:
    client, secret = client_registry.register(web(token_endpoint_auth_method="private_key_jwt", jwks=PUBLIC_JWKS))
    assert secret is None and client.client_secret_hash is None


@pytest.mark.usefixtures("app")
def test_an_operator_may_choose_a_long_secret() -> None:
    client, shown = client_registry.register(WEB_APP, client_secret=CHOSEN_SECRET)
    assert shown is None  # the operator has it already
    assert client_registry.verify_secret(client, CHOSEN_SECRET) and CHOSEN_SECRET not in _row_text(client)
    with pytest.raises(InvalidClientMetadata) as short:
        client_registry.register(WEB_APP, client_secret="x" * 31)
    assert short.value.field == "client_secret"
    with pytest.raises(InvalidClientMetadata, match="client_secret: a client using none has no secret"):
        client_registry.register(NATIVE_APP, client_secret=CHOSEN_SECRET)
    assert count() == 1


@pytest.mark.usefixtures("app")
def test_rotate_secret() -> None:
    client, old = client_registry.register(web(client_id="cong-dvc"))
    new = client_registry.rotate_secret("cong-dvc")
    assert new != old and len(new) >= 43
    assert client_registry.verify_secret(client, new) and not client_registry.verify_secret(client, old)
    [event] = audit_events.recent(event="client.secret_rotated")
    assert event.client_id == "cong-dvc" and new not in str(event.details) and old not in str(event.details)
    client_registry.register(native(client_id="app"))
    with pytest.raises(client_registry.ClientError, match="app authenticates with none: it has no secret"):
        client_registry.rotate_secret("app")
    with pytest.raises(client_registry.UnknownClient):
        client_registry.rotate_secret("khong-co")


@pytest.mark.usefixtures("app")
def test_upsert_updates_in_place_and_keeps_the_secret() -> None:
    first = client_registry.upsert(web(client_id="cong-dvc", skip_consent=True))
    assert first.created and first.secret is not None
    second = client_registry.upsert(web(client_id="cong-dvc", scope="openid org"))
    assert not second.created and second.secret is None and second.client is first.client
    assert second.changed == ("scope", "skip_consent")  # absent fields go back to their defaults
    assert second.client.scope == "openid org" and not second.client.skip_consent
    assert client_registry.verify_secret(second.client, first.secret)
    assert client_registry.upsert(web(client_id="cong-dvc", scope="openid org")).changed == ()
    assert count() == 1


@pytest.mark.usefixtures("app")
def test_upsert_replaces_the_secret_only_when_given() -> None:
    client_registry.upsert(web(client_id="cong-dvc"))
    replaced = client_registry.upsert(web(client_id="cong-dvc"), client_secret=CHOSEN_SECRET)
    assert replaced.changed == ("client_secret",) and replaced.secret is None
    assert client_registry.verify_secret(replaced.client, CHOSEN_SECRET)
    assert client_registry.upsert(web(client_id="cong-dvc"), client_secret=CHOSEN_SECRET).changed == ()


@pytest.mark.usefixtures("app")
def test_upsert_follows_a_change_of_auth_method() -> None:
    client_registry.upsert(web(client_id="app"))
    public = client_registry.upsert(native(client_id="app"))
    assert "client_secret" in public.changed and public.client.client_secret_hash is None
    confidential = client_registry.upsert(web(client_id="app"))
    assert confidential.secret is not None
    assert client_registry.verify_secret(confidential.client, confidential.secret)


@pytest.mark.usefixtures("app")
def test_upsert_needs_a_client_id_and_leaves_enabled_alone() -> None:
    with pytest.raises(InvalidClientMetadata, match="client_id: required"):
        client_registry.upsert(WEB_APP)
    client_registry.upsert(web(client_id="cong-dvc"))
    client_registry.set_enabled("cong-dvc", False)
    assert not client_registry.upsert(web(client_id="cong-dvc", scope="openid")).client.enabled
    assert not client_registry.get("cong-dvc").enabled  # get() finds disabled clients too


@pytest.mark.usefixtures("app")
def test_import_is_idempotent() -> None:
    entries = [web(client_id="cong-dvc"), native(client_id="app", client_secret=None),
               web(client_id="he-thong", grant_types=["client_credentials"], redirect_uris=[],
                   client_secret=CHOSEN_SECRET)]
    first = client_registry.import_clients(entries)
    assert [s.created for s in first] == [True, True, True]
    assert [s.secret is not None for s in first] == [True, False, False]
    assert client_registry.verify_secret(client_registry.get("he-thong"), CHOSEN_SECRET)
    again = client_registry.import_clients(entries)
    assert [(s.created, s.changed, s.secret) for s in again] == [(False, (), None)] * 3
    assert count() == 3
    entries[0] = web(client_id="cong-dvc", client_name="Cổng DVC (mới)", require_mfa=True)
    updated = client_registry.import_clients(entries)
    assert updated[0].changed == ("client_name", "require_mfa") and count() == 3
    assert client_registry.get("cong-dvc").client_name == "Cổng DVC (mới)"
    assert client_registry.verify_secret(client_registry.get("cong-dvc"), first[0].secret)


@pytest.mark.usefixtures("app")
def test_import_is_all_or_nothing() -> None:
    client_registry.import_clients([web(client_id="cong-dvc")])
    entries = [web(client_id="cong-dvc", client_name="Đổi tên"), web(client_id="moi"),
               web(client_id="hong", redirect_uris=["http://hong.example.vn/cb"])]
    with pytest.raises(InvalidClientMetadata) as caught:
        client_registry.import_clients(entries)
    assert caught.value.entry == 2 and caught.value.field == "redirect_uris"
    assert str(caught.value).startswith("entry 2: redirect_uris: 'http://hong.example.vn/cb' must use https")
    assert [c.client_id for c in client_registry.all_clients()] == ["cong-dvc"]
    assert client_registry.get("cong-dvc").client_name == WEB_APP["client_name"]


@pytest.mark.usefixtures("app")
def test_import_refuses_a_client_id_twice_and_entries_without_one() -> None:
    with pytest.raises(InvalidClientMetadata, match="entry 1: client_id: cong-dvc is also entry 0"):
        client_registry.import_clients([web(client_id="cong-dvc"), web(client_id="cong-dvc")])
    with pytest.raises(InvalidClientMetadata, match="entry 0: client_id: required"):
        client_registry.import_clients([WEB_APP])
    assert count() == 0


@pytest.mark.usefixtures("app")
def test_audit_events_never_carry_secrets() -> None:
    saved = client_registry.upsert(web(client_id="cong-dvc"))
    client_registry.upsert(web(client_id="cong-dvc", scope="openid"), client_secret=CHOSEN_SECRET)
    rotated = client_registry.rotate_secret("cong-dvc")
    client_registry.set_enabled("cong-dvc", False)
    client_registry.set_enabled("cong-dvc", True)
    events = list(reversed(audit_events.recent()))
    assert [e.event for e in events] == ["client.created", "client.updated", "client.secret_rotated",
                                         "client.disabled", "client.enabled"]
    assert all(e.client_id == "cong-dvc" and e.details["actor"] == "cli" for e in events)
    assert events[0].details["auth_method"] == "client_secret_basic"
    assert events[1].details["fields"] == ["scope", "client_secret"]
    logged = str([(e.details, e.subject) for e in events])
    assert all(secret not in logged for secret in (saved.secret, CHOSEN_SECRET, rotated))


def test_signing_algorithms_follow_the_configured_keys(app_config: dict[str, Any]) -> None:
    only_rs256 = make_app({**app_config, "IDP_SIGNING_ALGS": ("RS256",)})
    with only_rs256.app_context():
        with pytest.raises(InvalidClientMetadata, match="'ES256' is not one of RS256"):
            client_registry.register(web(id_token_signed_response_alg="ES256"))
