"""The officials' directory the LDAP tests run against: units, officials, groups, as data and as LDIF.

Layout (suffix ``dc=thanhhoa,dc=gov,dc=vn``)::

    ou=people        officials (inetOrgPerson), flat, ``uid=<uid>``
      ou=seconded    officials seconded to another body: still people (inside the user subtree)
    ou=archive       former officials: outside the user subtree (an entry moved here leaves scope)
    ou=groups        groupOfNames; ``member`` holds the officials' DNs
    ou=units         one organizationalUnit per unit: ``ou=<code>``, the Vietnamese name in description
    ou=services      service accounts (the IdP's: ``cn=dangnhap``)
    ou=policies      password policies (ppolicy): ``cn=default`` locks after 3 failures;
                     ``cn=services`` never locks (service accounts point to it)

Markers the IdP reads:
- the official's unit is the unit code in ``departmentNumber`` (``SNV``, ``XA-DONGTIEN``);
- a disabled official has ``employeeType: disabled`` (the filter ``DISABLED_FILTER``); the directory still
  accepts their password, so refusing them is the IdP's job;
- groups → roles: ``cn=quan-tri`` (province administrators), ``cn=quan-tri-don-vi`` (unit administrators),
  ``cn=can-bo-<unit>`` (plain unit groups, no role).

Every entry carries a fixed ``entryUUID`` (a UUID-5 of its DN), so two servers seeded from this module agree
on it, as replicas do. ``memberOf`` is written into the LDIF as well: offline ``slapadd`` does not run the
memberof overlay, but stores the operational attribute we give it; online changes are kept up to date by
the overlay.

Passwords are stored as ``{SSHA}`` hashes; the clear texts are in ``OFFICIAL_PASSWORDS`` (by uid),
``GENERATED_PASSWORD`` and ``SERVICE_PASSWORD``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import os
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

BASE_DN = "dc=thanhhoa,dc=gov,dc=vn"
PEOPLE_DN = f"ou=people,{BASE_DN}"
SECONDED_DN = f"ou=seconded,{PEOPLE_DN}"
ARCHIVE_DN = f"ou=archive,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
UNITS_DN = f"ou=units,{BASE_DN}"
SERVICES_DN = f"ou=services,{BASE_DN}"
POLICIES_DN = f"ou=policies,{BASE_DN}"
DEFAULT_POLICY_DN = f"cn=default,{POLICIES_DN}"
SERVICE_POLICY_DN = f"cn=services,{POLICIES_DN}"

SERVICE_DN = f"cn=dangnhap,{SERVICES_DN}"
SERVICE_PASSWORD = "dịch-vụ-đăng-nhập-2024"

MAIL_DOMAIN = "thanhhoa.gov.vn"
UNIT_ATTRIBUTE = "departmentNumber"
DISABLED_ATTRIBUTE = "employeeType"
DISABLED_VALUE = "disabled"
DISABLED_FILTER = f"({DISABLED_ATTRIBUTE}={DISABLED_VALUE})"
# The default password policy: the bind after this many consecutive failures is refused (still 49).
MAX_PASSWORD_FAILURES = 3

# A fixed namespace: entryUUIDs are reproducible from run to run and from server to server.
_UUID_NAMESPACE = uuid.UUID("0f1e6b2a-6c1d-4c55-9a53-4d2f7a1b5e10")


def entry_uuid(dn: str) -> str:
    """The entryUUID the seed gives the entry at ``dn`` (lower-case, as slapd returns it)."""
    return str(uuid.uuid5(_UUID_NAMESPACE, dn.lower()))


@dataclass(frozen=True)
class Unit:
    code: str
    name: str

    @property
    def dn(self) -> str:
        return f"ou={self.code},{UNITS_DN}"


UNITS = (
    Unit("UBND-TINH", "Ủy ban nhân dân tỉnh Thanh Hóa"),
    Unit("SNV", "Sở Nội vụ"),
    Unit("STC", "Sở Tài chính"),
    Unit("SYT", "Sở Y tế"),
    Unit("XA-DONGTIEN", "UBND xã Đông Tiến"),
    Unit("PHUONG-HACTHANH", "UBND phường Hạc Thành"),
)
UNIT_NAMES = {unit.code: unit.name for unit in UNITS}


@dataclass(frozen=True)
class Group:
    cn: str
    description: str

    @property
    def dn(self) -> str:
        return f"cn={self.cn},{GROUPS_DN}"


GROUPS = (
    Group("quan-tri", "Quản trị hệ thống toàn tỉnh"),
    Group("quan-tri-don-vi", "Quản trị đơn vị"),
    Group("can-bo-snv", "Cán bộ, công chức Sở Nội vụ"),
    Group("can-bo-stc", "Cán bộ, công chức Sở Tài chính"),
    Group("can-bo-xa-dongtien", "Cán bộ, công chức UBND xã Đông Tiến"),
)
ADMIN_GROUP_DN = GROUPS[0].dn
UNIT_ADMIN_GROUP_DN = GROUPS[1].dn


@dataclass(frozen=True)
class Official:
    uid: str
    family_name: str  # sn: "Nguyễn"
    given_name: str  # givenName: middle and given name, "Thị Lan"
    unit: str  # unit code, stored in departmentNumber
    title: str = "Chuyên viên"
    phone: str = ""
    groups: tuple[str, ...] = ()  # group cns
    disabled: bool = False
    parent_dn: str = PEOPLE_DN
    password: str = field(default="", repr=False)

    @property
    def cn(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def dn(self) -> str:
        return f"uid={self.uid},{self.parent_dn}"

    @property
    def mail(self) -> str:
        return f"{self.uid}@{MAIL_DOMAIN}"

    @property
    def entry_uuid(self) -> str:
        return entry_uuid(self.dn)

    def attributes(self, password_hash: str | None = None) -> dict[str, list[str]]:
        """The entry's attributes for an online add (ldap3) or, with memberOf, for the LDIF."""
        attributes = {
            "objectClass": ["top", "person", "organizationalPerson", "inetOrgPerson"],
            "uid": [self.uid],
            "cn": [self.cn],
            "sn": [self.family_name],
            "givenName": [self.given_name],
            "displayName": [self.cn],
            "mail": [self.mail],
            "title": [self.title],
            UNIT_ATTRIBUTE: [self.unit],
            "userPassword": [password_hash or ssha(self.password)],
        }
        if self.phone:
            attributes["telephoneNumber"] = [self.phone]
        if self.disabled:
            attributes[DISABLED_ATTRIBUTE] = [DISABLED_VALUE]
        return attributes


