"""Sender use cases: create, upload documents, parties, fields, send, cancel, remind, correct, read.

Every use case is one transaction: it checks access (404 for contracts the caller cannot see), checks
the state machine, changes rows, writes the contract event + audit event + webhook deliveries, and
queues notifications, all committed together or not at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealpact.accounts.models import User
from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission, Scope
from sealpact.accounts.principal import Principal
from sealpact.audit import mask_email, mask_mobile
from sealpact.context import RequestContext
from sealpact.contracts import core, documents, layout, notices
from sealpact.contracts.errors import (
    DocumentTooLarge,
    IdempotencyConflict,
    InvalidContract,
    InvalidCursor,
    InvalidField,
    InvalidParty,
    InvalidTransition,
)
from sealpact.contracts.models import (
    Contract,
    ContractDocument,
    ContractField,
    IdempotencyRecord,
    Party,
)
from sealpact.contracts.specs import ContractIn, FieldIn, PartyIn
from sealpact.contracts.state import (
    OPEN,
    PARTY_TERMINAL,
    TERMINAL,
    ContractEvent,
    ContractStatus,
    PartyRole,
    PartyStatus,
    is_editable,
    next_status,
)
from sealpact.contracts.views import ContractView, DocumentView, Page, contract_view, document_view, summary
from sealpact.db import new_id, transaction
from sealpact.errors import RateLimited
from sealpact.notify.sms import normalise_mobile
from sealpact.storage.errors import BlobTooLarge
from sealpact.storage.service import BlobReader

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

T = TypeVar("T")
MAX_PAGE_SIZE = 100
REMIND_INTERVAL = timedelta(minutes=10)  # between two notices to one party (sender's reminders)
MAX_REMINDERS = 20


def _clean_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    local, at, domain = value.rpartition("@")
    if not at or not local or "." not in domain or any(c.isspace() for c in value) or len(value) > 254:
        raise InvalidParty("Invalid email address for a party.")
    return value


def request_hash(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


class Contracts:
    """Contract use cases (``runtime.contracts``); the signer side is :class:`.signer.Signing`."""

    def __init__(self, runtime: Runtime, *, converter: documents.DocumentConverter | None = None) -> None:
        self._rt = runtime
        self.converter: documents.DocumentConverter = converter or documents.LibreOfficeConverter(
            runtime.settings.libreoffice_binary, runtime.settings.libreoffice_timeout_seconds
        )

    # -- idempotency -------------------------------------------------------------------------------

    def _idempotent(
        self,
        principal: Principal,
        scope: str,
        key: str | None,
        payload: Any,
        run: Callable[[Session], str],
        view: Callable[[str], T],
    ) -> T:
        """Run ``run`` (returning an id) once per (user, scope, key); a repeat returns ``view`` of that id."""
        if key is None:
            with transaction(self._rt.sessions) as session:
                result_id = run(session)
            return view(result_id)
        if not 1 <= len(key) <= 128 or not key.isprintable():
            raise InvalidContract(
                "An Idempotency-Key is 1-128 printable characters.", code="invalid_idempotency_key"
            )
        fingerprint = request_hash(payload)
        for _ in range(2):
            with transaction(self._rt.sessions) as session:
                existing = session.scalars(
                    select(IdempotencyRecord).where(
                        IdempotencyRecord.user_id == principal.user_id,
                        IdempotencyRecord.scope == scope,
                        IdempotencyRecord.key == key,
                    )
                ).one_or_none()
                if existing is not None:
                    if existing.request_hash != fingerprint:
                        raise IdempotencyConflict("This Idempotency-Key was used with a different request.")
                    result_id = existing.result_id
                else:
                    try:
                        result_id = run(session)
                        session.add(
                            IdempotencyRecord(
                                id=new_id(),
                                user_id=principal.user_id,
                                scope=scope,
                                key=key,
                                request_hash=fingerprint,
                                result_id=result_id,
                                created_at=self._rt.clock.now(),
                            )
                        )
                        session.flush()
                    except IntegrityError:
                        session.rollback()
                        continue  # a concurrent request with the same key won: read its result
            return view(result_id)
        raise IdempotencyConflict("A request with this Idempotency-Key is in progress; retry.")

    # -- create ------------------------------------------------------------------------------------

    def create(
        self,
        principal: Principal,
        ctx: RequestContext,
        spec: ContractIn,
        *,
        idempotency_key: str | None = None,
    ) -> ContractView:
        principal.require_scope(Scope.WRITE)
        settings = self._rt.settings
        expiry = spec.expiry_days or settings.contract_default_expiry_days
        if expiry > settings.contract_max_expiry_days:
            raise InvalidContract(f"The expiry is at most {settings.contract_max_expiry_days} days.")
        title = " ".join(spec.title.split())
        if not title:
            raise InvalidContract("A title is required.")
        if len(json.dumps(spec.metadata)) > 8192:
            raise InvalidContract("Metadata is at most 8 KiB of JSON.")

        def run(session: Session) -> str:
            if session.get(User, principal.user_id) is None:
                raise InvalidContract("Unknown sender.")
            if spec.organization_id is not None:
                require_org_permission(session, principal, spec.organization_id, Permission.ORG_VIEW)
            now = self._rt.clock.now()
            contract = Contract(
                id=new_id(),
                owner_user_id=principal.user_id,
                organization_id=spec.organization_id,
                title=title,
                message=spec.message,
                meta=dict(spec.metadata),
                status=ContractStatus.DRAFT,
                expiry_days=expiry,
                reminder_every_days=spec.reminder_every_days,
                created_at=now,
                updated_at=now,
            )
            session.add(contract)
            session.flush()
            self._replace_parties(session, contract, spec.parties)
            core.event(self._rt, session, contract, "created", ctx, actor=principal.actor)
            return contract.id

        return self._idempotent(
            principal,
            "contracts.create",
            idempotency_key,
            spec.model_dump(mode="json"),
            run,
            lambda cid: self.get(principal, cid),
        )

    # -- documents ---------------------------------------------------------------------------------

    def upload_document(
        self,
        principal: Principal,
        ctx: RequestContext,
        contract_id: str,
        chunks: Iterable[bytes],
        *,
        filename: str,
        content_type: str,
    ) -> DocumentView:
        """Stream a document in (PDF, or DOCX/ODT/DOC converted to PDF); only into a draft."""
        from sealpact.files.service import clean_filename

        principal.require_scope(Scope.WRITE)
        settings = self._rt.settings
        name = clean_filename(filename)
        media_type = documents.accepted_type(content_type)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            self._require_draft(contract)
            existing = core.documents_of(session, contract.id)
            if len(existing) >= settings.contract_max_documents:
                raise InvalidContract(f"At most {settings.contract_max_documents} documents per contract.")
            used = sum(d.size for d in existing)
            remaining = settings.contract_max_total_bytes - used
            limit = min(settings.contract_max_file_bytes, remaining)
            if limit <= 0:
                raise DocumentTooLarge(
                    f"The contract's documents exceed {settings.contract_max_total_bytes} bytes."
                )
            with documents.temp_dir(settings.data_dir) as tmp:
                work = Path(tmp)
                source_path = work / ("source" + documents.OFFICE_TYPES.get(media_type, ".pdf"))
                try:
                    with source_path.open("wb") as spool:
                        ref = self._rt.blobs.put_in(
                            session,
                            documents.teed(documents.sniffed(chunks, media_type), spool, limit),
                            content_type=media_type,
                            max_size=limit,
                        )
                except BlobTooLarge:
                    raise DocumentTooLarge(f"The document exceeds the limit of {limit} bytes.") from None
                source_blob: str | None = None
                pdf_path = source_path
                if media_type != documents.PDF:
                    source_blob = ref.id
                    pdf_path = self.converter.to_pdf(source_path, work)
                with pdf_path.open("rb") as stream:
                    geometry = documents.pdf_geometry(stream, settings.contract_max_pages)
                if media_type == documents.PDF:
                    pdf_ref = ref
                else:
                    if pdf_path.stat().st_size > limit:
                        raise DocumentTooLarge("The converted PDF exceeds the size limit.")
                    with pdf_path.open("rb") as stream:
                        pdf_ref = self._rt.blobs.put_in(
                            session, stream, content_type=documents.PDF, max_size=limit
                        )
            now = self._rt.clock.now()
            row = ContractDocument(
                id=new_id(),
                contract_id=contract.id,
                position=len(existing),
                filename=name if media_type == documents.PDF else Path(name).stem + ".pdf",
                source_type=media_type,
                source_blob_id=source_blob,
                original_blob_id=pdf_ref.id,
                original_sha256=pdf_ref.sha256,
                blob_id=pdf_ref.id,
                sha256=pdf_ref.sha256,
                size=pdf_ref.size,
                page_count=geometry.page_count,
                page_sizes=geometry.page_sizes,
                revision=0,
                created_at=now,
            )
            session.add(row)
            contract.updated_at = now
            core.event(
                self._rt,
                session,
                contract,
                "document_uploaded",
                ctx,
                actor=principal.actor,
                details={"document_id": row.id, "sha256": pdf_ref.sha256, "pages": geometry.page_count},
            )
            return document_view(row)

    def open_document(
        self, principal: Principal, contract_id: str, document_id: str, *, original: bool = False
    ) -> tuple[DocumentView, BlobReader]:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=False)
            doc = session.get(ContractDocument, document_id)
            if doc is None or doc.contract_id != contract.id:
                raise InvalidContract(
                    "No such document in this contract.", code="document_not_found", http_status=404
                )
            blob = doc.original_blob_id if original else doc.blob_id
            return document_view(doc), self._rt.blobs.open(blob, session=session)

    def open_certificate(self, principal: Principal, contract_id: str) -> BlobReader:
        """The certificate of completion (made on first request) of a completed contract."""
        from sealpact.contracts import certificate

        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            core.load_contract(session, principal, contract_id, write=False)
        blob_id = certificate.ensure(self._rt, contract_id)
        return self._rt.blobs.open(blob_id)

    # -- parties and fields ------------------------------------------------------------------------

    def set_parties(
        self, principal: Principal, ctx: RequestContext, contract_id: str, parties: list[PartyIn]
    ) -> ContractView:
        """Replace the parties (and so drop the fields) of a draft."""
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            self._require_draft(contract)
            session.execute(delete(ContractField).where(ContractField.contract_id == contract.id))
            session.execute(delete(Party).where(Party.contract_id == contract.id))
            session.flush()
            self._replace_parties(session, contract, parties)
            contract.updated_at = self._rt.clock.now()
            core.event(
                self._rt,
                session,
                contract,
                "parties_set",
                ctx,
                actor=principal.actor,
                details={"count": len(parties)},
            )
        return self.get(principal, contract_id)

    def _replace_parties(self, session: Session, contract: Contract, parties: list[PartyIn]) -> None:
        for position, spec in enumerate(parties):
            email = _clean_email(spec.email)
            mobile = normalise_mobile(spec.mobile) if spec.mobile else None
            if spec.auth_method == "sms_code" and mobile is None:
                raise InvalidParty(f"Party {position}: SMS-code authentication needs a mobile number.")
            if spec.auth_method == "email_code" and email is None:
                raise InvalidParty(f"Party {position}: email-code authentication needs an email address.")
            if email is None and mobile is None:
                raise InvalidParty(f"Party {position}: an email address or a mobile number is required.")
            if spec.kind == "enterprise":
                if spec.organization_id is None or not spec.organization_name:
                    raise InvalidParty(f"Party {position}: an enterprise party names its organization.")
                if spec.role == PartyRole.SIGNER and spec.seal_id is None:
                    raise InvalidParty(f"Party {position}: an enterprise signer names the seal to use.")
            elif spec.organization_id is not None or spec.seal_id is not None:
                raise InvalidParty(f"Party {position}: only enterprise parties have an organization or seal.")
            session.add(
                Party(
                    id=new_id(),
                    contract_id=contract.id,
                    position=position,
                    kind=spec.kind,
                    role=spec.role,
                    routing_order=spec.order,
                    name=spec.name,
                    email=email,
                    mobile=mobile,
                    language=spec.language,
                    organization_id=spec.organization_id,
                    organization_name=spec.organization_name,
                    seal_id=spec.seal_id,
                    min_level=spec.min_level,
                    auth_method=spec.auth_method,
                    intent_method=spec.intent_method,
                    role_name=spec.role_name,
                    status=PartyStatus.WAITING,
                    reminders_sent=0,
                )
            )
        session.flush()

    def set_fields(
        self, principal: Principal, ctx: RequestContext, contract_id: str, fields: list[FieldIn]
    ) -> ContractView:
        """Replace the fields of a draft; each is checked against its page and other parties' fields."""
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            self._require_draft(contract)
            docs = core.documents_of(session, contract.id)
            parties = core.parties_of(session, contract.id)
            placed = []
            for i, f in enumerate(fields):
                if f.document >= len(docs) or f.party >= len(parties):
                    raise InvalidField(f"Field {i}: no document {f.document} or party {f.party}.")
                placed.append(
                    layout.PlacedField(
                        str(i),
                        docs[f.document].id,
                        parties[f.party].id,
                        f.kind,
                        f.page,
                        layout.Rect(f.rect.x1, f.rect.y1, f.rect.x2, f.rect.y2),
                    )
                )
            layout.check_fields(placed, *self._layout_context(docs, parties))
            session.execute(delete(ContractField).where(ContractField.contract_id == contract.id))
            for i, (f, p) in enumerate(zip(fields, placed, strict=True)):
                session.add(
                    ContractField(
                        id=new_id(),
                        contract_id=contract.id,
                        document_id=p.document,
                        party_id=p.party,
                        position=i,
                        kind=f.kind,
                        page=f.page,
                        x1=f.rect.x1,
                        y1=f.rect.y1,
                        x2=f.rect.x2,
                        y2=f.rect.y2,
                        required=f.required,
                        label=f.label,
                    )
                )
            contract.updated_at = self._rt.clock.now()
            core.event(
                self._rt,
                session,
                contract,
                "fields_set",
                ctx,
                actor=principal.actor,
                details={"count": len(fields)},
            )
        return self.get(principal, contract_id)

    @staticmethod
    def _layout_context(
        docs: list[ContractDocument], parties: list[Party]
    ) -> tuple[dict[str, list[tuple[float, float]]], dict[str, layout.PartyInfo]]:
        pages = {d.id: [(float(w), float(h)) for w, h in d.page_sizes] for d in docs}
        infos = {
            p.id: layout.PartyInfo(p.kind, PartyRole(p.role).acts, p.role == PartyRole.SIGNER)
            for p in parties
        }
        return pages, infos

    # -- send --------------------------------------------------------------------------------------

    def send(
        self,
        principal: Principal,
        ctx: RequestContext,
        contract_id: str,
        *,
        idempotency_key: str | None = None,
    ) -> ContractView:
        """Freeze the draft, start the expiry clock, activate the first round and notify it (after commit)."""
        principal.require_scope(Scope.WRITE)

        def run(session: Session) -> str:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            next_status(ContractStatus(contract.status), ContractEvent.SEND)  # raises unless a draft
            docs = core.documents_of(session, contract.id)
            parties = core.parties_of(session, contract.id)
            if not docs:
                raise InvalidContract("Add at least one document before sending.")
            if not any(PartyRole(p.role).acts for p in parties):
                raise InvalidContract("Add at least one signer or approver before sending.")
            fields = core.fields_of(session, contract.id)
            placed = [
                layout.PlacedField(
                    f.id,
                    f.document_id,
                    f.party_id,
                    layout.FieldKind(f.kind),
                    f.page,
                    layout.Rect(f.x1, f.y1, f.x2, f.y2),
                )
                for f in fields
            ]
            pages, infos = self._layout_context(docs, parties)
            layout.check_fields(placed, pages, infos)
            layout.check_complete(placed, infos)
            now = self._rt.clock.now()
            contract.status = ContractStatus.SENT
            contract.sent_at = now
            contract.updated_at = now
            contract.expires_at = now + timedelta(days=contract.expiry_days)
            self._rt.signing_flow.step.prepare_documents(session, contract)
            core.event(self._rt, session, contract, "sent", ctx, actor=principal.actor)
            core.activate_round(self._rt, session, contract, parties, ctx, principal.actor)
            return contract.id

        return self._idempotent(
            principal,
            "contracts.send",
            idempotency_key,
            {"contract_id": contract_id},
            run,
            lambda cid: self.get(principal, cid),
        )

    # -- sender actions on a sent contract ---------------------------------------------------------

    def cancel(
        self, principal: Principal, ctx: RequestContext, contract_id: str, *, reason: str | None = None
    ) -> ContractView:
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            was_open = ContractStatus(contract.status) in OPEN
            contract.status = next_status(ContractStatus(contract.status), ContractEvent.CANCEL)
            now = self._rt.clock.now()
            contract.finished_at = now
            contract.updated_at = now
            parties = core.parties_of(session, contract.id)
            core.revoke_access(session, [p.id for p in parties], now)
            if was_open:
                for party in parties:
                    if party.status != PartyStatus.WAITING:
                        notices.send_closed(self._rt, session, contract, party, "cancelled")
            core.event(
                self._rt,
                session,
                contract,
                "cancelled",
                ctx,
                actor=principal.actor,
                details={"reason": (reason or "")[:200]},
            )
        return self.get(principal, contract_id)

    def remind(
        self, principal: Principal, ctx: RequestContext, contract_id: str, *, party_id: str | None = None
    ) -> int:
        """Send a fresh link to the active party (or every active party). Returns how many were reminded.

        Nothing about the link is returned: the sender can never see or obtain a signer's link.
        """
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            if ContractStatus(contract.status) not in OPEN:
                raise InvalidTransition(f"A contract that is {contract.status} has nobody to remind.")
            targets = [p for p in core.parties_of(session, contract.id) if p.status == PartyStatus.ACTIVE]
            if party_id is not None:
                targets = [p for p in targets if p.id == party_id]
                if not targets:
                    raise InvalidTransition("That party is not waiting to act.")
            now = self._rt.clock.now()
            for party in targets:
                # Every reminder is a paid SMS and a fresh link: at most one per party per interval.
                last = party.last_notified_at
                if last is not None and now - last < REMIND_INTERVAL:
                    raise RateLimited(
                        f"This party was notified less than {int(REMIND_INTERVAL.total_seconds() // 60)} "
                        "minutes ago; try again later.",
                        code="remind_too_soon",
                    )
                if party.reminders_sent >= MAX_REMINDERS:
                    raise RateLimited("This party has been reminded too often.", code="remind_limit")
            for party in targets:
                self.remind_party(session, contract, party, ctx, principal.actor)
            return len(targets)

    def remind_party(
        self, session: Session, contract: Contract, party: Party, ctx: RequestContext, actor: Any
    ) -> None:
        core.issue_link(self._rt, session, contract, party, kind="remind")
        party.reminders_sent += 1
        core.event(self._rt, session, contract, "party_reminded", ctx, actor=actor, party=party)

    def correct_contact(
        self,
        principal: Principal,
        ctx: RequestContext,
        contract_id: str,
        party_id: str,
        *,
        email: str | None,
        mobile: str | None,
    ) -> ContractView:
        """Fix a party's email/mobile before they act; old links die, an active party gets a new one."""
        principal.require_scope(Scope.WRITE)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=True, lock=True)
            if ContractStatus(contract.status) in TERMINAL:
                raise InvalidTransition(f"A contract that is {contract.status} cannot be corrected.")
            party = session.get(Party, party_id)
            if party is None or party.contract_id != contract.id:
                raise InvalidParty("No such party in this contract.", code="party_not_found", http_status=404)
            if PartyStatus(party.status) in PARTY_TERMINAL:
                raise InvalidTransition("This party has already acted; its contact cannot change.")
            new_email = _clean_email(email) if email is not None else party.email
            new_mobile = normalise_mobile(mobile) if mobile else (None if mobile == "" else party.mobile)
            if new_email is None and new_mobile is None:
                raise InvalidParty("A party needs an email address or a mobile number.")
            if party.auth_method == "sms_code" and new_mobile is None:
                raise InvalidParty("This party authenticates by SMS code and needs a mobile number.")
            if party.auth_method == "email_code" and new_email is None:
                raise InvalidParty("This party authenticates by email code and needs an email address.")
            party.email, party.mobile = new_email, new_mobile
            party.user_id = None
            now = self._rt.clock.now()
            core.revoke_access(session, [party.id], now)
            details = {
                k: v
                for k, v in {
                    "email": mask_email(new_email) if new_email else None,
                    "mobile": mask_mobile(new_mobile) if new_mobile else None,
                }.items()
                if v
            }
            core.event(
                self._rt,
                session,
                contract,
                "party_contact_corrected",
                ctx,
                actor=principal.actor,
                party=party,
                details=details,
            )
            if party.status == PartyStatus.ACTIVE:
                core.issue_link(self._rt, session, contract, party, kind="invite")
        return self.get(principal, contract_id)

    # -- reading -----------------------------------------------------------------------------------

    def get(self, principal: Principal, contract_id: str) -> ContractView:
        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=False)
            return contract_view(
                contract,
                core.documents_of(session, contract.id),
                core.parties_of(session, contract.id),
                core.fields_of(session, contract.id),
            )

    def events(self, principal: Principal, contract_id: str) -> list[dict[str, Any]]:
        from sealpact.contracts.models import ContractEventRow

        principal.require_scope(Scope.READ)
        with transaction(self._rt.sessions) as session:
            contract = core.load_contract(session, principal, contract_id, write=False)
            rows = session.scalars(
                select(ContractEventRow)
                .where(ContractEventRow.contract_id == contract.id)
                .order_by(ContractEventRow.occurred_at, ContractEventRow.id)
            )
            return [
                {
                    "kind": r.kind,
                    "party_id": r.party_id,
                    "occurred_at": r.occurred_at,
                    "ip": r.ip,
                    "user_agent": r.user_agent,
                    "details": dict(r.details or {}),
                }
                for r in rows
            ]

    def list(
        self,
        principal: Principal,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: str | None = None,
        organization_id: str | None = None,
    ) -> Page:
        """Newest first; ``cursor`` continues after the last item of the previous page (keyset, stable)."""
        principal.require_scope(Scope.READ)
        limit = max(1, min(limit, MAX_PAGE_SIZE))
        with transaction(self._rt.sessions) as session:
            if organization_id is not None:
                require_org_permission(session, principal, organization_id, Permission.ORG_VIEW)
                query = select(Contract).where(Contract.organization_id == organization_id)
            else:
                query = select(Contract).where(Contract.owner_user_id == principal.user_id)
            if status is not None:
                if status not in {s.value for s in ContractStatus}:
                    raise InvalidContract(f"Unknown status {status!r}.")
                query = query.where(Contract.status == status)
            if cursor is not None:
                at, last_id = _decode_cursor(cursor)
                query = query.where(
                    or_(Contract.created_at < at, and_(Contract.created_at == at, Contract.id < last_id))
                )
            rows = list(
                session.scalars(
                    query.order_by(Contract.created_at.desc(), Contract.id.desc()).limit(limit + 1)
                )
            )
            more = len(rows) > limit
            rows = rows[:limit]
            next_cursor = _encode_cursor(rows[-1].created_at, rows[-1].id) if more and rows else None
            return Page([summary(r) for r in rows], next_cursor)

    @staticmethod
    def _require_draft(contract: Contract) -> None:
        if not is_editable(ContractStatus(contract.status)):
            from sealpact.contracts.errors import ContractNotEditable

            raise ContractNotEditable("The contract was sent; its documents, parties and fields are frozen.")


def _encode_cursor(at: datetime, contract_id: str) -> str:
    raw = json.dumps({"t": at.isoformat(), "i": contract_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        at = datetime.fromisoformat(data["t"])
        contract_id = str(data["i"])
        if at.tzinfo is None:
            raise ValueError
        return at, contract_id
    except (ValueError, KeyError, TypeError, json.JSONDecodeError):
        raise InvalidCursor("The cursor is not one this API returned.") from None
