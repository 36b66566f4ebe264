"""Helpers shared by the sender and signer use cases: access, events, links, routing, views.

Functions here work inside a caller's transaction and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sealpact import audit
from sealpact.accounts.models import Membership, Organization, User
from sealpact.accounts.permissions import Permission, permissions_of
from sealpact.accounts.principal import Principal
from sealpact.audit import Actor, mask_email, mask_mobile
from sealpact.context import RequestContext
from sealpact.contracts import notices, routing
from sealpact.contracts.errors import ContractNotFound
from sealpact.contracts.models import (
    Contract,
    ContractDocument,
    ContractEventRow,
    ContractField,
    Party,
    SignerSession,
    SigningLink,
)
from sealpact.contracts.state import (
    ContractEvent,
    ContractStatus,
    PartyEvent,
    PartyRole,
    PartyStatus,
    next_party_status,
    next_status,
)
from sealpact.contracts.tokens import LINK_PREFIX, digest, new_token
from sealpact.db import new_id

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

# Contract event kinds that are also webhook events.
_WEBHOOK = {
    "sent": "contract.sent",
    "completed": "contract.completed",
    "declined": "contract.declined",
    "cancelled": "contract.cancelled",
    "expired": "contract.expired",
    "party_activated": "party.activated",
    "party_viewed": "party.viewed",
    "party_intent_confirmed": "party.intent_confirmed",
    "party_signed": "party.signed",
    "party_approved": "party.approved",
    "party_declined": "party.declined",
    "party_reminded": "party.reminded",
    "party_contact_corrected": "party.contact_corrected",
}


# Contract event kinds that also go to the evidence log (same transaction as the change).
EVIDENCE_KINDS = frozenset(
    {
        "document_uploaded",
        "sent",
        "party_authenticated",
        "party_viewed",
        "party_intent_confirmed",
        "party_signed",
        "party_approved",
        "party_declined",
        "party_contact_corrected",
        "completed",
        "declined",
        "cancelled",
        "expired",
    }
)


def load_contract(
    session: Session, principal: Principal, contract_id: str, *, write: bool, lock: bool = False
) -> Contract:
    """The contract if the caller may see it (and change it, when ``write``); else 404.

    The sender sees and changes their contracts; members of the sending organization see them, and
    its admins (``org.manage``) change them. Anyone else gets "not found", never "forbidden".
    """
    query = select(Contract).where(Contract.id == contract_id)
    if lock:
        query = query.with_for_update()
    contract = session.scalars(query).one_or_none() if _is_uuid(contract_id) else None
    if contract is None:
        raise ContractNotFound("No such contract.")
    if contract.owner_user_id == principal.user_id:
        return contract
    if contract.organization_id is not None:
        membership = session.scalars(
            select(Membership).where(
                Membership.organization_id == contract.organization_id,
                Membership.user_id == principal.user_id,
            )
        ).one_or_none()
        if membership is not None:
            needed = Permission.ORG_MANAGE if write else Permission.ORG_VIEW
            if needed in permissions_of(membership.role):
                return contract
    raise ContractNotFound("No such contract.")


def _is_uuid(value: str) -> bool:
    import uuid

    try:
        return str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def parties_of(session: Session, contract_id: str) -> list[Party]:
    return list(
        session.scalars(select(Party).where(Party.contract_id == contract_id).order_by(Party.position))
    )


def documents_of(session: Session, contract_id: str) -> list[ContractDocument]:
    return list(
        session.scalars(
            select(ContractDocument)
            .where(ContractDocument.contract_id == contract_id)
            .order_by(ContractDocument.position)
        )
    )


def fields_of(session: Session, contract_id: str) -> list[ContractField]:
    return list(
        session.scalars(
            select(ContractField)
            .where(ContractField.contract_id == contract_id)
            .order_by(ContractField.position)
        )
    )


def slots(parties: list[Party]) -> list[routing.Slot]:
    return [routing.Slot(p.id, PartyRole(p.role), p.routing_order, PartyStatus(p.status)) for p in parties]


def masked_contact(party: Party) -> dict[str, str]:
    out: dict[str, str] = {}
    if party.email:
        out["email"] = mask_email(party.email)
    if party.mobile:
        out["mobile"] = mask_mobile(party.mobile)
    return out


def sender_name(session: Session, contract: Contract) -> str:
    if contract.organization_id is not None:
        org = session.get(Organization, contract.organization_id)
        if org is not None:
            return org.name
    user = session.get(User, contract.owner_user_id)
    if user is None:
        return "sealpact"
    return user.email or (mask_mobile(user.mobile) if user.mobile else "sealpact")


def event(
    runtime: Runtime,
    session: Session,
    contract: Contract,
    kind: str,
    ctx: RequestContext,
    *,
    actor: Actor,
    party: Party | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Record a contract event (certificate source), its audit event and its webhook, in ``session``."""
    now = runtime.clock.now()
    data = dict(details or {})
    session.add(
        ContractEventRow(
            id=new_id(),
            contract_id=contract.id,
            party_id=party.id if party else None,
            kind=kind,
            occurred_at=now,
            ip=ctx.ip[:64] if ctx.ip else None,
            user_agent=ctx.user_agent[:512] if ctx.user_agent else None,
            details=data,
        )
    )
    audit.record(
        session,
        ctx,
        runtime.clock,
        action=f"contract.{kind}",
        actor=actor,
        object_type="contract",
        object_id=contract.id,
        organization_id=contract.organization_id,
        details={"party_id": party.id} if party else {},
    )
    if kind in EVIDENCE_KINDS:
        from sealpact.evidence.service import EvidenceRecord

        body: dict[str, Any] = {
            "contract_id": contract.id,
            "title": contract.title,
            "ip": ctx.ip,
            "user_agent": ctx.user_agent,
            **data,
        }
        if party is not None:
            body.update(party_id=party.id, party_name=party.name, contact=masked_contact(party))
        runtime.evidence.record(
            session,
            EvidenceRecord(event_type=f"contract.{kind}", subject_id=contract.id, body=body, occurred_at=now),
        )
    webhook = _WEBHOOK.get(kind)
    if webhook is not None:
        payload: dict[str, Any] = {"contract_id": contract.id, "status": contract.status, **data}
        if party is not None:
            payload["party_id"] = party.id
        runtime.webhooks.emit(
            session,
            event_type=webhook,
            owner_user_id=contract.owner_user_id,
            organization_id=contract.organization_id,
            data=payload,
        )


