"""Inputs of the contracts use cases (validated shapes; the rules across them live in the service)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sealpact.contracts.layout import FieldKind
from sealpact.contracts.state import PartyRole


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PartyIn(_In):
    kind: Literal["individual", "enterprise"] = "individual"
    role: PartyRole = PartyRole.SIGNER
    order: int = Field(default=1, ge=1, le=100, description="Routing order; equal numbers act in parallel")
    name: str = Field(min_length=1, max_length=200)
    email: str | None = Field(default=None, max_length=254)
    mobile: str | None = Field(default=None, max_length=20)
    language: Literal["zh", "en"] = "zh"
    organization_id: str | None = Field(
        default=None, max_length=36, description="Enterprise: the signing org"
    )
    organization_name: str | None = Field(default=None, max_length=200)
    seal_id: str | None = Field(default=None, max_length=36)
    min_level: int = Field(default=1, ge=0, le=3, description="Minimum real-name verification level")
    auth_method: Literal["account", "sms_code", "email_code"] = "sms_code"
    intent_method: Literal["sms", "totp"] = "sms"
    role_name: str | None = Field(default=None, max_length=64)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("a name is required")
        return value


class Rect(_In):
    x1: float
    y1: float
    x2: float
    y2: float


class FieldIn(_In):
    document: int = Field(ge=0, le=199, description="Index of the document in the contract")
    party: int = Field(ge=0, le=99, description="Index of the party in the contract")
    kind: FieldKind
    page: int = Field(ge=1, le=100_000)
    rect: Rect
    required: bool = True
    label: str | None = Field(default=None, max_length=100)


class ContractIn(_In):
    title: str = Field(min_length=1, max_length=200)
    message: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    organization_id: str | None = Field(default=None, max_length=36, description="Send on behalf of this org")
    expiry_days: int | None = Field(default=None, ge=1)
    reminder_every_days: int | None = Field(default=None, ge=1, le=30)
    parties: list[PartyIn] = Field(default_factory=list, max_length=50)


class TemplateRoleIn(_In):
    name: str = Field(min_length=1, max_length=64)
    kind: Literal["individual", "enterprise"] = "individual"
    role: PartyRole = PartyRole.SIGNER
    order: int = Field(default=1, ge=1, le=100)


class TemplateFieldIn(_In):
    role: str = Field(min_length=1, max_length=64)
    kind: FieldKind
    page: int = Field(ge=1, le=100_000)
    rect: Rect
    required: bool = True
    label: str | None = Field(default=None, max_length=100)


class TemplateIn(_In):
    name: str = Field(min_length=1, max_length=200)
    file_id: str = Field(max_length=36, description="A PDF uploaded through /api/v1/files")
    organization_id: str | None = Field(default=None, max_length=36)
    roles: list[TemplateRoleIn] = Field(min_length=1, max_length=20)
    fields: list[TemplateFieldIn] = Field(default_factory=list, max_length=500)


class FromTemplateIn(_In):
    title: str = Field(min_length=1, max_length=200)
    message: str | None = Field(default=None, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)
    organization_id: str | None = Field(default=None, max_length=36)
    expiry_days: int | None = Field(default=None, ge=1)
    reminder_every_days: int | None = Field(default=None, ge=1, le=30)
    roles: dict[str, PartyIn] = Field(description="Role name -> the party filling it")
