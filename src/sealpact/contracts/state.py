"""The contract and party state machines: pure functions, no I/O (Hypothesis-tested).

Contract: ``draft -> sent -> in_progress -> completed``, or ``declined`` / ``cancelled`` / ``expired``.
Party: ``waiting -> active -> signed`` (signers), ``-> approved`` (approvers), or ``-> declined``;
copy recipients go ``waiting -> copied`` when the contract completes. A terminal status never changes.
"""

from __future__ import annotations

from enum import StrEnum

from sealpact.contracts.errors import InvalidTransition


class ContractStatus(StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ContractEvent(StrEnum):
    SEND = "send"
    PARTY_DONE = "party_done"  # a signer or approver finished; others remain
    COMPLETE = "complete"  # the last signer or approver finished
    DECLINE = "decline"
    CANCEL = "cancel"
    EXPIRE = "expire"


TERMINAL: frozenset[ContractStatus] = frozenset(
    {ContractStatus.COMPLETED, ContractStatus.DECLINED, ContractStatus.CANCELLED, ContractStatus.EXPIRED}
)
OPEN: frozenset[ContractStatus] = frozenset({ContractStatus.SENT, ContractStatus.IN_PROGRESS})

_CONTRACT: dict[tuple[ContractStatus, ContractEvent], ContractStatus] = {
    (ContractStatus.DRAFT, ContractEvent.SEND): ContractStatus.SENT,
    (ContractStatus.DRAFT, ContractEvent.CANCEL): ContractStatus.CANCELLED,
    (ContractStatus.SENT, ContractEvent.PARTY_DONE): ContractStatus.IN_PROGRESS,
    (ContractStatus.IN_PROGRESS, ContractEvent.PARTY_DONE): ContractStatus.IN_PROGRESS,
    (ContractStatus.SENT, ContractEvent.COMPLETE): ContractStatus.COMPLETED,
    (ContractStatus.IN_PROGRESS, ContractEvent.COMPLETE): ContractStatus.COMPLETED,
}
for _open in OPEN:
    _CONTRACT[(_open, ContractEvent.DECLINE)] = ContractStatus.DECLINED
    _CONTRACT[(_open, ContractEvent.CANCEL)] = ContractStatus.CANCELLED
    _CONTRACT[(_open, ContractEvent.EXPIRE)] = ContractStatus.EXPIRED


def next_status(status: ContractStatus, event: ContractEvent) -> ContractStatus:
    """The status after ``event``; :class:`InvalidTransition` when the event does not apply."""
    try:
        return _CONTRACT[(status, event)]
    except KeyError:
        action = event.value.replace("_", " ")
        raise InvalidTransition(f"A contract that is {status.value} cannot {action}.") from None


def can(status: ContractStatus, event: ContractEvent) -> bool:
    return (status, event) in _CONTRACT


def is_editable(status: ContractStatus) -> bool:
    """Documents, parties and fields change only in a draft (a sent contract is frozen)."""
    return status is ContractStatus.DRAFT


class PartyRole(StrEnum):
    SIGNER = "signer"
    APPROVER = "approver"
    CC = "cc"  # copy recipient: never acts, receives the completed contract

    @property
    def acts(self) -> bool:
        return self is not PartyRole.CC


class PartyStatus(StrEnum):
    WAITING = "waiting"  # not yet their turn (or the contract is a draft)
    ACTIVE = "active"  # notified; may view, confirm intent and sign / approve / decline
    SIGNED = "signed"
    APPROVED = "approved"
    DECLINED = "declined"
    COPIED = "copied"  # a copy recipient after completion


class PartyEvent(StrEnum):
    ACTIVATE = "activate"
    SIGN = "sign"
    APPROVE = "approve"
    DECLINE = "decline"
    COPY = "copy"


PARTY_DONE: frozenset[PartyStatus] = frozenset({PartyStatus.SIGNED, PartyStatus.APPROVED})
PARTY_TERMINAL: frozenset[PartyStatus] = PARTY_DONE | {PartyStatus.DECLINED, PartyStatus.COPIED}

_PARTY: dict[tuple[PartyRole, PartyStatus, PartyEvent], PartyStatus] = {
    (PartyRole.SIGNER, PartyStatus.WAITING, PartyEvent.ACTIVATE): PartyStatus.ACTIVE,
    (PartyRole.APPROVER, PartyStatus.WAITING, PartyEvent.ACTIVATE): PartyStatus.ACTIVE,
    (PartyRole.SIGNER, PartyStatus.ACTIVE, PartyEvent.SIGN): PartyStatus.SIGNED,
    (PartyRole.APPROVER, PartyStatus.ACTIVE, PartyEvent.APPROVE): PartyStatus.APPROVED,
    (PartyRole.SIGNER, PartyStatus.ACTIVE, PartyEvent.DECLINE): PartyStatus.DECLINED,
    (PartyRole.APPROVER, PartyStatus.ACTIVE, PartyEvent.DECLINE): PartyStatus.DECLINED,
    (PartyRole.CC, PartyStatus.WAITING, PartyEvent.COPY): PartyStatus.COPIED,
}


def next_party_status(role: PartyRole, status: PartyStatus, event: PartyEvent) -> PartyStatus:
    try:
        return _PARTY[(role, status, event)]
    except KeyError:
        raise InvalidTransition(
            f"A {role.value} party that is {status.value} cannot {event.value}."
        ) from None


def party_can(role: PartyRole, status: PartyStatus, event: PartyEvent) -> bool:
    return (role, status, event) in _PARTY
