"""Templates: a reusable PDF with named roles and fields; a contract is made from one by filling the roles.

The template copies the PDF out of the user's files (so deleting the file does not break it); a contract
made from it gets its own copy of the document, its parties from the roles (order and role from the
template, person and contact from the request) and its fields mapped from role to party.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sealpact.accounts.models import Membership
from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission, Scope
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.contracts import core, documents, layout
from sealpact.contracts.errors import InvalidContract, InvalidField, TemplateNotFound, UnsupportedDocument
from sealpact.contracts.models import ContractDocument, ContractField, ContractTemplate
from sealpact.contracts.service import Contracts
from sealpact.contracts.specs import ContractIn, FromTemplateIn, PartyIn, TemplateIn
from sealpact.contracts.state import PartyRole
from sealpact.contracts.views import ContractView
from sealpact.db import new_id, transaction
from sealpact.files.models import StoredFile

if TYPE_CHECKING:
    from sealpact.runtime import Runtime


@dataclass(frozen=True)
class TemplateView:
    id: str
    name: str
    filename: str
    sha256: str
    organization_id: str | None
    page_sizes: list[list[float]]
    roles: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    created_at: datetime


def _view(t: ContractTemplate) -> TemplateView:
    return TemplateView(
        t.id, t.name, t.filename, t.sha256, t.organization_id, t.page_sizes, t.roles, t.fields, t.created_at
    )


class Templates:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def create(self, principal: Principal, ctx: RequestContext, spec: TemplateIn) -> TemplateView:
        principal.require_scope(Scope.WRITE)
        names = [r.name for r in spec.roles]
        if len(set(names)) != len(names):
            raise InvalidContract("Template role names must be unique.")
        roles = {r.name: r for r in spec.roles}
        with transaction(self._rt.sessions) as session:
            if spec.organization_id is not None:
                require_org_permission(session, principal, spec.organization_id, Permission.ORG_MANAGE)
            source = session.get(StoredFile, spec.file_id)
            if source is None or source.owner_user_id != principal.user_id:
                raise TemplateNotFound("No such file.", code="file_not_found")
            if source.content_type != documents.PDF:
                raise UnsupportedDocument("A template document is a PDF.")
            data = self._rt.blobs.read_bytes(
                source.blob_id, limit=self._rt.settings.contract_max_file_bytes, session=session
            )
            import io

            geometry = documents.pdf_geometry(io.BytesIO(data), self._rt.settings.contract_max_pages)
            placed = []
            for i, f in enumerate(spec.fields):
                if f.role not in roles:
                    raise InvalidField(f"Field {i}: unknown role {f.role!r}.")
                placed.append(
                    layout.PlacedField(
                        str(i),
                        "doc",
                        f.role,
                        f.kind,
                        f.page,
                        layout.Rect(f.rect.x1, f.rect.y1, f.rect.x2, f.rect.y2),
                    )
                )
            infos = {
                r.name: layout.PartyInfo(r.kind, r.role.acts, r.role == PartyRole.SIGNER) for r in spec.roles
            }
            layout.check_fields(placed, {"doc": [(w, h) for w, h in geometry.page_sizes]}, infos)
            ref = self._rt.blobs.put_in(session, data, content_type=documents.PDF)
            row = ContractTemplate(
                id=new_id(),
                owner_user_id=principal.user_id,
                organization_id=spec.organization_id,
                name=" ".join(spec.name.split()),
                filename=source.filename,
                blob_id=ref.id,
                sha256=ref.sha256,
                size=ref.size,
                page_sizes=geometry.page_sizes,
                roles=[r.model_dump(mode="json") for r in spec.roles],
                fields=[f.model_dump(mode="json") for f in spec.fields],
                created_at=self._rt.clock.now(),
            )
            session.add(row)
            return _view(row)

    def list(self, principal: Principal) -> list[TemplateView]:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            orgs = select(Membership.organization_id).where(Membership.user_id == principal.user_id)
            rows = session.scalars(
                select(ContractTemplate)
                .where(
                    or_(
                        ContractTemplate.owner_user_id == principal.user_id,
                        ContractTemplate.organization_id.in_(orgs),
                    )
                )
                .order_by(ContractTemplate.created_at.desc(), ContractTemplate.id)
            )
            return [_view(r) for r in rows]

    def get(self, principal: Principal, template_id: str) -> TemplateView:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            return _view(self._visible(session, principal, template_id))

    @staticmethod
    def _visible(session: Session, principal: Principal, template_id: str) -> ContractTemplate:
        row = session.get(ContractTemplate, template_id)
        if row is not None and row.owner_user_id == principal.user_id:
            return row
        if row is not None and row.organization_id is not None:
            member = session.scalars(
                select(Membership).where(
                    Membership.organization_id == row.organization_id, Membership.user_id == principal.user_id
                )
            ).one_or_none()
            if member is not None:
                return row
        raise TemplateNotFound("No such template.")

    def instantiate(
        self,
        principal: Principal,
        ctx: RequestContext,
        template_id: str,
        spec: FromTemplateIn,
        *,
        idempotency_key: str | None = None,
    ) -> ContractView:
        """A draft contract with the template's document, parties from the filled roles, fields mapped."""
        principal.require_scope(Scope.WRITE)
        service = Contracts(self._rt)
        with transaction(self._rt.sessions) as session:
            template = self._visible(session, principal, template_id)
            roles = list(template.roles)
            missing = [r["name"] for r in roles if r["name"] not in spec.roles]
            extra = [name for name in spec.roles if name not in {r["name"] for r in roles}]
            if missing or extra:
                raise InvalidContract(
                    f"Fill exactly the template's roles: {', '.join(r['name'] for r in roles)}."
                )
            parties: list[PartyIn] = []
            for r in roles:
                filled = spec.roles[r["name"]]
                parties.append(
                    filled.model_copy(
                        update={
                            "role": PartyRole(r["role"]),
                            "order": r["order"],
                            "kind": r["kind"],
                            "role_name": r["name"],
                        }
                    )
                )
            blob_id, filename, sha, size, sizes = (
                template.blob_id,
                template.filename,
                template.sha256,
                template.size,
                template.page_sizes,
            )
            template_fields = list(template.fields)
        contract_spec = ContractIn(
            title=spec.title,
            message=spec.message,
            metadata=spec.metadata,
            organization_id=spec.organization_id,
            expiry_days=spec.expiry_days,
            reminder_every_days=spec.reminder_every_days,
            parties=parties,
        )
        created = service.create(principal, ctx, contract_spec, idempotency_key=idempotency_key)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, created.id, write=True, lock=True)
            if not core.documents_of(session, contract.id):  # else: an idempotent repeat, already filled
                data = self._rt.blobs.read_bytes(
                    blob_id, limit=self._rt.settings.contract_max_file_bytes, session=session
                )
                ref = self._rt.blobs.put_in(session, data, content_type=documents.PDF)
                doc = ContractDocument(
                    id=new_id(),
                    contract_id=contract.id,
                    position=0,
                    filename=filename,
                    source_type=documents.PDF,
                    source_blob_id=None,
                    original_blob_id=ref.id,
                    original_sha256=sha,
                    blob_id=ref.id,
                    sha256=sha,
                    size=size,
                    page_count=len(sizes),
                    page_sizes=sizes,
                    revision=0,
                    created_at=self._rt.clock.now(),
                )
                session.add(doc)
                session.flush()
                by_role = {p.role_name: p for p in core.parties_of(session, contract.id)}
                for i, f in enumerate(template_fields):
                    rect = f["rect"]
                    session.add(
                        ContractField(
                            id=new_id(),
                            contract_id=contract.id,
                            document_id=doc.id,
                            party_id=by_role[f["role"]].id,
                            position=i,
                            kind=f["kind"],
                            page=f["page"],
                            x1=rect["x1"],
                            y1=rect["y1"],
                            x2=rect["x2"],
                            y2=rect["y2"],
                            required=f["required"],
                            label=f.get("label"),
                        )
                    )
                contract.template_id = template_id
                core.event(
                    self._rt,
                    session,
                    contract,
                    "created_from_template",
                    ctx,
                    actor=principal.actor,
                    details={"template_id": template_id},
                )
        return service.get(principal, created.id)
