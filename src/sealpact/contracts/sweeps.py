"""Scheduled work: expire overdue contracts and remind parties who have not acted. Idempotent.

Each contract is handled in its own transaction with its row locked and its state re-checked, so two
workers running the same sweep (or a sweep re-run at the same clock time) change nothing twice: an
expired contract is no longer open, and a reminded party's ``last_notified_at`` moved forward.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from sealpact.audit import Actor
from sealpact.context import RequestContext
from sealpact.contracts import core, notices
from sealpact.contracts.models import Contract, Party
from sealpact.contracts.state import OPEN, ContractEvent, ContractStatus, PartyStatus, next_status
from sealpact.db import transaction

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

BATCH = 200
SYSTEM = Actor.system()
CTX = RequestContext(ip=None, user_agent="sealpact-scheduler")


def expire_due(runtime: Runtime) -> int:
    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        ids = list(
            session.scalars(
                select(Contract.id)
                .where(Contract.status.in_([s.value for s in OPEN]), Contract.expires_at <= now)
                .order_by(Contract.expires_at)
                .limit(BATCH)
            )
        )
    expired = 0
    for contract_id in ids:
        with transaction(runtime.sessions) as session:
            contract = session.scalars(
                select(Contract).where(Contract.id == contract_id).with_for_update()
            ).one()
            if (
                ContractStatus(contract.status) not in OPEN
                or contract.expires_at is None
                or contract.expires_at > now
            ):
                continue  # handled meanwhile
            contract.status = next_status(ContractStatus(contract.status), ContractEvent.EXPIRE)
            contract.finished_at = now
            contract.updated_at = now
            parties = core.parties_of(session, contract.id)
            core.revoke_access(session, [p.id for p in parties], now)
            for party in parties:
                if party.status == PartyStatus.ACTIVE:
                    notices.send_closed(runtime, session, contract, party, "expired")
            core.event(runtime, session, contract, "expired", CTX, actor=SYSTEM)
            expired += 1
    return expired


def remind_due(runtime: Runtime) -> int:
    """Remind active parties of contracts with automatic reminders whose last notice is N days old."""
    from sealpact.contracts.service import Contracts

    now = runtime.clock.now()
    with transaction(runtime.sessions) as session:
        candidates = list(
            session.execute(
                select(Party.id, Contract.reminder_every_days)
                .join(Contract, Contract.id == Party.contract_id)
                .where(
                    Contract.status.in_([s.value for s in OPEN]),
                    Contract.reminder_every_days.is_not(None),
                    Party.status == PartyStatus.ACTIVE,
                )
                .limit(BATCH * 5)
            )
        )
    reminded = 0
    service = Contracts(runtime)
    for party_id, every in candidates:
        with transaction(runtime.sessions) as session:
            party = session.get(Party, party_id)
            if party is None:
                continue
            contract = session.scalars(
                select(Contract).where(Contract.id == party.contract_id).with_for_update()
            ).one()
            session.refresh(party)
            if ContractStatus(contract.status) not in OPEN or party.status != PartyStatus.ACTIVE:
                continue
            if contract.expires_at is not None and contract.expires_at <= now:
                continue  # expiry, not a reminder, is due
            last = party.last_notified_at or party.activated_at
            if every is None or (last is not None and now - last < timedelta(days=every)):
                continue
            service.remind_party(session, contract, party, CTX, SYSTEM)
            reminded += 1
    return reminded