OFFICIALS = (
    Official("lan.nt", "Nguyễn", "Thị Lan", "SNV", phone="+84 237 3852 101", groups=("can-bo-snv",),
             password="Mật-khẩu-của-Lan-2024"),
    Official("hung.tv", "Trần", "Văn Hùng", "SNV", title="Giám đốc Sở", phone="+84 237 3852 100",
             groups=("quan-tri", "can-bo-snv"), password="Hung-Sở-Nội-vụ-88"),
    Official("minh.lq", "Lê", "Quang Minh", "STC", phone="+84 912 345 678", groups=("can-bo-stc",),
             password="minh-tai-chinh-2024"),
    Official("thao.dt", "Đặng", "Thu Thảo", "STC", title="Kế toán viên", groups=("can-bo-stc",),
             disabled=True, password="Thảo-đã-nghỉ-2023"),
    Official("huong.pt", "Phạm", "Thị Hương", "XA-DONGTIEN", title="Công chức Văn phòng - Thống kê",
             phone="+84 237 3612 345", groups=("can-bo-xa-dongtien",), password="Hương-Đông-Tiến-1"),
    Official("duc.hv", "Hoàng", "Văn Đức", "XA-DONGTIEN", title="Chủ tịch UBND xã",
             groups=("quan-tri-don-vi", "can-bo-xa-dongtien"), password="Đức-chủ-tịch-xã-7"),
    # Two officials with the same name: a name is never an identifier.
    Official("an.nv", "Nguyễn", "Văn An", "SYT", title="Bác sĩ", password="An-y-tế-2024"),
    Official("an.nv2", "Nguyễn", "Văn An", "PHUONG-HACTHANH", title="Công chức Địa chính - Xây dựng",
             password="An-Hạc-Thành-2024"),
    Official("yen.vh", "Vũ", "Hải Yến", "SYT", title="Phó Giám đốc Sở", parent_dn=SECONDED_DN,
             password="Yến-biệt-phái-2024"),
)
OFFICIALS_BY_UID = {official.uid: official for official in OFFICIALS}
# Clear-text passwords of the seed officials, by uid.
OFFICIAL_PASSWORDS = {official.uid: official.password for official in OFFICIALS}

