"""Local checks of identity data, before any provider is asked (no fee, no query for impossible data).

Pure functions, no I/O. Each ``parse_*``/``normalise_*`` returns the canonical form or raises a typed
error whose message names the failed rule but never echoes the value.

Standards:
- GB 11643-1999 citizen identity number: 6-digit administrative division code (GB/T 2260), 8-digit
  birth date, 3-digit sequence (odd for men), check character by ISO 7064 MOD 11-2 (``X`` for 10).
- GB 32100-2015 unified social credit code: registration authority, entity type, 6-digit division
  code, 9-character organisation code (GB 11714, with its own check character) and a MOD 31 check
  character over the 31-character set without I, O, Z, S, V.
- Mainland mobile numbers: 11 digits starting 13–19 (MIIT numbering plan), optional +86 prefix.
- Bank card numbers: ISO/IEC 7812 Luhn check digit.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from sealpact.identity.errors import (
    InvalidBankCard,
    InvalidCreditCode,
    InvalidIdNumber,
    InvalidMobile,
    InvalidName,
)

# -- GB 11643 resident identity number --------------------------------------------------------------

# ISO 7064 MOD 11-2 weights for positions 1..17: 2^(18-i) mod 11.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"  # index: weighted sum mod 11
_ID_RE = re.compile(r"\d{17}[\dX]")

# Province-level codes of GB/T 2260 (first two digits), plus 71 (Taiwan) and 81/82/83 used by the
# residence permits for Hong Kong, Macao and Taiwan residents. The full county list changes every
# year; checking it would reject valid older numbers, so only the province and shape are checked.
PROVINCE_CODES = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82", "83",
    }
)  # fmt: skip

# GB 11643 itself gives 440524188001010014 (born 1880) as an example; nothing older is plausible.
EARLIEST_BIRTH = date(1870, 1, 1)


def id_check_character(first17: str) -> str:
    """The GB 11643 / ISO 7064 MOD 11-2 check character for 17 digits."""
    if len(first17) != 17 or not first17.isdigit() or not first17.isascii():
        raise InvalidIdNumber("An identity number's first 17 characters are digits.")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


@dataclass(frozen=True)
class ResidentId:
    """A structurally valid 18-character resident identity number (never log ``number``)."""

    number: str
    region: str
    birth_date: date
    sex: str  # "M" or "F": GB 11643 §5.3, odd sequence code for men

    def __repr__(self) -> str:  # keep the number out of tracebacks and debug logs
        return f"ResidentId(region={self.region[:2]}****, sex={self.sex})"


def normalise_id_number(value: str) -> str:
    """Upper-case, without spaces (people type ``x`` and group digits)."""
    return unicodedata.normalize("NFKC", value).replace(" ", "").replace("-", "").upper()


def parse_id_number(value: str, *, today: date) -> ResidentId:
    """Validate a second-generation (18-character) resident identity number.

    Checks, in order: shape, province code, birth date (a real date, not before 1870, not after
    ``today``), check character. 15-digit first-generation numbers (GB 11643-1989) are refused: those
    cards expired in 2013 and cannot be verified by the public-security service any more.
    """
    number = normalise_id_number(value)
    if len(number) == 15 and number.isdigit():
        raise InvalidIdNumber("15-digit identity numbers are no longer accepted; use the 18-character one.")
    if not _ID_RE.fullmatch(number) or not number.isascii():
        raise InvalidIdNumber("An identity number has 17 digits followed by a digit or X.")
    if number[:2] not in PROVINCE_CODES:
        raise InvalidIdNumber("The identity number's region code is not a valid division code.")
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidIdNumber("The identity number's birth date is not a valid date.") from None
    if birth < EARLIEST_BIRTH or birth > today:
        raise InvalidIdNumber("The identity number's birth date is out of range.")
    if id_check_character(number[:17]) != number[17]:
        raise InvalidIdNumber("The identity number's check character is wrong.")
    sex = "M" if int(number[16]) % 2 else "F"
    return ResidentId(number=number, region=number[:6], birth_date=birth, sex=sex)


# -- GB 32100 unified social credit code -----------------------------------------------------------

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 3^(i-1) mod 31, GB 32100 §5.2
_USCC_RE = re.compile(r"[0-9A-HJ-NP-RTUW-Y]{2}\d{6}[0-9A-HJ-NP-RTUW-Y]{10}")
# GB 32100 Table 1: registration authorities and the entity types each may assign.
_USCC_AUTHORITIES: dict[str, str] = {
    "1": "1239",  # institutional staffing (机构编制): organs, public institutions, ...
    "2": "19",  # foreign affairs
    "3": "12345",  # justice administration (law firms, notaries, ...)
    "4": "19",  # culture
    "5": "1239",  # civil affairs (social organisations, foundations, ...)
    "6": "129",  # tourism
    "7": "129",  # religious affairs
    "8": "129",  # trade unions
    "9": "123",  # market regulation: 1 enterprise, 2 individual business, 3 farmers' cooperative
    "A": "19",  # central military commission reform and staffing office
    "N": "12349",  # agriculture (rural collective economic organisations)
    "Y": "1",  # other
}
# GB 11714 organisation code check: weights 3,7,9,10,5,8,4,2; 11 - (sum mod 11), 10 -> X, 11 -> 0.
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def uscc_check_character(first17: str) -> str:
    total = 0
    for char, weight in zip(first17, _USCC_WEIGHTS, strict=True):
        index = USCC_CHARSET.find(char)
        if index < 0:
            raise InvalidCreditCode("A credit code uses digits and capital letters other than I, O, Z, S, V.")
        total += index * weight
    return USCC_CHARSET[(31 - total % 31) % 31]


def organisation_code_check(first8: str) -> str:
    """GB 11714 check character of the 9-character organisation code (letters count A=10 ... Z=35)."""
    total = sum(int(c, 36) * w for c, w in zip(first8, _ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return "X" if value == 10 else "0" if value == 11 else str(value)


def normalise_credit_code(value: str) -> str:
    return unicodedata.normalize("NFKC", value).replace(" ", "").replace("-", "").upper()


def parse_credit_code(value: str) -> str:
    """Validate a unified social credit code (GB 32100-2015) and return it normalised.

    The embedded organisation code's own GB 11714 check character is verified too, except for
    individual businesses (``92``), whose codes the registries assign without one.
    """
    code = normalise_credit_code(value)
    if len(code) != 18 or not _USCC_RE.fullmatch(code):
        raise InvalidCreditCode("A unified social credit code has 18 digits and capital letters.")
    types = _USCC_AUTHORITIES.get(code[0])
    if types is None or code[1] not in types:
        raise InvalidCreditCode("The credit code's registration authority or entity type is not valid.")
    if code[2:4] not in PROVINCE_CODES and code[2:4] != "10":  # 10xxxx: central-level registrations
        raise InvalidCreditCode("The credit code's region code is not a valid division code.")
    if uscc_check_character(code[:17]) != code[17]:
        raise InvalidCreditCode("The credit code's check character is wrong.")
    if code[:2] != "92" and organisation_code_check(code[8:16]) != code[16]:
        raise InvalidCreditCode("The credit code's organisation code check character is wrong.")
    return code


# -- mobile numbers --------------------------------------------------------------------------------

_MOBILE_RE = re.compile(r"1[3-9]\d{9}")


def normalise_mobile(value: str) -> str:
    """11-digit mainland number from ``+86 138-0013-8000`` style input; raises :class:`InvalidMobile`."""
    digits = unicodedata.normalize("NFKC", value)
    for sep in (" ", "-", "(", ")"):
        digits = digits.replace(sep, "")
    if digits.startswith("+86"):
        digits = digits[3:]
    elif digits.startswith("0086"):
        digits = digits[4:]
    elif len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    if not digits.isascii() or not _MOBILE_RE.fullmatch(digits):
        raise InvalidMobile("A mainland mobile number has 11 digits and starts with 13 to 19.")
    return digits


# -- bank cards ------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """ISO/IEC 7812-1 Annex B (Luhn): double every second digit from the right."""
    if not digits or not digits.isdigit() or not digits.isascii():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def normalise_bank_card(value: str) -> str:
    """Digits only; 12 to 19 digits (ISO/IEC 7812 PAN length) with a valid Luhn check digit."""
    digits = unicodedata.normalize("NFKC", value).replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 12 <= len(digits) <= 19:
        raise InvalidBankCard("A bank card number has 12 to 19 digits.")
    if not luhn_valid(digits):
        raise InvalidBankCard("The bank card number's check digit is wrong.")
    return digits


def normalise_bank_account(value: str) -> str:
    """A corporate settlement account number: 8 to 32 digits (no check digit is standardised)."""
    digits = unicodedata.normalize("NFKC", value).replace(" ", "").replace("-", "")
    if not digits.isascii() or not digits.isdigit() or not 8 <= len(digits) <= 32:
        raise InvalidBankCard("A bank account number has 8 to 32 digits.")
    return digits


# -- names -----------------------------------------------------------------------------------------

_NAME_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f<>\"'`\\{}\[\]|;@#$%^&*+=~/0-9]")


def normalise_name(value: str, *, max_length: int = 64) -> str:
    """A person's name as on the identity card: NFKC, inner spaces collapsed, middle dots unified.

    Names of ethnic minorities use the middle dot (``·``, U+00B7); U+2022 and U+30FB are typed for it.
    """
    name = unicodedata.normalize("NFKC", value).strip()
    name = re.sub(r"\s+", " ", name).replace("•", "·").replace("・", "·")
    if not name or len(name) > max_length or _NAME_FORBIDDEN.search(name):
        raise InvalidName("The name is empty, too long, or contains characters names do not have.")
    return name


def normalise_enterprise_name(value: str) -> str:
    name = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", value).strip())
    if not name or len(name) > 200 or re.search(r"[\x00-\x1f\x7f<>]", name):
        raise InvalidName("The enterprise name is empty, too long, or contains control characters.")
    return name
