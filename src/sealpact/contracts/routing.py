"""Routing: who may act now. Pure.

Parties act in ascending ``order``; parties sharing an order number act in parallel, so sequential
(1, 2, 3), parallel (1, 1, 1) and mixed (1, 1, 2) routing are one rule. Copy recipients never act.
The current round is the lowest order with a signer or approver not yet done; everyone before it is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sealpact.contracts.state import PARTY_DONE, PartyRole, PartyStatus


@dataclass(frozen=True)
class Slot:
    """What routing needs to know about one party."""

    id: str
    role: PartyRole
    order: int
    status: PartyStatus


def current_round(parties: Iterable[Slot]) -> int | None:
    """The order number whose parties may act now; None when every signer and approver is done."""
    pending = [p.order for p in parties if p.role.acts and p.status not in PARTY_DONE]
    return min(pending) if pending else None


def to_activate(parties: Sequence[Slot]) -> list[str]:
    """Ids of waiting parties in the current round (to notify and mark active), in input order."""
    round_ = current_round(parties)
    if round_ is None:
        return []
    return [p.id for p in parties if p.role.acts and p.order == round_ and p.status is PartyStatus.WAITING]


def may_act(parties: Sequence[Slot], party_id: str) -> bool:
    """True when ``party_id`` is an active signer/approver in the current round."""
    round_ = current_round(parties)
    for p in parties:
        if p.id == party_id:
            return p.role.acts and p.order == round_ and p.status is PartyStatus.ACTIVE
    return False


def all_done(parties: Iterable[Slot]) -> bool:
    return current_round(parties) is None


def mode(orders: Iterable[int]) -> str:
    """``sequential``, ``parallel`` or ``mixed``: a description for views, never a rule."""
    values = list(orders)
    distinct = len(set(values))
    if distinct <= 1:
        return "parallel" if len(values) > 1 else "sequential"
    return "sequential" if distinct == len(values) else "mixed"
