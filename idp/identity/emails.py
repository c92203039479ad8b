"""E-mail address syntax and normalisation, shared by every identity source."""

from __future__ import annotations

import re

# Deliberately plain: one @, no spaces or control characters, a dotted domain. Deliverability is
# proven by the verification mail, not by a regular expression.
_EMAIL = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
MAX_LENGTH = 254


def normalise(text: str) -> str | None:
    """The lower-cased address, or None when ``text`` is not an e-mail address."""
    value = text.strip()
    if len(value) > MAX_LENGTH or not _EMAIL.match(value):
        return None
    return value.lower()
