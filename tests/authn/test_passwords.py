"""argon2id hashing: parameters from configuration, rehash on change, no timing oracle."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from idp.authn import argon2id, passwords
from idp.storage import subjects
from tests.conftest import DEFAULT_PASSWORD, new_id_number
from tests.helpers.forms import sign_in


def test_default_parameters_follow_owasp() -> None:
    import config

    assert (config.IDP_ARGON2_MEMORY_KIB, config.IDP_ARGON2_TIME_COST, config.IDP_ARGON2_PARALLELISM) == (19456, 2, 1)


def test_hash_is_argon2id_with_configured_parameters(app: Flask) -> None:
    encoded = passwords.hash_password("một mật khẩu")
    assert encoded.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert passwords.check(encoded, "một mật khẩu").ok
    assert not passwords.check(encoded, "mot mat khau").ok
    assert not passwords.check("not a hash", "x").ok


def test_sign_in_rehashes_when_parameters_change(app: Flask, client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    before = subjects.get_password(citizen.subject.id).password_hash
    app.config["IDP_ARGON2_MEMORY_KIB"] = 512
    app.config["IDP_ARGON2_TIME_COST"] = 2
    assert sign_in(client, citizen.id_number, DEFAULT_PASSWORD).status_code == 302
    after = subjects.get_password(citizen.subject.id).password_hash
    assert before.startswith("$argon2id$v=19$m=256,t=1,p=1$")
    assert after.startswith("$argon2id$v=19$m=512,t=2,p=1$")
    assert passwords.check(after, DEFAULT_PASSWORD).ok


def test_unknown_identifier_costs_the_same_hash_as_a_wrong_password(
    client: FlaskClient, make_citizen, monkeypatch
) -> None:
    """Count argon2 verifications (and their parameters) on both paths: they must be equal."""
    calls: list[str] = []
    real_verify = argon2id.verify

    def counting_verify(memory: argon2id.WorkingMemory, encoded: str, password: str) -> bool:
        calls.append(encoded.split("$")[3])  # the m=,t=,p= parameter field
        return real_verify(memory, encoded, password)

    monkeypatch.setattr(argon2id, "verify", counting_verify)
    citizen = make_citizen()
    sign_in(client, citizen.id_number, "wrong password!")
    known = list(calls)
    calls.clear()
    sign_in(client, new_id_number(), "wrong password!")
    assert known == calls == ["m=256,t=1,p=1"]
