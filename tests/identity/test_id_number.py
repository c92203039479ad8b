from datetime import date

import pytest

from idp.identity import id_number

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "year", "female"),
    [
        ("038090123456", 1990, False),  # Thanh Hóa, man, 1990
        ("001185000001", 1985, True),  # Hà Nội, woman, 1985
        ("079203000123", 2003, False),  # Hồ Chí Minh City, man, 2003
        ("096326999999", 2026, True),  # Cà Mau, woman, born this year
        (" 038090123456 ", 1990, False),  # surrounding spaces are forgiven
    ],
)
def test_valid_numbers_decode(text: str, year: int, female: bool) -> None:
    parsed = id_number.parse(text, today=TODAY)
    assert (parsed.birth_year, parsed.female, parsed.value) == (year, female, text.strip())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("03809012345", "shape"),  # 11 digits
        ("0380901234567", "shape"),  # 13 digits
        ("03809012345a", "shape"),
        ("０３８０９０１２３４５６", "shape"),  # full-width digits are not ASCII
        ("", "shape"),
        ("003090123456", "province"),  # 003 is not a province code
        ("099090123456", "province"),
        ("038227123456", "birth_year"),  # 2027: not born yet
        ("038490123456", "birth_year"),  # 2190
        ("038899123456", "birth_year"),  # 1899: older than anyone alive
    ],
)
def test_invalid_numbers_say_why(text: str, reason: str) -> None:
    with pytest.raises(id_number.InvalidIdNumber) as caught:
        id_number.parse(text, today=TODAY)
    assert caught.value.reason == reason


def test_every_province_code_is_three_digits() -> None:
    assert len(id_number.PROVINCE_CODES) == 63
    assert all(len(code) == 3 and code.isdigit() for code in id_number.PROVINCE_CODES)
    assert "038" in id_number.PROVINCE_CODES  # Thanh Hóa


def test_shape_check_accepts_invalid_but_well_shaped_numbers() -> None:
    assert id_number.looks_like("003090123456")
    assert not id_number.looks_like("an@example.com")
