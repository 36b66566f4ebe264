"""Local identity checks against published examples (GB 11643, GB 32100, Luhn) and masking shapes."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealpact.identity.checks import (
    USCC_CHARSET,
    id_check_character,
    luhn_valid,
    normalise_bank_card,
    normalise_mobile,
    normalise_name,
    organisation_code_check,
    parse_credit_code,
    parse_id_number,
    uscc_check_character,
)
from sealpact.identity.errors import (
    InvalidBankCard,
    InvalidCreditCode,
    InvalidIdNumber,
    InvalidMobile,
    InvalidName,
)
from sealpact.identity.masking import mask_bank_card, mask_id_number, mask_mobile, mask_name

TODAY = date(2026, 1, 1)


# GB 11643-1999 §8 gives these two examples; the first has the check character X.
@pytest.mark.parametrize(
    ("number", "birth", "sex"),
    [("11010519491231002X", date(1949, 12, 31), "F"), ("440524188001010014", date(1880, 1, 1), "M")],
)
def test_gb11643_published_examples(number: str, birth: date, sex: str) -> None:
    parsed = parse_id_number(number, today=TODAY)
    assert parsed.number == number
    assert parsed.birth_date == birth
    assert parsed.sex == sex
    assert id_check_character(number[:17]) == number[17]


def test_id_number_normalised_and_repr_hides_it() -> None:
    parsed = parse_id_number(" 11010519491231002x ", today=TODAY)
    assert parsed.number == "11010519491231002X"
    assert "1949" not in repr(parsed) and "002X" not in repr(parsed)


@pytest.mark.parametrize(
    ("number", "fragment"),
    [
        ("110105194912310021", "check character"),  # wrong check character
        ("11010519491231002Y", "17 digits"),
        ("1101051949123100", "17 digits"),
        ("110105491231002", "15-digit"),
        ("991050194912310020", "region"),
        ("110105194902300025", "birth date"),  # 30 February
        ("110105203001010010", "out of range"),  # born after "today"
        ("11010519491231OO2X", "17 digits"),
        ("１１０１０５１９４９１２３１００２Ｘ" + "1", "17 digits"),
    ],
)
def test_id_number_rejections_name_the_rule_not_the_value(number: str, fragment: str) -> None:
    with pytest.raises(InvalidIdNumber) as info:
        parse_id_number(number, today=TODAY)
    assert fragment in info.value.message
    assert number not in info.value.message
    assert info.value.code == "invalid_id_number"
    assert info.value.http_status == 422


def test_full_width_id_number_is_accepted() -> None:
    assert parse_id_number("１１０１０５１９４９１２３１００２Ｘ", today=TODAY).number == "11010519491231002X"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_mod11_2_any_single_digit_change_is_detected(first17: str) -> None:
    check = id_check_character(first17)
    for position in range(17):
        original = first17[position]
        for digit in "0123456789":
            if digit == original:
                continue
            changed = first17[:position] + digit + first17[position + 1 :]
            # ISO 7064 MOD 11-2 detects every single-substitution error.
            assert id_check_character(changed) != check


# Published codes: the GB 32100 example, and codes printed on the licences of well-known companies.
@pytest.mark.parametrize(
    "code",
    [
        "91350100M000100Y43",  # GB 32100-2015 example
        "9144030071526726XG",  # Tencent Technology (Shenzhen)
        "914403001922038216",  # Huawei Technologies
        "91330100799655058B",  # Alibaba (China)
    ],
)
def test_gb32100_published_examples(code: str) -> None:
    assert parse_credit_code(code) == code
    assert parse_credit_code(code.lower()) == code
    assert uscc_check_character(code[:17]) == code[17]
    assert organisation_code_check(code[8:16]) == code[16]


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y44", "check character"),
        ("91350100M000100Y4", "18 digits"),
        ("91350100M000100I43", "18 digits"),  # I is not in the character set
        ("Z1350100M000100Y43", "18 digits"),
        ("B1350100M000100Y43", "registration authority"),
        ("94350100M000100Y43", "registration authority"),  # market regulation has no type 4
        ("91990100M000100Y43", "region"),
    ],
)
def test_credit_code_rejections(code: str, fragment: str) -> None:
    with pytest.raises(InvalidCreditCode) as info:
        parse_credit_code(code)
    assert fragment in info.value.message
    assert code not in info.value.message


def test_credit_code_organisation_check_is_enforced() -> None:
    # Same structure and a correct MOD 31 character, but the embedded GB 11714 check is wrong.
    body = "91350100M000100Y5"
    code = body + uscc_check_character(body)
    with pytest.raises(InvalidCreditCode, match="organisation code"):
        parse_credit_code(code)


@given(st.text(alphabet=USCC_CHARSET, min_size=15, max_size=15))
def test_mod31_detects_single_substitutions(tail: str) -> None:
    first17 = "91" + tail
    check = uscc_check_character(first17)
    for position in range(17):
        for char in USCC_CHARSET[:5]:
            if char != first17[position]:
                changed = first17[:position] + char + first17[position + 1 :]
                assert uscc_check_character(changed) != check


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "5500000000000004",
        "378282246310005",
        "6011111111111117",
        "6200 0000 0000 0005",  # UnionPay test cards (Stripe)
        "6205500000000000004",
    ],
)
def test_luhn_published_test_numbers(number: str) -> None:
    assert normalise_bank_card(number) == number.replace(" ", "")


@pytest.mark.parametrize(
    "number", ["4111111111111112", "41111111111", "41111111111111111111", "4111x11111111111"]
)
def test_luhn_rejections(number: str) -> None:
    with pytest.raises(InvalidBankCard):
        normalise_bank_card(number)
    assert not luhn_valid(number) or len(number) > 19 or len(number) < 12


@given(st.text(alphabet="0123456789", min_size=11, max_size=18))
def test_luhn_completion_property(prefix: str) -> None:
    completions = [d for d in "0123456789" if luhn_valid(prefix + d)]
    assert len(completions) == 1


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("13800138000", "13800138000"), ("+86 138-0013-8000", "13800138000"), ("8619912345678", "19912345678")],
)
def test_mobile_normalisation(raw: str, normal: str) -> None:
    assert normalise_mobile(raw) == normal


@pytest.mark.parametrize("raw", ["12800138000", "1380013800", "138001380001", "+1 2025550123", "abcdefghijk"])
def test_mobile_rejections(raw: str) -> None:
    with pytest.raises(InvalidMobile) as info:
        normalise_mobile(raw)
    assert raw not in info.value.message


def test_names() -> None:
    assert normalise_name(" 张三 ") == "张三"
    assert normalise_name("买买提•艾力") == "买买提·艾力"
    for bad in ("", "   ", "张三<script>", "张3", "x" * 65):
        with pytest.raises(InvalidName):
            normalise_name(bad)


def test_masks() -> None:
    assert mask_id_number("110105194912311234") == "110***********1234"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_mobile("13812345678") == "138****5678"
    assert mask_mobile("+8613812345678") == "138****5678"
    assert mask_bank_card("6222021234567891234") == "6222 **** **** 1234"
    assert mask_bank_card("6222021234561234") == "6222 **** **** 1234"  # length not revealed
    assert mask_name("张三") == "张*"
    assert mask_name("张三丰") == "张*丰"
    assert mask_name("欧阳娜娜") == "欧**娜"
    assert mask_id_number("123") == "***"