def revoke_access(session: Session, party_ids: list[str], now: datetime) -> None:
    """Invalidate every unused link and open signer session of these parties."""
    if not party_ids:
        return
    session.execute(
        update(SigningLink)
        .where(
            SigningLink.party_id.in_(party_ids),
            SigningLink.used_at.is_(None),
            SigningLink.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    session.execute(
        update(SignerSession)
        .where(SignerSession.party_id.in_(party_ids), SignerSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def issue_link(runtime: Runtime, session: Session, contract: Contract, party: Party, *, kind: str) -> None:
    """A fresh single-use link for ``party``, sent to the party only (older unused links are revoked).

    The raw token goes into the notification and nowhere else: it is not returned, logged or audited.
    """
    now = runtime.clock.now()
    revoke_access(session, [party.id], now)
    token = new_token(LINK_PREFIX)
    ttl = timedelta(hours=runtime.settings.contract_link_ttl_hours)
    expires = min(now + ttl, contract.expires_at) if contract.expires_at else now + ttl
    session.add(
        SigningLink(
            id=new_id(),
            contract_id=contract.id,
            party_id=party.id,
            token_hash=digest(token),
            created_at=now,
            expires_at=expires,
        )
    )
    party.last_notified_at = now
    notices.send_link(runtime, session, contract, party, token, sender_name(session, contract), kind=kind)


@dataclass(frozen=True)
class Advance:
    activated: list[str]
    completed: bool


def advance(
    runtime: Runtime, session: Session, contract: Contract, ctx: RequestContext, actor: Actor
) -> Advance:
    """After a party finished: complete the contract, or activate (and notify) the next round."""
    parties = parties_of(session, contract.id)
    now = runtime.clock.now()
    if routing.all_done(slots(parties)):
        contract.status = next_status(ContractStatus(contract.status), ContractEvent.COMPLETE)
        contract.finished_at = now
        contract.updated_at = now
        for party in parties:
            if party.role == PartyRole.CC:
                party.status = next_party_status(PartyRole.CC, PartyStatus(party.status), PartyEvent.COPY)
        for party in parties:  # a fresh link each, to download the contract and its certificate
            issue_link(runtime, session, contract, party, kind="completed")
        event(runtime, session, contract, "completed", ctx, actor=actor)
        return Advance([], True)
    if contract.status != ContractStatus.DRAFT:
        current = ContractStatus(contract.status)
        if any(p.status in (PartyStatus.SIGNED, PartyStatus.APPROVED) for p in parties):
            contract.status = next_status(current, ContractEvent.PARTY_DONE)
    return Advance(activate_round(runtime, session, contract, parties, ctx, actor), False)


def activate_round(
    runtime: Runtime,
    session: Session,
    contract: Contract,
    parties: list[Party],
    ctx: RequestContext,
    actor: Actor,
) -> list[str]:
    now = runtime.clock.now()
    ids = routing.to_activate(slots(parties))
    by_id = {p.id: p for p in parties}
    for party_id in ids:
        party = by_id[party_id]
        party.status = next_party_status(
            PartyRole(party.role), PartyStatus(party.status), PartyEvent.ACTIVATE
        )
        party.activated_at = now
        issue_link(runtime, session, contract, party, kind="invite")
        event(runtime, session, contract, "party_activated", ctx, actor=actor, party=party)
    return ids
