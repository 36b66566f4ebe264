"""Login identifiers: email addresses and mainland China mobile numbers. Pure functions, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from email_validator import EmailNotValidError, validate_email

from sealpact.accounts.errors import InvalidIdentifier

# Mainland China mobile numbers: 11 digits, first 1, second 3-9 (MIIT numbering plan).
_MOBILE = re.compile(r"1[3-9][0-9]{9}")  # [0-9], not \d: no full-width or other Unicode digits


@dataclass(frozen=True)
class Identifier:
    kind: Literal["email", "mobile"]
    value: str


def normalise_email(raw: str) -> str:
    try:
        # No DNS lookups: registration must not depend on (or leak to) the network.
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidIdentifier("Not a valid email address.") from exc
    # Domains are case-insensitive; local parts are in practice too, and one account per mailbox matters more.
    return result.normalized.lower()


def normalise_mobile(raw: str) -> str:
    compact = raw.strip().replace(" ", "").replace("-", "")
    # +86 (or its dial-out form 0086) is the country code; the stored form is the bare 11 digits.
    for prefix in ("+86", "0086"):
        if compact.startswith(prefix):
            compact = compact[len(prefix) :]
            break
    if not _MOBILE.fullmatch(compact):
        raise InvalidIdentifier("Not a valid mainland China mobile number.")
    return compact


def parse_identifier(raw: str) -> Identifier:
    """An email when it has an ``@``, a mobile number otherwise."""
    if len(raw) > 320:
        raise InvalidIdentifier("Identifier too long.")
    if "@" in raw:
        return Identifier("email", normalise_email(raw))
    return Identifier("mobile", normalise_mobile(raw))
