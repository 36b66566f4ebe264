"""Field placement rules: pure checks of fields against page sizes, party kinds and each other.

Coordinates are PDF points with the origin at the bottom left of the page (ISO 32000-2 section 8.3.2.3),
pages are numbered from 1. A field must lie inside its page's box, be at least :data:`MIN_SIDE` points on
each side, and must not overlap a field assigned to a different party (two parties' signatures on top
of each other cannot both be read). Overlap within one party's own fields is allowed (e.g. a date under
a signature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from sealpact.contracts.errors import InvalidField

MIN_SIDE = 8.0
MAX_FIELDS = 500


class FieldKind(StrEnum):
    SIGNATURE = "signature"
    SEAL = "seal"
    CROSS_PAGE_SEAL = "cross_page_seal"  # 骑缝章: stamped across the right edge of every page
    DATE_SIGNED = "date_signed"
    TEXT = "text"
    CHECKBOX = "checkbox"

    @property
    def is_signature(self) -> bool:
        return self in (FieldKind.SIGNATURE, FieldKind.SEAL, FieldKind.CROSS_PAGE_SEAL)

    @property
    def enterprise_only(self) -> bool:
        return self in (FieldKind.SEAL, FieldKind.CROSS_PAGE_SEAL)


@dataclass(frozen=True)
class Rect:
    x1: float
    y1: float
    x2: float
    y2: float

    def overlaps(self, other: Rect) -> bool:
        """Interiors intersect (touching edges is not an overlap)."""
        return self.x1 < other.x2 and other.x1 < self.x2 and self.y1 < other.y2 and other.y1 < self.y2


@dataclass(frozen=True)
class PlacedField:
    key: str  # an id or a position, named in errors
    document: str
    party: str
    kind: FieldKind
    page: int
    rect: Rect


@dataclass(frozen=True)
class PartyInfo:
    kind: str  # individual | enterprise
    acts: bool  # signer or approver
    signs: bool  # signer


def check_fields(
    fields: Sequence[PlacedField],
    pages: Mapping[str, Sequence[tuple[float, float]]],
    parties: Mapping[str, PartyInfo],
) -> None:
    """Raise :class:`InvalidField` naming the first bad field; nothing is changed by a check."""
    if len(fields) > MAX_FIELDS:
        raise InvalidField(f"At most {MAX_FIELDS} fields per contract.")
    for f in fields:
        sizes = pages.get(f.document)
        if sizes is None:
            raise InvalidField(f"Field {f.key}: unknown document.")
        party = parties.get(f.party)
        if party is None:
            raise InvalidField(f"Field {f.key}: unknown party.")
        if not party.acts:
            raise InvalidField(f"Field {f.key}: a copy recipient cannot be assigned fields.")
        if f.kind.is_signature and not party.signs:
            raise InvalidField(f"Field {f.key}: only a signer has signature or seal fields.")
        if f.kind.enterprise_only and party.kind != "enterprise":
            raise InvalidField(f"Field {f.key}: seal fields belong to enterprise parties.")
        if not 1 <= f.page <= len(sizes):
            raise InvalidField(f"Field {f.key}: page {f.page} is not in the document (1-{len(sizes)}).")
        width, height = sizes[f.page - 1]
        r = f.rect
        if not (r.x2 - r.x1 >= MIN_SIDE and r.y2 - r.y1 >= MIN_SIDE):
            raise InvalidField(
                f"Field {f.key}: the rectangle needs x2 > x1, y2 > y1 and {MIN_SIDE:g} pt sides."
            )
        if r.x1 < 0 or r.y1 < 0 or r.x2 > width or r.y2 > height:
            raise InvalidField(f"Field {f.key}: the rectangle is off the page ({width:g} x {height:g} pt).")
    for i, a in enumerate(fields):
        if a.kind is FieldKind.CROSS_PAGE_SEAL:
            continue  # placed by the engine along the page edge, not at its rectangle
        for b in fields[i + 1 :]:
            if b.kind is FieldKind.CROSS_PAGE_SEAL or a.party == b.party:
                continue
            if a.document == b.document and a.page == b.page and a.rect.overlaps(b.rect):
                raise InvalidField(f"Field {b.key} overlaps field {a.key} of another party.")


def check_complete(fields: Sequence[PlacedField], parties: Mapping[str, PartyInfo]) -> None:
    """Before sending: every signer has at least one signature or seal field."""
    signed = {f.party for f in fields if f.kind.is_signature and f.kind is not FieldKind.CROSS_PAGE_SEAL}
    for party_id, info in parties.items():
        if info.signs and party_id not in signed:
            raise InvalidField("Every signer needs a signature or seal field before the contract is sent.")
