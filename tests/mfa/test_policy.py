"""Who must present a second factor: each rule, the matrix of subjects × clients × acr_values, enrolment."""

from __future__ import annotations

import itertools
from collections.abc import Collection

import pyotp
import pytest
from flask import Flask

from idp.authn.levels import ACR_MFA, ACR_PWD
from idp.mfa import policy, totp
from idp.mfa.policy import Reason, Requirement
from idp.storage import subjects, transaction
from idp.storage.clients import Client
from idp.storage.subjects import Subject, SubjectKind

ADMIN_ROLES = ("admin", "unit_admin")
CITIZEN = Subject(kind=SubjectKind.CITIZEN, full_name="Nguyễn Văn An")
OFFICIAL = Subject(kind=SubjectKind.OFFICIAL, full_name="Trần Thị Bình")
PLAIN = Client(client_id="cong-dvc", client_name="Cổng dịch vụ công", require_mfa=False)
STRICT = Client(client_id="quan-ly-can-bo", client_name="Quản lý cán bộ", require_mfa=True)
ACR_CASES: list[list[str]] = [[], [ACR_PWD], [ACR_MFA], [ACR_PWD, ACR_MFA], [ACR_MFA, ACR_PWD], ["urn:other", ACR_MFA]]


def required(subject: Subject = CITIZEN, *, enrolled: bool = False, client: Client | None = None,
             acr_values: Collection[str] = (), roles: Collection[str] = ()) -> Requirement:
    return policy.second_factor_required(subject, enrolled=enrolled, client=client, acr_values=acr_values,
                                         roles=roles, admin_roles=ADMIN_ROLES)


@pytest.mark.parametrize(("client", "acr_values", "enrolled"),
                         list(itertools.product([None, PLAIN, STRICT], ACR_CASES, [False, True])))
def test_officials_always(client: Client | None, acr_values: list[str], enrolled: bool) -> None:
    assert required(OFFICIAL, client=client, acr_values=acr_values, enrolled=enrolled) == \
        Requirement(True, Reason.OFFICIAL, enrolled)


@pytest.mark.parametrize(("role", "client", "acr_values"),
                         list(itertools.product(ADMIN_ROLES, [None, PLAIN, STRICT], ACR_CASES)))
def test_admins_always(role: str, client: Client | None, acr_values: list[str]) -> None:
    assert required(client=client, acr_values=acr_values, roles=["viewer", role]).reason == Reason.ADMIN
    # An official admin is required as an official first: the same answer, the first rule named.
    assert required(OFFICIAL, client=client, acr_values=acr_values, roles=[role]).reason == Reason.OFFICIAL


def test_other_roles_are_not_admin_roles() -> None:
    assert not required(roles=["viewer", "Admin"]).required


@pytest.mark.parametrize("acr_values", ACR_CASES)
def test_a_client_can_require_it(acr_values: list[str]) -> None:
    assert required(client=STRICT, acr_values=acr_values) == Requirement(True, Reason.CLIENT, False)


@pytest.mark.parametrize(("acr_values", "expected"), [
    ([], False),
    ([ACR_PWD], False),
    ([ACR_MFA], True),
    (["urn:other", ACR_MFA], True),
    # The client listed the password level as acceptable too (acr_values are preferences).
    ([ACR_PWD, ACR_MFA], False),
    ([ACR_MFA, ACR_PWD], False),
    (["urn:other"], False),
])
@pytest.mark.parametrize("client", [None, PLAIN])
def test_acr_values_can_ask_for_it(client: Client | None, acr_values: list[str], expected: bool) -> None:
    result = required(client=client, acr_values=acr_values)
    assert (result.required, result.reason) == ((True, Reason.ACR_VALUES) if expected else (False, Reason.NOT_REQUIRED))


@pytest.mark.parametrize(("client", "acr_values"), list(itertools.product([None, PLAIN], [[], [ACR_PWD]])))
def test_citizens_who_opted_in_are_asked(client: Client | None, acr_values: list[str]) -> None:
    assert required(enrolled=True, client=client, acr_values=acr_values) == Requirement(True, Reason.OPTED_IN, True)
    assert required(enrolled=False, client=client, acr_values=acr_values) == \
        Requirement(False, Reason.NOT_REQUIRED, False)


@pytest.mark.parametrize(("subject", "roles", "client", "acr_values", "enrolled", "must_enrol"), [
    (OFFICIAL, [], None, [], False, True),
    (OFFICIAL, [], None, [], True, False),
    (CITIZEN, ["admin"], None, [], False, True),
    (CITIZEN, [], STRICT, [], False, True),
    (CITIZEN, [], PLAIN, [ACR_MFA], False, True),
    (CITIZEN, [], PLAIN, [ACR_MFA], True, False),
    (CITIZEN, [], PLAIN, [ACR_PWD], False, False),
    (CITIZEN, [], None, [], True, False),
    (CITIZEN, [], None, [], False, False),
])
def test_must_enrol_when_required_but_not_enrolled(subject: Subject, roles: list[str], client: Client | None,
                                                  acr_values: list[str], enrolled: bool, must_enrol: bool) -> None:
    result = required(subject, roles=roles, client=client, acr_values=acr_values, enrolled=enrolled)
    assert result.must_enrol is must_enrol


# --- The loader: enrolment, roles and admin roles from the database and the settings --------------------

def test_requirement_for_reads_enrolment_roles_and_settings(app: Flask, make_citizen) -> None:  # type: ignore[no-untyped-def]
    citizen = make_citizen(email="an@example.vn").subject
    assert policy.requirement_for(citizen) == Requirement(False, Reason.NOT_REQUIRED, False)
    assert policy.must_enrol(citizen, client=STRICT)
    assert policy.must_enrol(citizen, acr_values=[ACR_MFA])
    assert not policy.must_enrol(citizen, acr_values=[ACR_PWD])

    with transaction():
        subjects.set_roles(citizen.id, {"auditor"})
    assert not policy.requirement_for(citizen).required
    app.config["IDP_ADMIN_ROLES"] = ("auditor",)
    assert policy.requirement_for(citizen).reason == Reason.ADMIN and policy.always_required(citizen)
    app.config["IDP_ADMIN_ROLES"] = ("admin", "unit_admin")
    assert not policy.always_required(citizen)

    enrolment = totp.start_enrolment(citizen, "an@example.vn")
    assert not policy.requirement_for(citizen).required  # not until confirmed
    totp.confirm_enrolment(citizen, pyotp.TOTP(enrolment.secret).now())
    assert policy.requirement_for(citizen) == Requirement(True, Reason.OPTED_IN, True)
    assert not policy.must_enrol(citizen, client=STRICT)


def test_an_official_from_the_database_must_enrol(app: Flask) -> None:
    with transaction():
        official = Subject(kind=SubjectKind.OFFICIAL, full_name="Lê Văn Cường")
        subjects.add(official)
    assert policy.requirement_for(official, client=PLAIN) == Requirement(True, Reason.OFFICIAL, False)
    assert policy.must_enrol(official) and policy.always_required(official)