# Every generated official (``officials(n)``) has this password.
GENERATED_PASSWORD = "Cán-bộ-mẫu-2024"

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ",
           "Ngô", "Dương", "Lý", "Trịnh", "Mai", "Lương", "Đinh")
# (middle names, given names) of women and of men.
_NAMES = (
    (("Thị", "Ngọc", "Thu", "Thanh", "Hồng", "Minh"),
     ("Lan", "Hương", "Thảo", "Hà", "Linh", "Phương", "Nga", "Yến", "Trang", "Nhung", "Vy", "Hằng")),
    (("Văn", "Hữu", "Đức", "Minh", "Quang", "Xuân", "Bảo", "Thanh"),
     ("Hùng", "Minh", "Đức", "Tuấn", "Dũng", "Sơn", "Hải", "Long", "Khánh", "Quý", "Thắng", "Tâm")),
)
_TITLES = ("Chuyên viên", "Chuyên viên chính", "Cán sự", "Phó Trưởng phòng", "Trưởng phòng", "Văn thư")


def ascii_fold(text: str) -> str:
    """'Đặng Thu Thảo' → 'Dang Thu Thao': diacritics off, as uids and e-mail addresses are written."""
    text = text.replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))


_fold = functools.lru_cache(maxsize=None)(ascii_fold)


