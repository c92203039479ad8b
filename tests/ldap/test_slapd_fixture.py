"""The private slapd the directory tests run against: what the fixtures promise, checked on the wire."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import ldap3
import pytest
from ldap3.core.exceptions import (
    LDAPPasswordIsMandatoryError,
    LDAPSocketOpenError,
    LDAPSocketReceiveError,
    LDAPStartTLSError,
)

from tests.helpers import directory_data as data
from tests.helpers.slapd import Certificates, Slapd

LAN = data.OFFICIALS_BY_UID["lan.nt"]
HUNG = data.OFFICIALS_BY_UID["hung.tv"]
MakeOfficial = Callable[..., data.Official]


def _entries(conn: ldap3.Connection) -> list[dict]:
    return [e for e in conn.response or [] if e.get("type") == "searchResEntry"]


def _find(conn: ldap3.Connection, base: str, search_filter: str, attributes: list[str]) -> list[dict]:
    conn.search(base, search_filter, attributes=attributes)
    return _entries(conn)


# --- the seed ------------------------------------------------------------------------------------------


def test_service_account_finds_officials_with_vietnamese_names(slapd: Slapd) -> None:
    conn = slapd.connection(as_root=False)
    people = _find(conn, slapd.users_dn, "(objectClass=inetOrgPerson)",
                   ["uid", "cn", "sn", "givenName", "title", "mail", "telephoneNumber", data.UNIT_ATTRIBUTE])

    by_uid = {e["attributes"]["uid"][0]: e["attributes"] for e in people}
    assert set(by_uid) == set(data.OFFICIALS_BY_UID)  # the seconded one too: ou=seconded is under people
    lan = by_uid["lan.nt"]
    assert (lan["cn"], lan["sn"], lan["givenName"]) == (["Nguyễn Thị Lan"], ["Nguyễn"], ["Thị Lan"])
    assert lan["mail"] == ["lan.nt@thanhhoa.gov.vn"]
    assert lan["title"] == ["Chuyên viên"]
    assert lan[data.UNIT_ATTRIBUTE] == ["SNV"]
    assert by_uid["duc.hv"]["title"] == ["Chủ tịch UBND xã"]
    # Filters with diacritics match too; a name is not unique.
    namesakes = _find(conn, slapd.users_dn, "(cn=Nguyễn Văn An)", ["uid"])
    assert sorted(e["attributes"]["uid"][0] for e in namesakes) == ["an.nv", "an.nv2"]


def test_units_and_the_disabled_marker(slapd: Slapd) -> None:
    conn = slapd.connection(as_root=False)

    units = _find(conn, slapd.units_dn, "(objectClass=organizationalUnit)", ["ou", "description"])
    names = {e["attributes"]["ou"][0]: e["attributes"]["description"][0] for e in units if e["dn"] != slapd.units_dn}
    assert names == data.UNIT_NAMES
    assert names["XA-DONGTIEN"] == "UBND xã Đông Tiến"
    disabled = _find(conn, slapd.users_dn, data.DISABLED_FILTER, ["uid"])
    assert [e["attributes"]["uid"][0] for e in disabled] == ["thao.dt"]


def test_groups_and_member_of(slapd: Slapd) -> None:
    conn = slapd.connection(as_root=False)

    hung = _find(conn, slapd.users_dn, "(uid=hung.tv)", ["memberOf"])[0]
    assert set(hung["attributes"]["memberOf"]) == {data.ADMIN_GROUP_DN, f"cn=can-bo-snv,{slapd.groups_dn}"}
    # memberOf (written by slapadd) agrees with the groups' member values for every official.
    for official in data.OFFICIALS:
        [entry] = _find(conn, slapd.users_dn, f"(uid={official.uid})", ["memberOf"])
        groups = _find(conn, slapd.groups_dn, f"(member={official.dn})", ["cn"])
        assert set(entry["attributes"].get("memberOf", [])) == {g["dn"] for g in groups}
        assert {g["attributes"]["cn"][0] for g in groups} == set(official.groups)


def test_member_of_follows_online_changes(slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(groups=("can-bo-snv",))
    conn = slapd.connection()
    assert conn.modify(data.UNIT_ADMIN_GROUP_DN, {"member": [(ldap3.MODIFY_ADD, [official.dn])]})

    [entry] = _find(conn, slapd.users_dn, f"(uid={official.uid})", ["memberOf"])
    assert set(entry["attributes"]["memberOf"]) == {f"cn=can-bo-snv,{slapd.groups_dn}", data.UNIT_ADMIN_GROUP_DN}


# --- binds ---------------------------------------------------------------------------------------------


def test_every_seed_official_binds_with_their_password(slapd: Slapd) -> None:
    for official in data.OFFICIALS:
        assert slapd.bind_result(official.dn, data.OFFICIAL_PASSWORDS[official.uid]) == 0, official.uid
    assert slapd.bind_result(slapd.service_dn, slapd.service_password) == 0


def test_wrong_password_and_unknown_entry_answer_49(slapd: Slapd) -> None:
    assert slapd.bind_result(LAN.dn, "Mật-khẩu-sai") == 49
    assert slapd.bind_result(f"uid=khong.co,{slapd.users_dn}", "bất kỳ") == 49
    assert slapd.bind_result(LAN.dn, data.OFFICIAL_PASSWORDS["lan.nt"]) == 0  # and the failure count is reset


def test_ldap3_refuses_an_empty_password_itself(slapd: Slapd) -> None:
    """On the wire, a DN with an empty password is an unauthenticated bind, which succeeds."""
    conn = slapd.connection(dn=LAN.dn, password="", auto_bind=False)
    with pytest.raises(LDAPPasswordIsMandatoryError):
        conn.bind()


def test_ppolicy_locks_after_max_failures_and_still_answers_49(slapd: Slapd,
                                                                make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    for _ in range(data.MAX_PASSWORD_FAILURES):
        assert slapd.bind_result(official.dn, "sai-rồi") == 49

    assert slapd.bind_result(official.dn, official.password) == 49  # locked: the right password is refused
    service = slapd.connection(as_root=False)
    [entry] = _find(service, slapd.users_dn, f"(uid={official.uid})", ["pwdAccountLockedTime"])
    assert entry["attributes"]["pwdAccountLockedTime"]
    assert slapd.unlock_all() == [official.dn]
    assert slapd.bind_result(official.dn, official.password) == 0


def test_a_success_resets_the_failure_count(slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    for _ in range(3):
        for _ in range(data.MAX_PASSWORD_FAILURES - 1):
            assert slapd.bind_result(official.dn, "sai-rồi") == 49
        assert slapd.bind_result(official.dn, official.password) == 0


def test_the_service_account_is_never_locked(slapd: Slapd) -> None:
    for _ in range(data.MAX_PASSWORD_FAILURES + 2):
        assert slapd.bind_result(slapd.service_dn, "đoán-mò") == 49
    assert slapd.bind_result(slapd.service_dn, slapd.service_password) == 0


def test_an_official_changes_their_own_password(slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    conn = slapd.connection(dn=official.dn, password=official.password)
    assert conn.extend.standard.modify_password(official.dn, official.password, "Mật-khẩu-mới-2025")

    assert slapd.bind_result(official.dn, "Mật-khẩu-mới-2025") == 0
    assert slapd.bind_result(official.dn, official.password) == 49
    root = slapd.connection()
    [entry] = _find(root, slapd.users_dn, f"(uid={official.uid})", ["userPassword"])
    assert entry["attributes"]["userPassword"][0].startswith("{SSHA}")


# --- access control --------------------------------------------------------------------------------------


def test_nobody_but_the_root_dn_reads_passwords(slapd: Slapd) -> None:
    service = slapd.connection(as_root=False)
    [entry] = _find(service, slapd.users_dn, "(uid=lan.nt)", ["userPassword", "cn"])
    assert entry["raw_attributes"]["userPassword"] == [] and entry["attributes"]["cn"]  # asked for, not given
    # Nor can the service account find people by their password hash.
    assert _find(service, slapd.users_dn, "(userPassword=*)", ["uid"]) == []
    [entry] = _find(slapd.connection(), slapd.users_dn, "(uid=lan.nt)", ["userPassword"])
    assert entry["attributes"]["userPassword"][0].startswith("{SSHA}")


def test_anonymous_and_officials_see_no_one_else(slapd: Slapd) -> None:
    anonymous = slapd.connection(dn="")
    assert not anonymous.search(slapd.base_dn, "(objectClass=*)")
    assert anonymous.result["result"] == 32  # noSuchObject: not even the suffix is disclosed

    lan = slapd.connection(dn=LAN.dn, password=LAN.password)
    assert [e["dn"] for e in _find(lan, slapd.users_dn, "(uid=*)", ["uid"])] == []
    lan.search(LAN.dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"])
    assert _entries(lan)[0]["attributes"]["cn"] == ["Nguyễn Thị Lan"]  # their own entry only


# --- TLS -------------------------------------------------------------------------------------------------


def test_starttls_validates_the_certificate(slapd: Slapd) -> None:
    conn = slapd.connection(as_root=False, tls="starttls")
    assert conn.tls_started and not conn.server.ssl
    assert conn.extend.standard.who_am_i() == f"dn:{slapd.service_dn}"


def test_ldaps_validates_the_certificate(slapd: Slapd) -> None:
    conn = slapd.connection(dn=LAN.dn, password=LAN.password, tls="ldaps")
    assert conn.server.ssl and conn.bound
    assert conn.extend.standard.who_am_i() == f"dn:{LAN.dn}"


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_a_certificate_from_an_untrusted_ca_is_refused(slapd: Slapd, tls: Literal["starttls", "ldaps"]) -> None:
    conn = slapd.connection(as_root=False, tls=tls, ca_file=slapd.untrusted_ca_file, auto_bind=False)
    with pytest.raises((LDAPStartTLSError, LDAPSocketOpenError), match="CERTIFICATE_VERIFY_FAILED"):
        conn.open()
        conn.start_tls()
    assert not conn.bound


def test_both_servers_trust_one_ca(slapd: Slapd, slapd_replica: Slapd,
                                   ldap_certificates: Certificates) -> None:
    assert slapd.ca_file == slapd_replica.ca_file == str(ldap_certificates.ca_file)
    for server in (slapd, slapd_replica):
        assert server.connection(as_root=False, tls="ldaps").bound


# --- identity across renames, moves and time ---------------------------------------------------------------


def test_entry_uuid_survives_rename_and_move(slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(groups=("can-bo-snv",))
    conn = slapd.connection()
    [entry] = _find(conn, slapd.users_dn, f"(uid={official.uid})", ["entryUUID"])
    assert entry["attributes"]["entryUUID"] == [official.entry_uuid]

    # Renamed (a new uid), then moved to another OU inside the people subtree.
    assert conn.modify_dn(official.dn, "uid=doi.ten")
    assert conn.modify_dn(f"uid=doi.ten,{slapd.users_dn}", "uid=doi.ten", new_superior=data.SECONDED_DN)
    moved = f"uid=doi.ten,{data.SECONDED_DN}"
    [entry] = _find(conn, slapd.users_dn, f"(entryUUID={official.entry_uuid})", ["uid", "entryUUID", "memberOf"])
    assert entry["dn"] == moved and entry["attributes"]["uid"] == ["doi.ten"]
    assert entry["attributes"]["memberOf"] == [f"cn=can-bo-snv,{slapd.groups_dn}"]
    assert _find(conn, slapd.groups_dn, f"(member={moved})", ["cn"])  # the group follows the member
    assert slapd.bind_result(moved, official.password) == 0

    # Moved out of the people subtree: gone from the IdP's scope, same entryUUID elsewhere.
    assert conn.modify_dn(moved, "uid=doi.ten", new_superior=data.ARCHIVE_DN)
    assert _find(conn, slapd.users_dn, f"(entryUUID={official.entry_uuid})", ["1.1"]) == []
    assert slapd.dn_of(official.entry_uuid) == f"uid=doi.ten,{data.ARCHIVE_DN}"


def test_modify_timestamp_selects_changed_entries(slapd: Slapd, make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official()
    conn = slapd.connection(as_root=False)
    [before] = _find(conn, slapd.users_dn, f"(uid={official.uid})", ["createTimestamp", "modifyTimestamp"])
    assert before["attributes"]["createTimestamp"] == before["attributes"]["modifyTimestamp"]

    root = slapd.connection()
    assert root.modify(official.dn, {"title": [(ldap3.MODIFY_REPLACE, ["Phó Trưởng phòng"])]})
    [after] = _find(conn, slapd.users_dn, f"(uid={official.uid})", ["modifyTimestamp"])
    [stamp] = after["attributes"]["modifyTimestamp"]  # GeneralizedTime, whole seconds: 20250102030405Z
    assert stamp >= before["attributes"]["modifyTimestamp"][0]

    # An incremental sync asks for (modifyTimestamp>=start of the last run).
    changed_at = datetime.datetime.strptime(stamp, "%Y%m%d%H%M%SZ")
    later = (changed_at + datetime.timedelta(seconds=1)).strftime("%Y%m%d%H%M%SZ")
    since_stamp = _find(conn, slapd.users_dn, f"(&(objectClass=inetOrgPerson)(modifyTimestamp>={stamp}))", ["uid"])
    since_later = _find(conn, slapd.users_dn, f"(&(objectClass=inetOrgPerson)(modifyTimestamp>={later}))", ["uid"])
    assert official.uid in {e["attributes"]["uid"][0] for e in since_stamp}
    assert official.uid not in {e["attributes"]["uid"][0] for e in since_later}


# --- size, restarts, failover ---------------------------------------------------------------------------------


def test_paged_search_returns_more_than_the_default_size_limit(tmp_path: Path,
                                                               ldap_certificates: Certificates) -> None:
    seed = data.seed_entries(data.officials(1200, groups=("can-bo-stc",)))
    with Slapd(tmp_path / "many", seed=seed, certificates=ldap_certificates, name="slapd-1200") as many:
        conn = many.connection(as_root=False)
        found = conn.extend.standard.paged_search(many.users_dn, "(objectClass=inetOrgPerson)", attributes=["uid"],
                                                  paged_size=500, generator=True)
        uids = [e["attributes"]["uid"][0] for e in found if e["type"] == "searchResEntry"]
        assert len(uids) == len(set(uids)) == 1200 + len(data.OFFICIALS)
        assert conn.result["result"] == 0

        # Without paging, too (the service account has no size limit).
        assert conn.search(many.users_dn, "(objectClass=inetOrgPerson)", attributes=["1.1"])
        assert len(_entries(conn)) == 1200 + len(data.OFFICIALS)
        # Generated officials sign in with the shared password, and are members of the group asked for.
        last = f"uid={uids[-1]},{many.users_dn}"
        assert many.bind_result(last, data.GENERATED_PASSWORD) == 0
        [group] = _find(conn, many.groups_dn, "(cn=can-bo-stc)", ["member"])
        assert len(group["attributes"]["member"]) == 1200 + 2 and last in group["attributes"]["member"]
        [entry] = _find(conn, many.users_dn, f"(uid={uids[-1]})", ["memberOf"])
        assert entry["attributes"]["memberOf"] == [group["dn"]]
    assert not many.root.exists()


def test_stop_then_start_serves_the_same_data_on_the_same_ports(slapd: Slapd) -> None:
    url, ldaps_url = slapd.url, slapd.ldaps_url
    slapd.stop()
    assert not slapd.running and slapd.pid is None
    conn = slapd.connection(as_root=False, auto_bind=False, timeout=1)
    with pytest.raises(LDAPSocketOpenError):
        conn.open()

    slapd.start()
    assert (slapd.url, slapd.ldaps_url) == (url, ldaps_url)
    assert slapd.bind_result(LAN.dn, LAN.password) == 0


def test_replica_answers_with_the_same_entry_uuids_while_the_primary_is_down(slapd: Slapd,
                                                                                slapd_replica: Slapd) -> None:
    assert {slapd.port, slapd.ldaps_port}.isdisjoint({slapd_replica.port, slapd_replica.ldaps_port})
    slapd.stop()

    conn = slapd_replica.connection(as_root=False, tls="starttls")
    people = _find(conn, slapd_replica.users_dn, "(objectClass=inetOrgPerson)", ["uid", "entryUUID"])
    assert {e["attributes"]["uid"][0]: e["attributes"]["entryUUID"] for e in people} == {
        o.uid: [o.entry_uuid] for o in data.OFFICIALS}
    assert slapd_replica.bind_result(HUNG.dn, HUNG.password, tls="starttls") == 0
    # The primary is started again by the fixture when the test ends.


def test_an_official_made_on_both_servers_has_one_entry_uuid(slapd: Slapd, slapd_replica: Slapd,
                                                             make_ldap_official: MakeOfficial) -> None:
    official = make_ldap_official(servers=(slapd, slapd_replica), groups=("quan-tri",))
    for server in (slapd, slapd_replica):
        [entry] = _find(server.connection(as_root=False), server.users_dn, f"(uid={official.uid})",
                        ["entryUUID", "memberOf"])
        assert entry["attributes"]["entryUUID"] == [official.entry_uuid]
        assert entry["attributes"]["memberOf"] == [data.ADMIN_GROUP_DN]


def test_a_frozen_server_accepts_connections_but_never_answers(slapd: Slapd) -> None:
    slapd.freeze()
    conn = slapd.connection(as_root=False, auto_bind=False, timeout=1)
    conn.open()  # the kernel completes the handshake
    started = time.monotonic()
    with pytest.raises(LDAPSocketReceiveError):
        conn.bind()
    assert 0.9 < time.monotonic() - started < 5
    slapd.thaw()
    assert slapd.bind_result(slapd.service_dn, slapd.service_password) == 0
