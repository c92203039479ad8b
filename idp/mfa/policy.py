"""Who must present a second factor at sign-in, and why: one pure function, plus a loader for it.

Rules, first match wins:
1. officials, always (they act for the administration; DESIGN: "TOTP required");
2. admins, always: anyone holding one of IDP_ADMIN_ROLES, whatever their kind;
3. a client registered with ``require_mfa``;
4. an authorization request whose ``acr_values`` asks for the MFA level and not also for the password
   level: the values are voluntary and in order of preference (OIDC Core §3.1.2.1), so a request
   that lists the password level has said a password alone is acceptable;
5. citizens who opted in: a confirmed TOTP credential is used at every sign-in.
Otherwise a password is enough. When a second factor is required of someone not enrolled, the
sign-in continues with enrolment (``Requirement.must_enrol``) rather than being refused.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from dataclasses import dataclass

from flask import current_app

from idp.authn.levels import ACR_MFA, ACR_PWD
from idp.storage import mfa as rows
from idp.storage.clients import ClientRecord
from idp.storage.subjects import Subject, SubjectKind, SubjectRecord


class Reason(enum.StrEnum):
    OFFICIAL = "official"
    ADMIN = "admin"
    CLIENT = "client"
    ACR_VALUES = "acr_values"
    OPTED_IN = "opted_in"
    NOT_REQUIRED = "not_required"


# Reasons that hold whatever the client and the request: the subject may not switch the factor off.
ALWAYS = frozenset({Reason.OFFICIAL, Reason.ADMIN})


@dataclass(frozen=True)
class Requirement:
    required: bool
    reason: Reason
    enrolled: bool

    @property
    def must_enrol(self) -> bool:
        """Required, but the subject has no confirmed authenticator yet: enrolment comes first."""
        return self.required and not self.enrolled


def _asks_for_mfa(acr_values: Collection[str]) -> bool:
    return ACR_MFA in acr_values and ACR_PWD not in acr_values


def second_factor_required(subject: Subject | SubjectRecord, *, enrolled: bool, client: ClientRecord | None,
                           acr_values: Collection[str], roles: Collection[str],
                           admin_roles: Collection[str]) -> Requirement:
    """Whether ``subject`` must present a second factor for this request, and the first rule that says so."""
    if subject.kind == SubjectKind.OFFICIAL:
        reason = Reason.OFFICIAL
    elif any(role in admin_roles for role in roles):
        reason = Reason.ADMIN
    elif client is not None and client.require_mfa:
        reason = Reason.CLIENT
    elif _asks_for_mfa(acr_values):
        reason = Reason.ACR_VALUES
    elif enrolled:
        reason = Reason.OPTED_IN
    else:
        return Requirement(False, Reason.NOT_REQUIRED, enrolled)
    return Requirement(True, reason, enrolled)


def admin_roles() -> tuple[str, ...]:
    return tuple(current_app.config["IDP_ADMIN_ROLES"])


def requirement_for(subject: Subject | SubjectRecord, *, client: ClientRecord | None = None,
                    acr_values: Collection[str] = (), enrolment: rows.Enrolment | None = None) -> Requirement:
    """``second_factor_required`` with the subject's enrolment and roles: ``enrolment`` when the caller
    read it with the person (a citizen's sign-in does, in the same query), else from the database."""
    if enrolment is None:
        enrolment = rows.enrolment(subject.id)
    return second_factor_required(subject, enrolled=enrolment.enrolled, client=client, acr_values=acr_values,
                                  roles=enrolment.roles, admin_roles=admin_roles())


def must_enrol(subject: Subject, *, client: ClientRecord | None = None, acr_values: Collection[str] = ()) -> bool:
    """A second factor is required for this request and the subject has none to present yet."""
    return requirement_for(subject, client=client, acr_values=acr_values).must_enrol


def always_required(subject: Subject) -> bool:
    """Whether every sign-in of the subject needs a second factor, whatever the client or request."""
    return requirement_for(subject).reason in ALWAYS
