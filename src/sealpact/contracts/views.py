"""What the use cases return: plain frozen dataclasses, never rows (and never a token or a code)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sealpact.contracts import routing
from sealpact.contracts.core import masked_contact
from sealpact.contracts.models import Contract, ContractDocument, ContractField, Party


@dataclass(frozen=True)
class DocumentView:
    id: str
    position: int
    filename: str
    source_type: str
    page_count: int
    page_sizes: list[list[float]]
    original_sha256: str
    sha256: str
    size: int
    revision: int


@dataclass(frozen=True)
class PartyView:
    id: str
    position: int
    kind: str
    role: str
    order: int
    name: str
    contact: dict[str, str]  # masked
    language: str
    organization_id: str | None
    organization_name: str | None
    seal_id: str | None
    min_level: int
    auth_method: str
    intent_method: str
    role_name: str | None
    status: str
    viewed_at: datetime | None
    intent_confirmed_at: datetime | None
    acted_at: datetime | None
    decline_reason: str | None


@dataclass(frozen=True)
class FieldView:
    id: str
    document_id: str
    party_id: str
    kind: str
    page: int
    rect: dict[str, float]
    required: bool
    label: str | None
    value: str | None


@dataclass(frozen=True)
class ContractView:
    id: str
    title: str
    message: str | None
    metadata: dict[str, Any]
    status: str
    owner_user_id: str
    organization_id: str | None
    routing: str
    expiry_days: int
    reminder_every_days: int | None
    created_at: datetime
    sent_at: datetime | None
    expires_at: datetime | None
    finished_at: datetime | None
    documents: list[DocumentView] = field(default_factory=list)
    parties: list[PartyView] = field(default_factory=list)
    fields: list[FieldView] = field(default_factory=list)


@dataclass(frozen=True)
class ContractSummary:
    id: str
    title: str
    status: str
    organization_id: str | None
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True)
class Page:
    items: list[ContractSummary]
    next_cursor: str | None


def document_view(d: ContractDocument) -> DocumentView:
    return DocumentView(
        d.id,
        d.position,
        d.filename,
        d.source_type,
        d.page_count,
        [list(s) for s in d.page_sizes],
        d.original_sha256,
        d.sha256,
        d.size,
        d.revision,
    )


def party_view(p: Party) -> PartyView:
    return PartyView(
        p.id,
        p.position,
        p.kind,
        p.role,
        p.routing_order,
        p.name,
        masked_contact(p),
        p.language,
        p.organization_id,
        p.organization_name,
        p.seal_id,
        p.min_level,
        p.auth_method,
        p.intent_method,
        p.role_name,
        p.status,
        p.viewed_at,
        p.intent_confirmed_at,
        p.acted_at,
        p.decline_reason,
    )


def field_view(f: ContractField) -> FieldView:
    return FieldView(
        f.id,
        f.document_id,
        f.party_id,
        f.kind,
        f.page,
        {"x1": f.x1, "y1": f.y1, "x2": f.x2, "y2": f.y2},
        f.required,
        f.label,
        f.value,
    )


def contract_view(
    c: Contract, documents: list[ContractDocument], parties: list[Party], fields: list[ContractField]
) -> ContractView:
    return ContractView(
        id=c.id,
        title=c.title,
        message=c.message,
        metadata=dict(c.meta or {}),
        status=c.status,
        owner_user_id=c.owner_user_id,
        organization_id=c.organization_id,
        routing=routing.mode(p.routing_order for p in parties if p.role != "cc"),
        expiry_days=c.expiry_days,
        reminder_every_days=c.reminder_every_days,
        created_at=c.created_at,
        sent_at=c.sent_at,
        expires_at=c.expires_at,
        finished_at=c.finished_at,
        documents=[document_view(d) for d in documents],
        parties=[party_view(p) for p in parties],
        fields=[field_view(f) for f in fields],
    )


def summary(c: Contract) -> ContractSummary:
    return ContractSummary(c.id, c.title, c.status, c.organization_id, c.created_at, c.expires_at)
