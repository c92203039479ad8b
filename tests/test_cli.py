"""The operator commands under ``flask --app wsgi idp``."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from idp.identity import local
from idp.storage import audit_events
from idp.storage.subjects import SubjectStatus
from tests.conftest import new_id_number
from tests.helpers.forms import sign_in

PASSWORD = "Một-mật-khẩu-mới-2025"


def _create(runner, number: str, *extra: str, password: str = PASSWORD):  # type: ignore[no-untyped-def]
    return runner.invoke(args=["idp", "user", "create", "--id-number", number, "--name", "Phạm Minh Châu",
                               *extra, "--password-stdin"], input=password + "\n")


def test_user_create_then_sign_in(runner, client: FlaskClient) -> None:
    number = new_id_number(digit="1", year="92")
    result = _create(runner, number, "--email", "Chau.Pham@Example.vn", "--phone", "0987654321",
                     "--address", "Số 1 Lê Lợi, Thanh Hóa", "--birthdate", "1992-03-04")
    assert result.exit_code == 0, result.output
    assert "created citizen sub=" in result.output
    subject = local.find(number)
    assert subject.full_name == "Phạm Minh Châu" and subject.birthdate.isoformat() == "1992-03-04"
    assert subject.email == "chau.pham@example.vn" and subject.email_verified  # operator-given: verified
    assert number not in str(subject.sub)
    assert sign_in(client, "chau.pham@example.vn", PASSWORD).status_code == 302
    [event] = audit_events.recent(event="account.created")
    assert event.subject == subject.sub and number not in str(event.details)


def test_user_create_refuses_bad_input(runner) -> None:
    bad_number = _create(runner, "003090123456")
    assert bad_number.exit_code == 1 and "invalid personal identification number (province)" in bad_number.output
    number = new_id_number(year="90")
    wrong_year = _create(runner, number, "--birthdate", "1991-01-01")
    assert wrong_year.exit_code == 1 and "birth date does not match" in wrong_year.output
    weak = _create(runner, number, password="short")
    assert weak.exit_code == 1 and "password rejected: too short" in weak.output
    bad_date = _create(runner, number, "--birthdate", "04/03/1992")
    assert bad_date.exit_code == 2
    no_password = runner.invoke(args=["idp", "user", "create", "--id-number", number, "--name", "A",
                                      "--password-stdin"], input="")
    assert no_password.exit_code == 2
    assert local.find(number) is None  # nothing half-written


def test_duplicate_id_number_is_refused(runner) -> None:
    number = new_id_number()
    assert _create(runner, number).exit_code == 0
    again = _create(runner, number)
    assert again.exit_code == 1 and "already exists" in again.output


def test_set_password_replaces_it_and_ends_sessions(runner, client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    result = runner.invoke(args=["idp", "user", "set-password", citizen.id_number, "--password-stdin"],
                           input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert client.get("/account").status_code == 302  # the old session is gone
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 200
    assert sign_in(client, citizen.id_number, PASSWORD).status_code == 302


def test_lock_and_unlock(app: Flask, runner, client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    sign_in(client, citizen.id_number, citizen.password)
    assert runner.invoke(args=["idp", "user", "lock", citizen.id_number]).exit_code == 0
    assert local.find(citizen.id_number).status == SubjectStatus.LOCKED
    assert client.get("/account").status_code == 302
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 403
    assert runner.invoke(args=["idp", "user", "unlock", citizen.id_number]).exit_code == 0
    assert sign_in(client, citizen.id_number, citizen.password).status_code == 302


def test_unknown_identifier_is_an_error(runner) -> None:
    result = runner.invoke(args=["idp", "user", "lock", new_id_number()])
    assert result.exit_code == 1 and "no citizen account" in result.output


def test_demo_seed_is_idempotent_and_prints_working_credentials(runner, client: FlaskClient) -> None:
    first = runner.invoke(args=["idp", "demo", "seed"])
    second = runner.invoke(args=["idp", "demo", "seed"])
    assert first.exit_code == second.exit_code == 0
    assert first.output == second.output
    password = first.output.split("password:")[1].split()[0]
    assert sign_in(client, "038090123456", password).status_code == 302
