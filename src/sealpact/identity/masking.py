"""Masking of personal data for every display: API, HTML, logs, audit exports.

The shapes are the ones Chinese banks and platforms show (and users recognise):
``110***********1234``, ``138****5678``, ``6222 **** **** 1234``, ``张*`` / ``张*丰``.
A bank card keeps a fixed shape whatever its length, so the mask does not leak the length.
"""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    """First 3 and last 4 characters (the region's province + city digit, and the check character)."""
    if len(value) < 8:
        return "*" * len(value)
    return f"{value[:3]}{'*' * (len(value) - 7)}{value[-4:]}"


def mask_mobile(value: str) -> str:
    """``13812345678`` -> ``138****5678``."""
    digits = value.removeprefix("+86")
    if len(digits) < 8:
        return "***"
    return f"{digits[:3]}****{digits[-4:]}"


def mask_bank_card(value: str) -> str:
    """``6222021234567891234`` -> ``6222 **** **** 1234``."""
    digits = value.replace(" ", "")
    if len(digits) < 8:
        return "****"
    return f"{digits[:4]} **** **** {digits[-4:]}"


def mask_name(value: str) -> str:
    """``张三`` -> ``张*``; ``张三丰`` -> ``张*丰``; ``欧阳娜娜`` -> ``欧**娜``."""
    if len(value) <= 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]
