"""Officials sign in against the directory: just-in-time subjects keyed by entryUUID, refreshed at each
sign-in; wrong passwords, injection, ppolicy lock and disabled entries refused, never with a 500."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ldap3
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from idp.identity import ldap
from idp.storage import audit_events, db, subjects
from idp.storage.sessions import SsoSession
from idp.storage.subjects import Subject, SubjectKind, SubjectStatus
from tests.conftest import make_app
from tests.helpers import directory_data as data
from tests.helpers.directory_settings import directory_settings
from tests.helpers.forms import csrf_token, csrf_token_in, sign_in
from tests.helpers.queries import statements
from tests.helpers.slapd import Slapd

MakeOfficial = Callable[..., data.Official]
LAN = data.OFFICIALS_BY_UID["lan.nt"]
WRONG = "Số định danh/email hoặc mật khẩu không đúng."
LOCKED = "Tài khoản này đã bị khóa. Vui lòng liên hệ bộ phận hỗ trợ."
DISABLED = "Tài khoản này đã bị vô hiệu hóa. Vui lòng liên hệ bộ phận hỗ trợ."


def subject_of(official: data.Official) -> Subject | None:
    identity = subjects.find_identity(ldap.SOURCE, official.entry_uuid)
    return identity.subject if identity else None


def assert_refused(response: TestResponse, message: str, status: int = 200) -> None:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert message in response.get_data(as_text=True)
    assert not any(c.startswith("dn_sso=") for c in response.headers.getlist("Set-Cookie"))


def events(name: str) -> list[audit_events.AuditEvent]:
    return audit_events.recent(event=name)


# --- signing in ---------------------------------------------------------------------------------------


def test_official_signs_in_and_is_created_just_in_time(client: FlaskClient) -> None:
    assert subject_of(LAN) is None

    response = sign_in(client, "lan.nt", LAN.password)

    # The password is right; officials always owe a second factor (here: enrolment, none yet).
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/second-factor")
    subject = subject_of(LAN)
    assert subject is not None and subject.kind == SubjectKind.OFFICIAL and subject.status == SubjectStatus.ACTIVE
    assert (subject.full_name, subject.email, subject.email_verified) == ("Nguyễn Thị Lan", LAN.mail, True)
    assert (subject.phone, subject.title, subject.org_unit.code) == ("+84 237 3852 101", "Chuyên viên", "SNV")
    identity = subjects.find_identity(ldap.SOURCE, LAN.entry_uuid)
    assert identity.dn == LAN.dn and identity.synced_at is not None
    assert subject.sub not in (LAN.uid, LAN.dn, LAN.entry_uuid)  # ours, not the directory's
    [linked] = events("account.linked")
    [password_ok] = events("login.password_ok")
    assert linked.subject == password_ok.subject == subject.sub
    assert password_ok.details == {"second_factor": "enrol", "reason": "official"}
    session = db.session.execute(select(SsoSession).where(SsoSession.subject_id == subject.id)).scalar_one()
    assert session.pending_factor == "enrol"


def test_first_sign_ins_at_once_make_one_unit_and_one_official_each(app: Flask) -> None:
    """Officials of a unit not known yet sign in at the same moment (one of them twice, a double
    click): each unit and each person is made once, and nobody gets an error page."""
    people = [LAN, data.OFFICIALS_BY_UID["hung.tv"], LAN, data.OFFICIALS_BY_UID["huong.pt"],
              data.OFFICIALS_BY_UID["duc.hv"]]
    start = threading.Barrier(len(people))
    statuses: dict[int, int] = {}

    def first_sign_in(index: int, official: data.Official) -> None:
        client = app.test_client()
        token = csrf_token(client, "/login")
        start.wait(timeout=30)
        response = client.post("/login", data={"csrf_token": token, "identifier": official.uid,
                                                "password": official.password})
        statuses[index] = response.status_code

    threads = [threading.Thread(target=first_sign_in, args=pair) for pair in enumerate(people)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert statuses == dict.fromkeys(range(len(people)), 302)
    with app.app_context():
        units = [subject_of(official).org_unit.code for official in people]  # type: ignore[union-attr]
        assert units == ["SNV", "SNV", "SNV", "XA-DONGTIEN", "XA-DONGTIEN"]
        assert len({subject_of(official).org_unit_id for official in people}) == 2  # type: ignore[union-attr]
        assert len(events("account.linked")) == 4


def test_directory_email_signs_in_the_same_official(client: FlaskClient, app: Flask) -> None:
    assert sign_in(client, "lan.nt", LAN.password).status_code == 302
    sub = subject_of(LAN).sub

    other = app.test_client()
    assert sign_in(other, "  Lan.NT@ThanhHoa.gov.vn ", LAN.password).status_code == 302

    assert subject_of(LAN).sub == sub
    assert db.session.execute(select(Subject).where(Subject.kind == SubjectKind.OFFICIAL)).scalars().all() == \
        [subject_of(LAN)]
    assert len(events("account.linked")) == 1


def test_each_sign_in_refreshes_name_contact_title_unit_and_roles(client: FlaskClient, slapd: Slapd,
                                                                  make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(title="Chuyên viên", phone="+84 237 3852 111")
    assert sign_in(client, official.uid, official.password).status_code == 302
    subject = subject_of(official)
    sub, first_updated = subject.sub, subject.updated_at
    assert subjects.roles_of(subject.id) == []

    slapd.modify(official.dn, cn=["Ngô Bảo Châu Anh"], title=["Phó Trưởng phòng"], telephoneNumber=[],
                 departmentNumber=["XA-DONGTIEN"])
    slapd.set_membership("quan-tri-don-vi", official.dn, True)
    assert sign_in(client, official.uid, official.password).status_code == 302

    db.session.expire_all()
    subject = subject_of(official)
    assert subject.sub == sub
    assert (subject.full_name, subject.title, subject.phone) == ("Ngô Bảo Châu Anh", "Phó Trưởng phòng", None)
    assert subject.org_unit.code == "XA-DONGTIEN"
    assert subjects.roles_of(subject.id) == ["unit_admin"]
    assert subject.updated_at >= first_updated

    slapd.set_membership("quan-tri-don-vi", official.dn, False)
    assert sign_in(client, official.uid, official.password).status_code == 302
    assert subjects.roles_of(subject.id) == []


@pytest.mark.parametrize(("uid", "roles"), [("hung.tv", ["admin"]), ("duc.hv", ["unit_admin"]), ("lan.nt", [])])
def test_groups_give_roles_through_the_role_map(client: FlaskClient, uid: str, roles: list[str]) -> None:
    official = data.OFFICIALS_BY_UID[uid]
    assert sign_in(client, uid, official.password).status_code == 302
    assert subjects.roles_of(subject_of(official).id) == roles  # can-bo-* groups are in no role


def test_rename_and_move_keep_the_sub(client: FlaskClient, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(unit="SNV")
    assert sign_in(client, official.uid, official.password).status_code == 302
    sub = subject_of(official).sub

    renamed = slapd.rename(official.dn, uid="chau.nb.moi")
    assert sign_in(client, official.uid, official.password).status_code == 200  # the old uid is gone
    assert sign_in(client, "chau.nb.moi", official.password).status_code == 302
    moved = slapd.rename(renamed, parent_dn=data.SECONDED_DN)
    slapd.modify(moved, departmentNumber=["SYT"])
    assert sign_in(client, "chau.nb.moi", official.password).status_code == 302

    db.session.expire_all()
    subject = subject_of(official)  # found by the entryUUID the seed gave the first DN
    assert subject.sub == sub and subject.org_unit.code == "SYT"
    assert subjects.find_identity(ldap.SOURCE, official.entry_uuid).dn == f"uid=chau.nb.moi,{data.SECONDED_DN}"
    assert len(db.session.execute(select(Subject).where(Subject.kind == SubjectKind.OFFICIAL)).all()) == 1


# --- refusals -----------------------------------------------------------------------------------------


def test_wrong_password_and_unknown_uid_get_the_same_answer(client: FlaskClient) -> None:
    assert_refused(sign_in(client, "lan.nt", "Mật-khẩu-sai-2024"), WRONG)
    assert_refused(sign_in(client, "khong.co.ai", "Mật-khẩu-sai-2024"), WRONG)
    assert_refused(sign_in(client, "lan.nt", LAN.password.upper()), WRONG)

    assert subject_of(LAN) is None  # nobody is created by a failed sign-in
    failures = events("login.failure")
    assert [e.details["reason"] for e in failures] == ["directory_password"] * 3
    assert all(e.subject is None for e in failures)


def test_empty_password_is_refused_before_the_directory_is_asked(client: FlaskClient, app: Flask,
                                                                 slapd: Slapd) -> None:
    response = client.post("/login", data={"identifier": "lan.nt", "password": "",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 400

    slapd.stop()  # proof that nobody asks it: a stopped server would make this DirectoryUnavailable
    directory = ldap.directory()
    assert directory.authenticate("lan.nt", "") is None
    assert directory.authenticate("", LAN.password) is None


INJECTIONS = ["*", "admin)(|(uid=*", "*)(uid=*))(|(uid=*", "lan.nt)(|(uid=*", "lan*", "*)(objectClass=*",
              "lan.nt\\00", "*@thanhhoa.gov.vn", "*)(uid=*))(|(uid=*@thanhhoa.gov.vn", "lan.nt)(mail=*@thanhhoa.gov.vn",
              "(uid=lan.nt)"]


@pytest.mark.parametrize("identifier", INJECTIONS)
def test_ldap_injection_never_authenticates_and_never_fails(client: FlaskClient, identifier: str) -> None:
    for password in (LAN.password, "*", data.GENERATED_PASSWORD):
        response = sign_in(client, identifier, password)
        assert response.status_code == 200, (identifier, response.status_code)
        assert WRONG in response.get_data(as_text=True)
    # Straight to the directory too, past the routing that already refuses most of these shapes.
    assert ldap.directory().authenticate(identifier, LAN.password) is None
    assert not db.session.execute(select(SsoSession)).first()


def test_directory_locks_after_repeated_failures_with_a_clear_message(client: FlaskClient, slapd: Slapd,
                                                                      make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    for _ in range(data.MAX_PASSWORD_FAILURES - 1):
        assert_refused(sign_in(client, official.uid, "sai-mật-khẩu"), WRONG)
    # The failure that reaches the policy's limit locks the entry, and says so.
    assert_refused(sign_in(client, official.uid, "sai-mật-khẩu"), LOCKED, 403)
    assert_refused(sign_in(client, official.uid, official.password), LOCKED, 403)

    assert slapd.bind_result(official.dn, official.password) == 49  # the directory's lock, not ours
    refused = events("login.refused")
    assert refused and all(e.details["reason"] == "directory_locked" for e in refused)
    assert subject_of(official) is None


@pytest.mark.parametrize("password", ["right", "wrong"])
def test_a_sign_in_opens_one_directory_connection(client: FlaskClient, monkeypatch: pytest.MonkeyPatch,
                                                  password: str) -> None:
    """The service account's search and the official's bind share one (TLS) connection; after a
    refused bind it reads the lock as the service account again."""
    opened: list[str] = []

    class Counted(ldap3.Connection):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            opened.append(kwargs["user"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(ldap, "Connection", Counted)
    response = sign_in(client, "lan.nt", LAN.password if password == "right" else "sai-mật-khẩu")
    assert response.status_code == (302 if password == "right" else 200)
    assert opened == [data.SERVICE_DN]


def test_a_sign_in_with_nothing_to_copy_writes_the_sync_time_with_its_session(client: FlaskClient, app: Flask,
                                                                              slapd: Slapd) -> None:
    """The usual sign-in of a known official: the entry is compared with what was copied of it, read
    with the person and the policy's facts in one query, and only the identity's DN and sync time are
    written, with the session, by plain statements."""
    assert sign_in(client, "lan.nt", LAN.password).status_code == 302  # linked: created, copied
    identity = subjects.find_identity(ldap.SOURCE, LAN.entry_uuid)
    first_sync = identity.synced_at  # type: ignore[union-attr]
    other = app.test_client()
    page = other.get("/login").text
    with statements(transactions=True) as seen:
        again = other.post("/login", data={"csrf_token": csrf_token_in(page), "identifier": "lan.nt",
                                           "password": LAN.password})
    assert again.status_code == 302 and again.headers["Location"].startswith("/login/second-factor")
    assert seen == [
        "SELECT login_throttle",
        "SELECT identity",  # with the person, the unit's code, the TOTP enrolment and the roles
        "BEGIN writing",
        "INSERT sso_session",
        "UPDATE identity",  # the DN and the sync time
        "INSERT audit_event",  # login.password_ok
        "COMMIT writing",
    ]
    db.session.expire_all()
    identity = subjects.find_identity(ldap.SOURCE, LAN.entry_uuid)
    assert identity.synced_at > first_sync and identity.dn == LAN.dn  # type: ignore[union-attr,operator]


def test_disabled_entry_is_refused_only_after_the_right_password(client: FlaskClient) -> None:
    thao = data.OFFICIALS_BY_UID["thao.dt"]
    assert_refused(sign_in(client, "thao.dt", "không-phải-mật-khẩu"), WRONG)  # reveals nothing
    assert_refused(sign_in(client, "thao.dt", thao.password), DISABLED, 403)

    assert [e.details["reason"] for e in events("login.refused")] == ["directory_disabled"]
    assert subject_of(thao) is None


def test_the_password_is_never_stored_or_logged(client: FlaskClient, make_ldap_official: MakeOfficial,
                                                caplog: pytest.LogCaptureFixture) -> None:
    official = make_ldap_official(password="Bí-mật-không-ghi-lại-9731")
    caplog.set_level(logging.DEBUG)
    assert sign_in(client, official.uid, "Sai-bí-mật-không-ghi-8642").status_code == 200
    assert sign_in(client, official.uid, official.password).status_code == 302

    assert "Bí-mật" not in caplog.text and "Sai-bí-mật" not in caplog.text
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(table.select()):
            assert "Bí-mật" not in repr(row) and "Sai-bí-mật" not in repr(row), table.name


# --- a policy whose lock expires (its own server: the seed's policy never unlocks) ---------------------


# Long enough that the three attempts above surely fall inside the lock on a busy machine (a 1 s lock
# expired between them once in CI), short enough to wait out.
LOCKOUT_SECONDS = 4


def _short_lock_server(root: Path) -> tuple[Slapd, data.Official]:
    server = Slapd(root, name="slapd-short-lock")
    server.start()
    policy = f"cn=court,{data.POLICIES_DN}"
    conn = server.connection()
    assert conn.add(policy, attributes={
        "objectClass": ["top", "device", "pwdPolicy"], "cn": ["court"], "pwdAttribute": ["userPassword"],
        "pwdLockout": ["TRUE"], "pwdMaxFailure": ["2"], "pwdLockoutDuration": [str(LOCKOUT_SECONDS)],
        "pwdFailureCountInterval": ["0"]}), conn.result
    official = data.Official("khoa.ngan", "Lý", "Văn Khoa", "STC", password=data.GENERATED_PASSWORD)
    server.add_official(official)
    assert conn.modify(official.dn, {"pwdPolicySubentry": [(ldap3.MODIFY_REPLACE, [policy])]}), conn.result
    return server, official


def test_a_lock_the_policy_lets_expire_no_longer_refuses(app_config: dict[str, Any], tmp_path: Path) -> None:
    server, official = _short_lock_server(tmp_path / "slapd")
    try:
        app = make_app({**app_config, **directory_settings(server)})
        with app.app_context():
            directory = ldap.directory()
            assert directory.authenticate(official.uid, "sai") is None
            with pytest.raises(ldap.DirectoryAccountLocked):
                directory.authenticate(official.uid, "sai")
            with pytest.raises(ldap.DirectoryAccountLocked):
                directory.authenticate(official.uid, official.password)
            time.sleep(LOCKOUT_SECONDS + 0.5)
            entry = directory.authenticate(official.uid, official.password)
            assert entry is not None and entry.entry_uuid == official.entry_uuid
    finally:
        server.cleanup()
