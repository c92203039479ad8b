"""The directory sync: full and incremental, idempotent; disabling (sessions ended) those whose entry
vanished, left the user base or is disabled; renames and moves keep the ``sub``; groups → roles."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from idp.identity import ldap
from idp.identity import sync as sync_module
from idp.identity.sync import SyncSummary, sync
from idp.storage import audit_events, db, sessions, subjects, utcnow
from idp.storage.subjects import Identity, Subject, SubjectKind, SubjectStatus
from tests.conftest import make_app
from tests.helpers import directory_data as data
from tests.helpers.forms import sign_in
from tests.helpers.slapd import Slapd

MakeOfficial = Callable[..., data.Official]
SEED = len(data.OFFICIALS)
DISABLED = "Tài khoản này đã bị vô hiệu hóa. Vui lòng liên hệ bộ phận hỗ trợ."


def counts(summary: SyncSummary) -> tuple[int, int, int, int, int]:
    return summary.seen, summary.created, summary.updated, summary.unchanged, summary.disabled


def subject_of(official: data.Official) -> Subject:
    identity = subjects.find_identity(ldap.SOURCE, official.entry_uuid)
    assert identity is not None, official.uid
    return identity.subject


def state() -> dict[str, Any]:
    """Everything the sync writes, comparable between runs (synced_at aside)."""
    db.session.expire_all()
    rows = db.session.execute(select(Identity, Subject).join(Subject, Subject.id == Identity.subject_id)).all()
    return {identity.external_id: (subject.sub, subject.status, subject.full_name, subject.email, subject.phone,
                                   subject.title, subject.org_unit.code if subject.org_unit else None,
                                   identity.dn, tuple(subjects.roles_of(subject.id)))
            for identity, subject in rows}


def next_second() -> datetime:
    """A time after every change made so far, as modifyTimestamp counts (whole seconds)."""
    now = utcnow()
    time.sleep(1.05 - now.microsecond / 1_000_000)
    return utcnow().replace(microsecond=0)


def test_full_sync_creates_every_official(app: Flask) -> None:
    summary = sync()

    assert counts(summary) == (SEED, SEED, 0, 0, 0)
    hung, thao, yen = (subject_of(data.OFFICIALS_BY_UID[uid]) for uid in ("hung.tv", "thao.dt", "yen.vh"))
    assert (hung.full_name, hung.title, hung.org_unit.code, hung.kind) == \
        ("Trần Văn Hùng", "Giám đốc Sở", "SNV", SubjectKind.OFFICIAL)
    assert subjects.roles_of(hung.id) == ["admin"]
    assert subjects.roles_of(subject_of(data.OFFICIALS_BY_UID["duc.hv"]).id) == ["unit_admin"]
    assert thao.status == SubjectStatus.DISABLED  # disabled in the directory: created disabled
    assert yen.org_unit.code == "SYT"  # ou=seconded is inside the user base
    namesakes = [subject_of(data.OFFICIALS_BY_UID[uid]) for uid in ("an.nv", "an.nv2")]
    assert namesakes[0].sub != namesakes[1].sub
    [event] = audit_events.recent(event="ldap.sync")
    assert event.details == {"mode": "full", "seen": SEED, "created": SEED, "updated": 0, "disabled": 0}


def test_full_sync_is_idempotent(app: Flask) -> None:
    sync()
    before = state()

    summary = sync()

    assert counts(summary) == (SEED, 0, 0, SEED, 0)
    assert state() == before
    assert len(audit_events.recent(event="ldap.sync")) == 2


def test_sync_and_sign_in_agree_on_what_an_official_is(client: FlaskClient) -> None:
    lan = data.OFFICIALS_BY_UID["lan.nt"]
    assert sign_in(client, lan.uid, lan.password).status_code == 302
    sub = subject_of(lan).sub

    summary = sync()

    assert counts(summary) == (SEED, SEED - 1, 0, 1, 0)  # what sign-in wrote is what the sync would
    assert subject_of(lan).sub == sub


def test_rename_and_move_between_units_keep_the_sub(app: Flask, slapd: Slapd,
                                                    make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(unit="SNV", groups=("quan-tri-don-vi",))
    sync()
    sub = subject_of(official).sub

    new_dn = slapd.rename(official.dn, uid="chau.nb2", parent_dn=data.SECONDED_DN)
    slapd.modify(new_dn, departmentNumber=["PHUONG-HACTHANH"], title=["Chủ tịch UBND phường"])
    summary = sync()

    assert counts(summary) == (SEED + 1, 0, 1, SEED, 0)
    db.session.expire_all()
    subject = subject_of(official)
    assert (subject.sub, subject.org_unit.code, subject.title) == (sub, "PHUONG-HACTHANH", "Chủ tịch UBND phường")
    assert subjects.find_identity(ldap.SOURCE, official.entry_uuid).dn == new_dn
    assert subjects.roles_of(subject.id) == ["unit_admin"]  # memberof followed the rename


def test_group_changes_change_roles(app: Flask, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(groups=("can-bo-snv",))
    sync()
    subject_id = subject_of(official).id
    assert subjects.roles_of(subject_id) == []

    slapd.set_membership("quan-tri", official.dn, True)
    slapd.set_membership("quan-tri-don-vi", official.dn, True)
    assert counts(sync())[2] == 1
    assert subjects.roles_of(subject_id) == ["admin", "unit_admin"]

    slapd.set_membership("quan-tri", official.dn, False)
    assert counts(sync())[2] == 1
    assert subjects.roles_of(subject_id) == ["unit_admin"]


def test_full_sync_disables_vanished_moved_out_and_disabled_officials_and_ends_their_sessions(
        client: FlaskClient, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    deleted, archived, disabled, staying = (make_ldap_official() for _ in range(4))
    for official in (deleted, archived, disabled, staying):
        other = client.application.test_client()
        assert sign_in(other, official.uid, official.password).status_code == 302
    assert counts(sync()) == (SEED + 4, SEED, 0, 4, 0)

    slapd.delete(deleted.dn)
    slapd.rename(archived.dn, parent_dn=data.ARCHIVE_DN)  # outside the user base
    slapd.modify(disabled.dn, employeeType=["disabled"])
    summary = sync()

    assert counts(summary) == (SEED + 2, 0, 1, SEED + 1, 3)
    db.session.expire_all()
    for official in (deleted, archived, disabled):
        subject = subject_of(official)
        assert subject.status == SubjectStatus.DISABLED
        assert sessions.for_subject(subject.id) == []
    assert subject_of(staying).status == SubjectStatus.ACTIVE
    assert len(sessions.for_subject(subject_of(staying).id)) == 1
    reasons = {e.subject: e.details["reason"] for e in audit_events.recent(event="account.disabled")}
    assert reasons == {subject_of(deleted).sub: "directory_removed", subject_of(archived).sub: "directory_removed",
                       subject_of(disabled).sub: "directory_disabled"}
    assert DISABLED in sign_in(client, disabled.uid, disabled.password).get_data(as_text=True)
    assert counts(sync()) == (SEED + 2, 0, 0, SEED + 2, 0)  # idempotent: nobody disabled twice


def test_an_official_enabled_again_is_active_again(app: Flask, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(disabled=True)
    sync()
    assert subject_of(official).status == SubjectStatus.DISABLED

    slapd.modify(official.dn, employeeType=[])
    assert counts(sync())[2] == 1

    db.session.expire_all()
    assert subject_of(official).status == SubjectStatus.ACTIVE


def test_incremental_sync_reads_only_what_changed(app: Flask, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    changed, disabled = make_ldap_official(), make_ldap_official()
    assert sign_in(app.test_client(), disabled.uid, disabled.password).status_code == 302
    sync()
    since = next_second()

    slapd.modify(changed.dn, title=["Trưởng phòng"])
    slapd.modify(disabled.dn, employeeType=["disabled"])
    added = make_ldap_official()
    summary = sync(since)

    assert counts(summary) == (3, 1, 2, 0, 1)
    db.session.expire_all()
    assert subject_of(changed).title == "Trưởng phòng"
    assert subject_of(disabled).status == SubjectStatus.DISABLED
    assert sessions.for_subject(subject_of(disabled).id) == []
    assert subject_of(added).status == SubjectStatus.ACTIVE
    assert audit_events.recent(event="ldap.sync")[0].details["mode"] == "incremental"
    assert counts(sync(since)) == (3, 0, 0, 3, 0)  # idempotent


def test_incremental_sync_sees_group_changes_though_the_people_did_not_change(
        app: Flask, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(groups=("quan-tri",))
    sync()
    subject_id = subject_of(official).id
    assert subjects.roles_of(subject_id) == ["admin"]
    since = next_second()

    slapd.set_membership("quan-tri", official.dn, False)  # the person's entry keeps its modifyTimestamp
    summary = sync(since)

    assert (summary.seen, summary.updated) == (0, 1)
    assert subjects.roles_of(subject_id) == []


def test_incremental_sync_cannot_see_deletions(app: Flask, slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    sync()
    since = next_second()
    slapd.delete(official.dn)

    assert counts(sync(since)) == (0, 0, 0, 0, 0)
    assert subject_of(official).status == SubjectStatus.ACTIVE  # until the next full sync
    assert counts(sync())[4] == 1


def test_a_failed_read_disables_nobody(app: Flask, app_config: dict[str, Any], slapd: Slapd) -> None:
    sync()

    for setting, value in (("IDP_LDAP_USER_BASE", f"ou=nobody,{data.BASE_DN}"),  # noSuchObject
                           ("IDP_LDAP_USER_FILTER", "(objectClass=nothingAtAll)"),  # matches nobody
                           ("IDP_LDAP_GROUP_BASE", f"ou=nobody,{data.BASE_DN}")):
        broken = make_app({**app_config, setting: value})
        with broken.app_context():
            with pytest.raises(ldap.DirectoryUnavailable):
                sync()
            assert db.session.execute(
                select(Subject).where(Subject.status == SubjectStatus.DISABLED)).scalars().all() == \
                [subject_of(data.OFFICIALS_BY_UID["thao.dt"])], setting


def test_directory_down_fails_the_sync_and_changes_nothing(app: Flask, slapd: Slapd) -> None:
    sync()
    before = state()
    slapd.stop()

    with pytest.raises(ldap.DirectoryUnavailable):
        sync()

    assert state() == before


def test_new_officials_seen_after_a_first_sync_are_created(app: Flask, make_ldap_official: MakeOfficial) -> None:
    sync()
    started = utcnow() - timedelta(seconds=1)
    official = make_ldap_official(groups=("quan-tri",), title="Chánh Văn phòng")

    assert counts(sync()) == (SEED + 1, 1, 0, SEED, 0)
    subject = subject_of(official)
    assert (subject.title, subjects.roles_of(subject.id)) == ("Chánh Văn phòng", ["admin"])
    assert subject.created_at >= started


def test_a_server_lost_in_the_middle_of_a_full_sync_disables_nobody(
        app: Flask, app_config: dict[str, Any], slapd: Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    sync()
    small_pages = make_app({**app_config, "IDP_LDAP_PAGE_SIZE": 3})
    monkeypatch.setattr(sync_module, "BATCH", 3)
    write_batch = sync_module._sync_batch

    def stop_after_first_batch(*args: Any) -> None:
        write_batch(*args)
        slapd.stop()

    monkeypatch.setattr(sync_module, "_sync_batch", stop_after_first_batch)
    with small_pages.app_context():
        with pytest.raises(ldap.DirectoryUnavailable):
            sync()
        disabled = db.session.execute(select(Subject).where(Subject.status == SubjectStatus.DISABLED)).scalars()
        assert [s.id for s in disabled] == [subject_of(data.OFFICIALS_BY_UID["thao.dt"]).id]
