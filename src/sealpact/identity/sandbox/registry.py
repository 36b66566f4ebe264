"""The sandbox's test registry: persons, carriers' subscribers, bank cards, enterprises, bank accounts.

Loaded from a JSON file (``sealpact sandbox-authority --registry FILE``; format in
docs/identity-providers.md) or the built-in default below. All data is fictitious; the numbers carry
valid check characters so they pass the platform's local checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sealpact.identity.checks import (
    id_check_character,
    luhn_valid,
    organisation_code_check,
    uscc_check_character,
)


@dataclass(frozen=True)
class Person:
    name: str
    id_number: str
    face_similarity: float = 95.0  # what the face page reports when "this person" takes the test
    deceased: bool = False  # the public-security service reports such records as not matching


@dataclass(frozen=True)
class Subscriber:
    mobile: str
    name: str
    id_number: str
    carrier: str = "China Mobile"


@dataclass(frozen=True)
class BankCard:
    card_number: str
    name: str
    id_number: str
    mobile: str  # the reserved mobile number (银行预留手机号)


@dataclass(frozen=True)
class Enterprise:
    name: str
    credit_code: str
    legal_rep_name: str
    status: str = "active"  # "revoked" / "cancelled" enterprises do not verify


@dataclass(frozen=True)
class CorporateAccount:
    account_number: str
    account_name: str
    bank_name: str


@dataclass(frozen=True)
class TestRegistry:
    persons: tuple[Person, ...] = ()
    subscribers: tuple[Subscriber, ...] = ()
    bank_cards: tuple[BankCard, ...] = ()
    enterprises: tuple[Enterprise, ...] = ()
    accounts: tuple[CorporateAccount, ...] = ()

    def person(self, id_number: str) -> Person | None:
        return next((p for p in self.persons if p.id_number == id_number), None)

    def subscriber(self, mobile: str) -> Subscriber | None:
        return next((s for s in self.subscribers if s.mobile == mobile), None)

    def bank_card(self, card_number: str) -> BankCard | None:
        return next((c for c in self.bank_cards if c.card_number == card_number), None)

    def enterprise(self, credit_code: str) -> Enterprise | None:
        return next((e for e in self.enterprises if e.credit_code == credit_code), None)

    def account(self, account_number: str) -> CorporateAccount | None:
        return next((a for a in self.accounts if a.account_number == account_number), None)


def _with_id_check(first17: str) -> str:
    return first17 + id_check_character(first17)


def _with_luhn(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_valid(prefix + d))


def _uscc(head8: str, org8: str) -> str:
    body = head8 + org8 + organisation_code_check(org8)
    return body + uscc_check_character(body)


def default_registry() -> TestRegistry:
    """A small fictitious population for the embedded sandbox, the demo and the tests."""
    zhang = _with_id_check("11010519491231002")  # GB 11643's own example: 11010519491231002X
    li = _with_id_check("44030519900307751")
    wang = _with_id_check("31010419851212003")
    return TestRegistry(
        persons=(
            Person("张三", zhang),
            Person("李四", li, face_similarity=91.5),
            Person("王五", wang, face_similarity=62.0),  # a poor reference photo: face does not pass
        ),
        subscribers=(
            Subscriber("13800138000", "张三", zhang),
            Subscriber("13912345678", "李四", li),
            Subscriber("18612345678", "王五", wang, carrier="China Unicom"),
        ),
        bank_cards=(
            BankCard(_with_luhn("622202020011223344"), "张三", zhang, "13800138000"),
            BankCard(_with_luhn("621700001234567890"), "李四", li, "13912345678"),
        ),
        enterprises=(
            Enterprise("示例科技有限公司", "91350100M000100Y43", "张三"),
            Enterprise("样板贸易有限公司", _uscc("91110108", "MA01ABC0"), "李四"),
            Enterprise("注销商贸有限公司", _uscc("91440300", "MA5DXY10"), "王五", status="cancelled"),
        ),
        accounts=(
            CorporateAccount("110001234567890001", "示例科技有限公司", "中国工商银行北京海淀支行"),
            CorporateAccount("440001234567890002", "样板贸易有限公司", "招商银行深圳分行"),
        ),
    )


def registry_from_dict(data: dict[str, Any]) -> TestRegistry:
    return TestRegistry(
        persons=tuple(Person(**p) for p in data.get("persons", [])),
        subscribers=tuple(Subscriber(**s) for s in data.get("subscribers", [])),
        bank_cards=tuple(BankCard(**c) for c in data.get("bank_cards", [])),
        enterprises=tuple(Enterprise(**e) for e in data.get("enterprises", [])),
        accounts=tuple(CorporateAccount(**a) for a in data.get("accounts", [])),
    )


def load_registry(path: Path) -> TestRegistry:
    """Read a registry JSON file (keys: persons, subscribers, bank_cards, enterprises, accounts)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("a sandbox registry file holds a JSON object")
    return registry_from_dict(data)
