"""The operator commands under ``flask --app wsgi idp client``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey

from idp.oidc import client_registry
from idp.storage import audit_events

CHOSEN_SECRET = "một-bí-mật-do-người-vận-hành-chọn-đủ-dài"
PORTAL = {"client_id": "cong-dvc", "client_name": "Cổng Dịch vụ công tỉnh Thanh Hóa",
          "redirect_uris": ["https://dichvucong.example.vn/cb"]}
MOBILE = {"client_id": "app", "client_name": "Ứng dụng Thanh Hóa số", "token_endpoint_auth_method": "none",
          "redirect_uris": ["vn.gov.thanhhoa.app:/cb"]}


def _client(runner, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["idp", "client", *args], input=input)


def _secret(output: str) -> str:
    [line] = [line for line in output.splitlines() if "client_secret=" in line]
    return line.split("client_secret=")[1]


def _refused(result, status: int = 1) -> None:  # type: ignore[no-untyped-def]
    """A clean CLI error: the given exit status, a message, no traceback."""
    assert result.exit_code == status, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


def _json_file(tmp_path: Path, content: Any) -> str:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")
    return str(path)


def test_create_with_every_option(runner) -> None:
    result = _client(runner, "create", "--client-id", "cong-dvc", "--name", "Cổng Dịch vụ công",
                     "--redirect-uri", "https://dvc.example.vn/cb", "--redirect-uri", "http://127.0.0.1:8080/cb",
                     "--post-logout-redirect-uri", "https://dvc.example.vn/",
                     "--grant-type", "authorization_code", "--grant-type", "refresh_token",
                     "--response-type", "code", "--scope", "openid profile org",
                     "--auth-method", "client_secret_post", "--id-token-alg", "ES256", "--access-token-alg", "EdDSA",
                     "--backchannel-logout-uri", "https://dvc.example.vn/bc",
                     "--no-backchannel-logout-session-required",
                     "--frontchannel-logout-uri", "https://dvc.example.vn/fc",
                     "--no-frontchannel-logout-session-required",
                     "--skip-consent", "--require-mfa", "--require-pkce")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "created client_id=cong-dvc"
    secret = _secret(result.stdout)
    assert len(secret) >= 43 and result.stdout.count(secret) == 1
    assert "cannot be shown again" in result.stderr
    client = client_registry.get("cong-dvc")
    assert client_registry.verify_secret(client, secret)
    assert client.redirect_uris == ["https://dvc.example.vn/cb", "http://127.0.0.1:8080/cb"]
    assert client.post_logout_redirect_uris == ["https://dvc.example.vn/"]
    assert client.grant_types == ["authorization_code", "refresh_token"] and client.response_types == ["code"]
    assert client.scope == "openid profile org" and client.token_endpoint_auth_method == "client_secret_post"
    assert (client.id_token_signed_response_alg, client.access_token_signed_response_alg) == ("ES256", "EdDSA")
    assert client.backchannel_logout_uri == "https://dvc.example.vn/bc"
    assert client.frontchannel_logout_uri == "https://dvc.example.vn/fc"
    assert not client.backchannel_logout_session_required and not client.frontchannel_logout_session_required
    assert client.skip_consent and client.require_mfa and client.require_pkce is True
    [event] = audit_events.recent(event="client.created")
    assert event.client_id == "cong-dvc" and secret not in str(event.details)


def test_create_with_defaults(runner) -> None:
    result = _client(runner, "create", "--name", "Cổng", "--redirect-uri", "https://dvc.example.vn/cb")
    assert result.exit_code == 0, result.output
    client_id = result.stdout.splitlines()[0].removeprefix("created client_id=")
    client = client_registry.get(client_id)
    assert client.require_pkce is None and not client.skip_consent and not client.require_mfa
    assert client.backchannel_logout_session_required and client.scope == "openid profile email"


def test_create_public_and_private_key_jwt_clients_prints_no_secret(runner, tmp_path: Path) -> None:
    public = _client(runner, "create", "--client-id", "app", "--name", "Ứng dụng", "--auth-method", "none",
                     "--redirect-uri", "vn.gov.thanhhoa.app:/cb")
    assert public.exit_code == 0, public.output
    assert "client_secret" not in public.output
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [ECKey.generate_key("P-256").as_dict(private=False)]}))
    signed = _client(runner, "create", "--client-id", "ky-so", "--name", "Ký số", "--auth-method", "private_key_jwt",
                     "--jwks-file", str(jwks), "--redirect-uri", "https://kyso.example.vn/cb")
    assert signed.exit_code == 0, signed.output
    assert "client_secret" not in signed.output
    assert client_registry.get("ky-so").jwks == json.loads(jwks.read_text())


def test_create_with_a_chosen_secret_does_not_echo_it(runner) -> None:
    result = _client(runner, "create", "--client-id", "cong-dvc", "--name", "Cổng",
                     "--redirect-uri", "https://dvc.example.vn/cb", "--secret-stdin", input=CHOSEN_SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert CHOSEN_SECRET not in result.output and "client_secret" not in result.output
    assert client_registry.verify_secret(client_registry.get("cong-dvc"), CHOSEN_SECRET)


def test_create_refuses_bad_input(runner, tmp_path: Path) -> None:
    http = _client(runner, "create", "--name", "Cổng", "--redirect-uri", "http://dvc.example.vn/cb")
    _refused(http)
    assert "redirect_uris: 'http://dvc.example.vn/cb' must use https" in http.output
    short = _client(runner, "create", "--name", "Cổng", "--redirect-uri", "https://dvc.example.vn/cb",
                    "--secret-stdin", input="ngắn\n")
    _refused(short)
    assert "client_secret: a chosen secret must be at least 32" in short.output
    _refused(_client(runner, "create", "--name", "Cổng", "--redirect-uri", "https://dvc.example.vn/cb",
                     "--secret-stdin", input=""), status=2)
    _refused(_client(runner, "create", "--redirect-uri", "https://dvc.example.vn/cb"), status=2)  # no --name
    _refused(_client(runner, "create", "--name", "Cổng", "--jwks-file", str(tmp_path / "missing.json")), status=2)
    broken = tmp_path / "jwks.json"
    broken.write_text("{not json")
    bad_jwks = _client(runner, "create", "--name", "Cổng", "--jwks-file", str(broken))
    _refused(bad_jwks)
    assert "not a UTF-8 JSON file" in bad_jwks.output
    _refused(_client(runner, "create", "--client-id", "x", "--name", "Cổng", "--grant-type", "implicit"))
    assert client_registry.all_clients() == []


def test_create_refuses_a_taken_client_id(runner) -> None:
    args = ("create", "--client-id", "cong-dvc", "--name", "Cổng", "--redirect-uri", "https://dvc.example.vn/cb")
    assert _client(runner, *args).exit_code == 0
    again = _client(runner, *args)
    _refused(again)
    assert "client_id: cong-dvc is already registered" in again.output


def test_list(runner) -> None:
    assert _client(runner, "list").output == ""
    client_registry.import_clients([PORTAL, MOBILE])
    client_registry.set_enabled("app", False)
    result = _client(runner, "list")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "app\tỨng dụng Thanh Hóa số\tnone\tauthorization_code\tdisabled",
        "cong-dvc\tCổng Dịch vụ công tỉnh Thanh Hóa\tclient_secret_basic\tauthorization_code\tenabled",
    ]


def test_import_twice_creates_then_updates(runner, tmp_path: Path) -> None:
    path = _json_file(tmp_path, [PORTAL, MOBILE, {**PORTAL, "client_id": "chosen", "client_secret": CHOSEN_SECRET}])
    first = _client(runner, "import", path)
    assert first.exit_code == 0, first.output
    lines = first.stdout.splitlines()
    assert lines[0] == "created cong-dvc" and lines[1].startswith("  client_secret=")
    assert lines[2:] == ["created app", "created chosen"]  # no secret to show for these two
    assert CHOSEN_SECRET not in first.output
    portal_secret = _secret(first.stdout)
    again = _client(runner, "import", path)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["unchanged cong-dvc", "unchanged app", "unchanged chosen"]
    path = _json_file(tmp_path, [{**PORTAL, "scope": "openid org"}, MOBILE])
    third = _client(runner, "import", path)
    assert third.stdout.splitlines() == ["updated cong-dvc (scope)", "unchanged app"]
    assert len(client_registry.all_clients()) == 3
    assert client_registry.verify_secret(client_registry.get("cong-dvc"), portal_secret)
    assert client_registry.verify_secret(client_registry.get("chosen"), CHOSEN_SECRET)


def test_import_is_all_or_nothing(runner, tmp_path: Path) -> None:
    path = _json_file(tmp_path, [PORTAL, {**MOBILE, "grant_types": ["client_credentials"]}])
    result = _client(runner, "import", path)
    _refused(result)
    assert "entry 1: grant_types: a public client (auth method none) cannot use client_credentials" in result.output
    assert client_registry.all_clients() == [] and audit_events.recent() == []


def test_import_refuses_files_that_are_not_a_list_of_clients(runner, tmp_path: Path) -> None:
    for content in (PORTAL, [PORTAL, "app"]):
        result = _client(runner, "import", _json_file(tmp_path, content))
        _refused(result)
        assert "expected a JSON list of objects" in result.output
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"[\xff]")
    _refused(_client(runner, "import", str(broken)))
    _refused(_client(runner, "import", str(tmp_path / "missing.json")), status=2)
    assert client_registry.all_clients() == []


def test_rotate_secret(runner) -> None:
    [saved] = client_registry.import_clients([PORTAL])
    result = _client(runner, "rotate-secret", "cong-dvc")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "rotated cong-dvc"
    client = client_registry.get("cong-dvc")
    assert client_registry.verify_secret(client, _secret(result.stdout))
    assert not client_registry.verify_secret(client, saved.secret)
    unknown = _client(runner, "rotate-secret", "khong-co")
    _refused(unknown)
    assert "no client with client_id khong-co" in unknown.output
    client_registry.import_clients([MOBILE])
    public = _client(runner, "rotate-secret", "app")
    _refused(public)
    assert "it has no secret" in public.output


def test_disable_and_enable(runner) -> None:
    client_registry.import_clients([PORTAL])
    assert _client(runner, "disable", "cong-dvc").output == "disabled cong-dvc\n"
    assert not client_registry.get("cong-dvc").enabled
    assert _client(runner, "enable", "cong-dvc").output == "enabled cong-dvc\n"
    assert client_registry.get("cong-dvc").enabled
    _refused(_client(runner, "disable", "khong-co"))
    assert [e.event for e in audit_events.recent()][:2] == ["client.enabled", "client.disabled"]
