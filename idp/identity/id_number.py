"""The 12-digit personal identification number (số định danh cá nhân) of Vietnamese citizens.

Structure (Decree 137/2015/NĐ-CP, Circular 07/2016/TT-BCA): 3 digits for the province or city where
the birth was registered, 1 digit for century and gender, 2 digits for the year of birth within that
century, 6 random digits. We check what can be checked offline: the shape, a province code that
exists, and a birth year that a living person can have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

# Province codes of the 63 provinces and cities (Circular 07/2016/TT-BCA, appendix). Numbers issued
# before the 2025 merger of provinces keep their codes, so the list stays as issued.
PROVINCE_CODES: frozenset[str] = frozenset(
    """001 002 004 006 008 010 011 012 014 015 017 019 020 022 024 025 026 027 030 031 033 034 035
    036 037 038 040 042 044 045 046 048 049 051 052 054 056 058 060 062 064 066 067 068 070 072 074
    075 077 079 080 082 083 084 086 087 089 091 092 093 094 095 096""".split()
)

# Century/gender digit: even for men, odd for women; 0-1 → 1900s, 2-3 → 2000s, 4-5 → 2100s,
# 6-7 → 2200s, 8-9 → 1800s.
_CENTURY_BY_DIGIT = {0: 1900, 1: 1900, 2: 2000, 3: 2000, 4: 2100, 5: 2100, 6: 2200, 7: 2200, 8: 1800,
                     9: 1800}
OLDEST_AGE = 120


class InvalidIdNumber(ValueError):
    """The text is not a valid personal identification number; ``reason`` says which rule failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class IdNumber:
    value: str
    province_code: str
    birth_year: int
    female: bool


def parse(text: str, today: date | None = None) -> IdNumber:
    """Validate ``text`` (surrounding spaces allowed) and return its decoded parts."""
    value = text.strip()
    if len(value) != 12 or not value.isascii() or not value.isdigit():
        raise InvalidIdNumber("shape")
    province = value[:3]
    if province not in PROVINCE_CODES:
        raise InvalidIdNumber("province")
    digit = int(value[3])
    birth_year = _CENTURY_BY_DIGIT[digit] + int(value[4:6])
    this_year = (today or date.today()).year
    if not this_year - OLDEST_AGE <= birth_year <= this_year:
        raise InvalidIdNumber("birth_year")
    return IdNumber(value=value, province_code=province, birth_year=birth_year, female=digit % 2 == 1)


def looks_like(text: str) -> bool:
    """True when ``text`` has the shape of an ID number (12 digits), valid or not.

    Routing uses the shape, not validity, so a mistyped number still goes to the local source and is
    answered like any wrong credential instead of being sent to the directory.
    """
    value = text.strip()
    return len(value) == 12 and value.isascii() and value.isdigit()
