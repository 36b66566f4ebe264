"""The contracts :class:`~sealpact.contracts.signature.KeySource` backed by custody.

A party signing for an enterprise uses the key certified for that enterprise and controlled by the
signing agent's account; everyone else uses their personal key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sealpact.custody.service import Custody, Subject
from sealpact.signing import SignerCredentials

if TYPE_CHECKING:
    from sealpact.contracts.models import Party


def subject_of(user_id: str, party: Party) -> Subject:
    if party.kind == "enterprise" and party.organization_id is not None:
        return Subject.enterprise(party.organization_id)
    return Subject.individual(user_id)


class CustodyKeySource:
    """Unlocks the signer's custody key with their PIN for one signing (wrong PIN: 422, locked: 423)."""

    def __init__(self, custody: Custody) -> None:
        self._custody = custody

    def unlock(self, *, user_id: str, pin: str, party: Party) -> SignerCredentials:
        return self._custody.unlock(user_id=user_id, pin=pin, subject=subject_of(user_id, party))


class EventKeySource:
    """Event-certificate mode: a fresh key and a one-hour certificate per signing (no stored key).

    The PIN is not used: this mode relies on the signing session's identity checks and intent code.
    """

    def __init__(self, custody: Custody) -> None:
        self._custody = custody

    def unlock(self, *, user_id: str, pin: str, party: Party) -> SignerCredentials:
        return self._custody.event_credentials(user_id=user_id, subject=subject_of(user_id, party))
