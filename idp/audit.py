"""The audit log: one call records a security-relevant event, in the caller's transaction.

Events name subjects by ``sub`` and never carry secrets or personal identifiers: ``record`` refuses
detail keys that look like them, so a careless call fails in tests instead of leaking in production.
"""

from __future__ import annotations

import logging
from typing import Any

from idp.storage import audit_events
from idp.storage.subjects import Subject, SubjectRecord

logger = logging.getLogger("idp.audit")

_FORBIDDEN_KEYS = ("password", "secret", "token", "id_number", "identifier", "code")


def record(event: str, *, subject: Subject | SubjectRecord | str | None = None, client: str | None = None,
           ip: str | None = None, **details: Any) -> None:
    """Add an audit event (committed with the caller's change) and log it on ``idp.audit``."""
    bad = [key for key in details if any(word in key for word in _FORBIDDEN_KEYS)]
    if bad:
        raise ValueError(f"audit details must not carry secrets or identifiers: {bad}")
    sub = subject.sub if isinstance(subject, Subject | SubjectRecord) else subject
    audit_events.add(event=event, subject=sub, client_id=client, ip_address=ip, details=details)
    logger.info("%s subject=%s client=%s ip=%s %s", event, sub, client, ip, details)
