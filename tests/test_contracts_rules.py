"""The pure cores: contract/party state machines, routing and field layout (Hypothesis properties)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealpact.contracts import routing
from sealpact.contracts.errors import InvalidField, InvalidTransition
from sealpact.contracts.layout import FieldKind, PartyInfo, PlacedField, Rect, check_complete, check_fields
from sealpact.contracts.state import (
    PARTY_DONE,
    TERMINAL,
    ContractEvent,
    ContractStatus,
    PartyEvent,
    PartyRole,
    PartyStatus,
    can,
    is_editable,
    next_party_status,
    next_status,
    party_can,
)

contract_events = st.lists(st.sampled_from(list(ContractEvent)), max_size=12)


@given(contract_events)
def test_terminal_states_absorb_and_only_drafts_are_editable(events: list[ContractEvent]) -> None:
    status = ContractStatus.DRAFT
    for event in events:
        if can(status, event):
            new = next_status(status, event)
            assert status not in TERMINAL
            assert new is not ContractStatus.DRAFT
            status = new
        else:
            with pytest.raises(InvalidTransition):
                next_status(status, event)
    if status in TERMINAL:
        for event in ContractEvent:
            assert not can(status, event)
    assert is_editable(status) == (status is ContractStatus.DRAFT)


def test_documented_paths() -> None:
    path = [ContractEvent.SEND, ContractEvent.PARTY_DONE, ContractEvent.COMPLETE]
    status = ContractStatus.DRAFT
    for event in path:
        status = next_status(status, event)
    assert status is ContractStatus.COMPLETED
    assert next_status(ContractStatus.SENT, ContractEvent.EXPIRE) is ContractStatus.EXPIRED
    assert next_status(ContractStatus.IN_PROGRESS, ContractEvent.DECLINE) is ContractStatus.DECLINED
    assert next_status(ContractStatus.DRAFT, ContractEvent.CANCEL) is ContractStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        next_status(ContractStatus.DRAFT, ContractEvent.EXPIRE)  # a draft has no expiry clock


@given(st.sampled_from(list(PartyRole)), st.lists(st.sampled_from(list(PartyEvent)), max_size=8))
def test_party_machine(role: PartyRole, events: list[PartyEvent]) -> None:
    status = PartyStatus.WAITING
    for event in events:
        if party_can(role, status, event):
            status = next_party_status(role, status, event)
        else:
            with pytest.raises(InvalidTransition):
                next_party_status(role, status, event)
    if role is PartyRole.CC:
        assert status in (PartyStatus.WAITING, PartyStatus.COPIED)
    if role is PartyRole.APPROVER:
        assert status is not PartyStatus.SIGNED
    if role is PartyRole.SIGNER:
        assert status is not PartyStatus.APPROVED


party_strategy = st.tuples(st.sampled_from(list(PartyRole)), st.integers(min_value=1, max_value=4))


@settings(max_examples=200)
@given(st.lists(party_strategy, min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_routing_runs_every_round_in_order(parties: list[tuple[PartyRole, int]], rnd: object) -> None:
    """Simulate: activate, let a random active party finish, repeat; rounds never overlap or go back."""
    import random

    assert isinstance(rnd, random.Random)
    slots = [
        routing.Slot(str(i), role, order, PartyStatus.WAITING) for i, (role, order) in enumerate(parties)
    ]
    finished_orders: list[int] = []
    for _ in range(20):
        for pid in routing.to_activate(slots):
            slots = [
                routing.Slot(s.id, s.role, s.order, PartyStatus.ACTIVE) if s.id == pid else s for s in slots
            ]
        active = [s for s in slots if s.status is PartyStatus.ACTIVE]
        current = routing.current_round(slots)
        if current is None:
            break
        # Everyone active is in the current round; every earlier acting party is done.
        assert all(s.order == current for s in active)
        assert all(s.status in PARTY_DONE for s in slots if s.role.acts and s.order < current)
        assert all(routing.may_act(slots, s.id) for s in active)
        assert not any(routing.may_act(slots, s.id) for s in slots if s.status is PartyStatus.WAITING)
        chosen = rnd.choice(active)
        done = PartyStatus.SIGNED if chosen.role is PartyRole.SIGNER else PartyStatus.APPROVED
        slots = [routing.Slot(s.id, s.role, s.order, done) if s.id == chosen.id else s for s in slots]
        finished_orders.append(chosen.order)
    assert routing.all_done(slots)
    assert finished_orders == sorted(finished_orders)
    assert all(s.status is PartyStatus.WAITING for s in slots if s.role is PartyRole.CC)


def test_routing_modes() -> None:
    assert routing.mode([1, 2, 3]) == "sequential"
    assert routing.mode([1, 1]) == "parallel"
    assert routing.mode([1, 1, 2]) == "mixed"
    assert routing.mode([1]) == "sequential"


PAGES = {"d": [(595.0, 842.0), (842.0, 595.0)]}
PARTIES = {
    "p": PartyInfo("individual", acts=True, signs=True),
    "q": PartyInfo("enterprise", acts=True, signs=True),
    "cc": PartyInfo("individual", acts=False, signs=False),
    "ap": PartyInfo("individual", acts=True, signs=False),
}


def _f(
    key: str, party: str, rect: Rect, *, page: int = 1, kind: FieldKind = FieldKind.SIGNATURE
) -> PlacedField:
    return PlacedField(key, "d", party, kind, page, rect)


coords = st.floats(min_value=-50, max_value=900, allow_nan=False)


@given(coords, coords, coords, coords, st.integers(min_value=0, max_value=3))
def test_a_field_is_accepted_iff_it_is_on_its_page(
    x1: float, y1: float, x2: float, y2: float, page: int
) -> None:
    field = _f("0", "p", Rect(x1, y1, x2, y2), page=page)
    on_page = (
        1 <= page <= 2
        and x2 - x1 >= 8
        and y2 - y1 >= 8
        and x1 >= 0
        and y1 >= 0
        and x2 <= PAGES["d"][page - 1][0]
        and y2 <= PAGES["d"][page - 1][1]
    )
    if on_page:
        check_fields([field], PAGES, PARTIES)
    else:
        with pytest.raises(InvalidField):
            check_fields([field], PAGES, PARTIES)


# Rectangles that fit both the portrait and the landscape page, so only overlap decides.
@given(st.integers(0, 500), st.integers(0, 555), st.integers(0, 500), st.integers(0, 555))
def test_overlap_is_refused_between_parties_only(ax: int, ay: int, bx: int, by: int) -> None:
    a = Rect(ax, ay, ax + 80, ay + 40)
    b = Rect(bx, by, bx + 80, by + 40)
    overlapping = ax < bx + 80 and bx < ax + 80 and ay < by + 40 and by < ay + 40
    check_fields([_f("0", "p", a), _f("1", "p", b)], PAGES, PARTIES)  # one party: always fine
    if overlapping:
        with pytest.raises(InvalidField, match="overlaps"):
            check_fields([_f("0", "p", a), _f("1", "q", b)], PAGES, PARTIES)
        check_fields([_f("0", "p", a), _f("1", "q", b, page=2)], PAGES, PARTIES)  # another page
    else:
        check_fields([_f("0", "p", a), _f("1", "q", b)], PAGES, PARTIES)


def test_kind_rules() -> None:
    r = Rect(10, 10, 100, 60)
    with pytest.raises(InvalidField, match="enterprise"):
        check_fields([_f("0", "p", r, kind=FieldKind.SEAL)], PAGES, PARTIES)
    check_fields([_f("0", "q", r, kind=FieldKind.SEAL)], PAGES, PARTIES)
    with pytest.raises(InvalidField, match="copy recipient"):
        check_fields([_f("0", "cc", r, kind=FieldKind.TEXT)], PAGES, PARTIES)
    with pytest.raises(InvalidField, match="only a signer"):
        check_fields([_f("0", "ap", r)], PAGES, PARTIES)
    check_fields([_f("0", "ap", r, kind=FieldKind.CHECKBOX)], PAGES, PARTIES)
    # A cross-page seal sits on the page edge: it never counts as overlapping.
    check_fields([_f("0", "q", r, kind=FieldKind.CROSS_PAGE_SEAL), _f("1", "p", r)], PAGES, PARTIES)
    with pytest.raises(InvalidField, match="Every signer"):
        check_complete([_f("0", "p", r)], PARTIES)
    check_complete(
        [_f("0", "p", r), _f("1", "q", Rect(200, 10, 300, 60), kind=FieldKind.SEAL)],
        {"p": PARTIES["p"], "q": PARTIES["q"], "ap": PARTIES["ap"]},
    )
