"""Consent: asked in plain words, remembered per (person, client, scopes), asked again only for more."""

from __future__ import annotations

import re
import threading

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.storage import audit_events, db, interactions
from idp.storage.grants import Consent
from tests.helpers.forms import hidden_value, sign_in
from tests.helpers.oidc import authorize_params, drive, interaction_uid, redirect_params, register_client


def _start(client: FlaskClient, rp, **overrides):  # type: ignore[no-untyped-def]
    response = client.get("/authorize", query_string=authorize_params(rp, **overrides))
    return client.get(response.headers["Location"])


def test_consent_page_lists_what_the_app_receives(client: FlaskClient, citizen) -> None:
    rp = register_client(client_name="Cổng phản ánh kiến nghị")
    sign_in(client, citizen.id_number, citizen.password)
    page = _start(client, rp, scope="openid profile email phone").get_data(as_text=True)
    assert "Ứng dụng Cổng phản ánh kiến nghị muốn truy cập:" in page
    for words in ("Họ tên và hồ sơ", "Thư điện tử (email)", "Số điện thoại"):
        assert words in page
    assert "Địa chỉ" not in page
    assert "Cho phép" in page and "Từ chối" in page


def test_allow_gives_a_code_and_is_remembered(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    first = drive(client, client.get("/authorize", query_string=authorize_params(rp)))
    assert "code" in redirect_params(first)
    # Same scopes again: no page.
    again = client.get("/authorize", query_string=authorize_params(rp))
    assert "code" in redirect_params(again)
    [event] = audit_events.recent(event="consent.granted")
    assert event.subject == citizen.subject.sub and event.client_id == rp.client_id


def test_a_double_click_on_allow_never_fails(app: Flask, client: FlaskClient, citizen) -> None:
    """The consent form sent several times at once (a double click, a reload): each answer goes on
    to the client, or says the request was already answered; one consent is recorded, never a 500."""
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    body = _start(client, rp).get_data(as_text=True)
    form = {"csrf_token": hidden_value(body, "csrf_token"), "decision": "allow"}
    action = re.search(r'<form method="post" action="([^"]+)"', body).group(1)  # type: ignore[union-attr]
    cookies = {name: client.get_cookie(name) for name in ("dn_sso", "dn_form")}
    clicks = 3
    start = threading.Barrier(clicks)
    statuses: list[int] = []

    def click() -> None:
        browser = app.test_client()  # the same browser: its cookies
        for name, cookie in cookies.items():
            browser.set_cookie(name, cookie.value)  # type: ignore[union-attr]
        start.wait(timeout=30)
        statuses.append(browser.post(action, data=form).status_code)

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert len(statuses) == clicks and 302 in statuses and set(statuses) <= {302, 400}
    consents = db.session.execute(select(Consent).where(Consent.subject_id == citizen.subject.id)).scalars().all()
    assert [consent.client_id for consent in consents] == [rp.client_id]


def test_new_scope_asks_again(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    drive(client, client.get("/authorize", query_string=authorize_params(rp, scope="openid profile")))
    response = client.get("/authorize", query_string=authorize_params(rp, scope="openid profile phone"))
    assert "/interaction/" in response.headers["Location"]
    drive(client, response)
    # A subset of what was granted needs nothing.
    assert "code" in redirect_params(client.get("/authorize", query_string=authorize_params(rp, scope="openid")))


def test_deny_is_access_denied_for_the_client(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    params = authorize_params(rp)
    answer = redirect_params(drive(client, client.get("/authorize", query_string=params), decision="deny"))
    assert answer["error"] == "access_denied" and answer["state"] == params["state"] and "iss" in answer
    assert audit_events.recent(event="consent.denied")


def test_skip_consent_clients_never_ask(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    sign_in(client, citizen.id_number, citizen.password)
    assert "code" in redirect_params(client.get("/authorize", query_string=authorize_params(rp, prompt="consent")))


def test_prompt_consent_asks_even_when_granted(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    drive(client, client.get("/authorize", query_string=authorize_params(rp)))
    response = client.get("/authorize", query_string=authorize_params(rp, prompt="consent"))
    assert "/interaction/" in response.headers["Location"]
    assert "code" in redirect_params(drive(client, response))


def test_consent_is_per_person(client: FlaskClient, make_citizen, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    drive(client, client.get("/authorize", query_string=authorize_params(rp)))
    other = make_citizen(full_name="Trần Thị Bình")
    client.delete_cookie("dn_sso")
    sign_in(client, other.id_number, other.password)
    assert "/interaction/" in client.get("/authorize", query_string=authorize_params(rp)).headers["Location"]


def test_consent_post_needs_csrf(client: FlaskClient, citizen) -> None:
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    location = client.get("/authorize", query_string=authorize_params(rp)).headers["Location"]
    uid = interaction_uid(location)
    assert client.post(f"/interaction/{uid}/consent", data={"decision": "allow"}).status_code == 400


def test_expired_or_unknown_interaction_shows_a_page(client: FlaskClient) -> None:
    response = client.get("/interaction/does-not-exist")
    assert response.status_code == 400 and "đã hết hạn" in response.get_data(as_text=True)
    assert client.get("/authorize/resume/does-not-exist").status_code == 400


def test_interaction_cannot_be_resumed_twice(client: FlaskClient, citizen) -> None:
    rp = register_client(skip_consent=True)
    location = client.get("/authorize", query_string=authorize_params(rp)).headers["Location"]
    uid = interaction_uid(location)
    drive(client, client.get(location), citizen)
    assert client.get(f"/authorize/resume/{uid}").status_code == 400


def test_a_sign_in_the_request_asked_for_holds_through_the_consent_page(client: FlaskClient, citizen) -> None:
    """The sign-in is written to the interaction only when it waits again (here for consent): it must
    still count when the consent comes back, or prompt=login would ask for the password again."""
    rp = register_client()
    sign_in(client, citizen.id_number, citizen.password)
    location = client.get("/authorize", query_string=authorize_params(rp, prompt="login")).headers["Location"]
    uid = interaction_uid(location)
    login_page = client.get(location, follow_redirects=True).get_data(as_text=True)
    signed_in = client.post("/login", data={"csrf_token": hidden_value(login_page, "csrf_token"), "interaction": uid,
                                            "identifier": citizen.id_number, "password": citizen.password})
    to_consent = client.get(signed_in.headers["Location"])
    assert 'name="decision"' in to_consent.get_data(as_text=True)
    row = interactions.by_uid(uid)
    assert row is not None and row.prompt == "consent" and row.params["progress"]["signed_in_here"]
    assert row.login_sid is not None
    assert "code" in redirect_params(drive(client, to_consent))
    assert interactions.by_uid(uid) is None  # used up with the code
