"""Finding anyone's subject from what an operator types: an ID number or e-mail, or the ``sub`` itself.

Operators reach officials too (by their directory e-mail or their sub), which the citizens' own
lookup does not; nothing here asks the directory.
"""

from __future__ import annotations

from idp.storage import subjects
from idp.storage.subjects import Subject, SubjectKind

from . import emails, local


def find_subject(identifier: str) -> Subject | None:
    value = identifier.strip()
    found = local.find(value)
    if found is not None:
        return found
    email = emails.normalise(value)
    if email is not None:
        return subjects.find_by_verified_email(email, SubjectKind.OFFICIAL)
    return subjects.find_by_sub(value)
