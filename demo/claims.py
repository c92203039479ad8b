"""How a portal shows what it received: claims in a sensible order, with Vietnamese labels and values."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

VIETNAM_TIME = timezone(timedelta(hours=7))  # UTC+7 all year

# Claims in the order shown, with their Vietnamese labels (OIDC Core §2 and §5.1, plus our org scope).
CLAIM_LABELS = {
    "name": "Họ và tên", "family_name": "Họ", "given_name": "Tên", "birthdate": "Ngày sinh",
    "email": "Email", "email_verified": "Email đã xác minh", "phone_number": "Số điện thoại",
    "phone_number_verified": "Số điện thoại đã xác minh", "address": "Địa chỉ",
    "preferred_username": "Tên đăng nhập", "locale": "Ngôn ngữ", "updated_at": "Hồ sơ cập nhật lúc",
    "org_unit": "Đơn vị", "roles": "Vai trò",
    "sub": "Mã người dùng (không phải số định danh)", "iss": "Hệ thống cấp", "aud": "Cấp cho ứng dụng",
    "azp": "Ứng dụng yêu cầu", "auth_time": "Đăng nhập lúc", "iat": "Cấp lúc", "exp": "Hết hạn lúc",
    "acr": "Mức độ xác thực", "amr": "Phương thức xác thực", "sid": "Mã phiên đăng nhập",
    "nonce": "Nonce (chống phát lại)", "at_hash": "Mã băm access token",
}
TIME_CLAIMS = frozenset({"auth_time", "iat", "exp", "updated_at"})


def claim_rows(claims: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, claim name, value as shown) for each claim: known ones in CLAIM_LABELS order, then the rest."""
    order = list(CLAIM_LABELS)
    names = sorted(claims, key=lambda n: (order.index(n) if n in CLAIM_LABELS else len(order), n))
    return [(CLAIM_LABELS.get(n, n), n, _shown(n, claims[n])) for n in names]


def _shown(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if name in TIME_CLAIMS and isinstance(value, int | float):
        return local_time(value)
    if name == "birthdate" and isinstance(value, str):
        try:
            return date.fromisoformat(value).strftime("%d/%m/%Y")
        except ValueError:
            return value  # e.g. 0000-05-17 when the year is withheld (OIDC Core §5.1)
    if isinstance(value, dict):
        return str(value.get("formatted") or ", ".join(f"{k}: {v}" for k, v in value.items()))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


def local_time(timestamp: float, pattern: str = "%d/%m/%Y %H:%M") -> str:
    return datetime.fromtimestamp(timestamp, VIETNAM_TIME).strftime(pattern)
