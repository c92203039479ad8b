"""Audit events for sign-in success, failure, lock and sign-out, without secrets or ID numbers."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from idp import audit
from idp.storage import audit_events
from tests.conftest import new_id_number
from tests.helpers.forms import sign_in, sign_out


def test_sign_in_and_out_are_audited(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    unknown = new_id_number()
    sign_in(client, citizen.id_number, "wrong password")
    sign_in(client, unknown, "wrong password")
    sign_in(client, citizen.id_number, citizen.password)
    sign_out(client)
    events = list(reversed(audit_events.recent()))
    kinds = [(e.event, e.subject) for e in events if e.event.startswith(("login", "logout"))]
    sub = citizen.subject.sub
    assert kinds == [("login.failure", sub), ("login.failure", None), ("login.success", sub), ("logout", sub)]
    assert events[-1].ip_address == "127.0.0.1"
    for event in events:
        text = repr(event.details)
        assert citizen.id_number not in text and unknown not in text and citizen.password not in text


def test_lock_is_audited(client: FlaskClient, make_citizen) -> None:
    citizen = make_citizen()
    for _ in range(5):
        sign_in(client, citizen.id_number, "wrong password")
    [locked] = audit_events.recent(event="login.locked")
    assert locked.subject == citizen.subject.sub


def test_record_refuses_secret_looking_details(app: Flask) -> None:
    with pytest.raises(ValueError, match="password"):
        audit.record("x", password="p")
    with pytest.raises(ValueError, match="id_number"):
        audit.record("x", id_number="038090123456")