def officials(n: int, *, start: int = 0, prefix: str = "cb", parent_dn: str = PEOPLE_DN,
              units: Iterable[str] | None = None, groups: tuple[str, ...] = ()) -> Iterator[Official]:
    """``n`` synthetic officials with Vietnamese names, numbered from ``start``; deterministic.

    uids look like ``lan.nt.cb000042`` (unique by number and ``prefix``); units go round the seed's units;
    the password is ``GENERATED_PASSWORD``; each is a member of the seed ``groups`` given (for other
    memberships per official, ``dataclasses.replace(official, groups=...)`` before ``seed_entries``).
    """
    unit_codes = tuple(units or UNIT_NAMES)
    for i in range(start, start + n):
        family = _FAMILY[i % len(_FAMILY)]
        middles, givens = _NAMES[(i // 3) % 2]
        middle = middles[(i // len(_FAMILY)) % len(middles)]
        given = givens[(i * 7 + i // 3) % len(givens)]
        initials = _fold(family[0] + middle[0]).lower()
        yield Official(
            uid=f"{_fold(given).lower()}.{initials}.{prefix}{i:06d}",
            family_name=family,
            given_name=f"{middle} {given}",
            unit=unit_codes[i % len(unit_codes)],
            title=_TITLES[i % len(_TITLES)],
            phone=f"+84 237 {3000 + i // 10000:04d} {i % 10000:04d}",
            parent_dn=parent_dn,
            groups=groups,
            password=GENERATED_PASSWORD,
        )


# --- LDIF -------------------------------------------------------------------------------------------


def ssha(password: str) -> str:
    """The ``{SSHA}`` value slapd checks a simple bind against (SHA-1 of password + 8-byte salt)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 (what slapd's {SSHA} is)
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


# RFC 2849 SAFE-STRING: ASCII without NUL, LF, CR; not starting with space, ':' or '<'; and (the RFC's
# note) no trailing space. Anything else is written base64-encoded ("name:: ...").
_SAFE_STRING = re.compile(
    r"(?:[\x01-\x09\x0b\x0c\x0e-\x1f\x21-\x39\x3b\x3d-\x7f](?:[\x01-\x09\x0b\x0c\x0e-\x7f]*[^\x00-\x20\x80-\U0010ffff])?)?"
)


def ldif_record(dn: str, attributes: dict[str, list[str]]) -> str:
    """One LDIF record; values that are not plain ASCII are base64-encoded (RFC 2849)."""
    lines = []
    for name, values in {"dn": [dn], **attributes}.items():
        for value in values:
            if _SAFE_STRING.fullmatch(value):
                lines.append(f"{name}: {value}")
            else:
                lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
    return "\n".join(lines) + "\n\n"


def _with_uuid(dn: str, attributes: dict[str, list[str]]) -> str:
    return ldif_record(dn, {**attributes, "entryUUID": [entry_uuid(dn)]})


def _ou(dn: str, description: str) -> str:
    name = dn.split(",", 1)[0].split("=", 1)[1]
    return _with_uuid(dn, {"objectClass": ["top", "organizationalUnit"], "ou": [name], "description": [description]})


def _policy(dn: str, description: str, *, lockout: bool) -> str:
    return _with_uuid(dn, {
        "objectClass": ["top", "device", "pwdPolicy"],
        "cn": [dn.split(",", 1)[0][3:]],
        "description": [description],
        "pwdAttribute": ["userPassword"],
        "pwdLockout": ["TRUE" if lockout else "FALSE"],
        "pwdMaxFailure": [str(MAX_PASSWORD_FAILURES if lockout else 0)],
        # Locked until an administrator deletes pwdAccountLockedTime (tests unlock by hand).
        "pwdLockoutDuration": ["0"],
        "pwdFailureCountInterval": ["0"],
        "pwdAllowUserChange": ["TRUE"],
        "pwdMustChange": ["FALSE"],
        "pwdSafeModify": ["FALSE"],
        "pwdInHistory": ["0"],
        "pwdCheckQuality": ["0"],
    })


def base_entries() -> Iterator[str]:
    """The suffix, the organisational units, units, policies and the service account."""
    yield _with_uuid(BASE_DN, {
        "objectClass": ["top", "dcObject", "organization"],
        "dc": ["thanhhoa"],
        "o": ["Ủy ban nhân dân tỉnh Thanh Hóa"],
    })
    yield _ou(PEOPLE_DN, "Cán bộ, công chức")
    yield _ou(SECONDED_DN, "Cán bộ, công chức biệt phái")
    yield _ou(ARCHIVE_DN, "Đã nghỉ việc, nghỉ hưu")
    yield _ou(GROUPS_DN, "Nhóm")
    yield _ou(UNITS_DN, "Cơ quan, đơn vị")
    yield _ou(SERVICES_DN, "Tài khoản dịch vụ")
    yield _ou(POLICIES_DN, "Chính sách mật khẩu")
    yield _policy(DEFAULT_POLICY_DN, "Khóa sau 3 lần sai mật khẩu", lockout=True)
    yield _policy(SERVICE_POLICY_DN, "Tài khoản dịch vụ: không khóa", lockout=False)
    for unit in UNITS:
        yield _with_uuid(unit.dn, {"objectClass": ["top", "organizationalUnit"], "ou": [unit.code],
                                   "description": [unit.name]})
    yield _with_uuid(SERVICE_DN, {
        "objectClass": ["top", "applicationProcess", "simpleSecurityObject"],
        "cn": ["dangnhap"],
        "description": ["Dịch vụ đăng nhập một lần (dangnhap)"],
        "userPassword": [ssha(SERVICE_PASSWORD)],
        # A service account an attacker could lock by guessing would be a denial of service.
        "pwdPolicySubentry": [SERVICE_POLICY_DN],
    })


def official_entries(people: Iterable[Official]) -> Iterator[str]:
    """LDIF for officials, with memberOf for the groups they list. One hash per distinct password."""
    hashes: dict[str, str] = {}
    groups = {group.cn: group.dn for group in GROUPS}
    for official in people:
        if official.password not in hashes:
            hashes[official.password] = ssha(official.password)
        attributes = official.attributes(hashes[official.password])
        if official.groups:
            if unknown := set(official.groups) - groups.keys():
                raise ValueError(f"{official.uid}: no such seed group {sorted(unknown)}")
            attributes["memberOf"] = [groups[cn] for cn in official.groups]
        yield _with_uuid(official.dn, attributes)


def group_entries(people: Iterable[Official], groups: Iterable[Group] = GROUPS) -> Iterator[str]:
    """groupOfNames entries with the DNs of the officials that list them (a group needs one member)."""
    members: dict[str, list[str]] = {}
    for official in people:
        for cn in official.groups:
            members.setdefault(cn, []).append(official.dn)
    for group in groups:
        if members.get(group.cn):
            yield _with_uuid(group.dn, {"objectClass": ["top", "groupOfNames"], "cn": [group.cn],
                                        "description": [group.description], "member": members[group.cn]})


def seed_entries(extra: Iterable[Official] = ()) -> Iterator[str]:
    """The whole seed as LDIF records, for ``slapadd``: base entries, the seed officials (plus ``extra``),
    groups. ``extra`` is consumed once and may be a generator of any size (only members are kept)."""
    yield from base_entries()
    grouped: list[Official] = []

    def people() -> Iterator[Official]:
        for official in itertools.chain(OFFICIALS, extra):
            if official.groups:
                grouped.append(official)
            yield official

    yield from official_entries(people())
    yield from group_entries(grouped)
