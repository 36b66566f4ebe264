"""The signing step: PIN -> key unlock -> PAdES signature on every document -> new revisions -> evidence.

Documents get their signature fields (with FieldMDP locks) when the contract is sent
(:func:`prepare_documents`), one field per signer per document named ``party<position>``, placed at the
party's first signature/seal field on that page (invisible when the party has none on that document).

:meth:`SignatureStep.sign` runs in one transaction holding the contract row lock (``SELECT ... FOR
UPDATE`` on PostgreSQL; SQLite has a single writer anyway), so parallel signers of the same contract
serialise and each signs the revision the previous one stored: no signature is lost. Each new revision
is stored as a new blob in the same transaction; a crash between computing a signature and committing
leaves the documents, the party and the contract as they were (the new blob is dropped with the
rollback), so the signing can simply be retried. A second submission by a party that already signed is
answered with the first result and changes nothing.

Each signature is PAdES B-T; the contract's final signature is B-LTA (ETSI EN 319 142-1, section 6).

The signer's key comes from a :class:`KeySource`. The real one is ``sealpact.custody.keysource.
CustodyKeySource`` (PIN-protected signer keys), wired by ``Runtime.signing_flow``; :class:`UnwiredCustody`
(``custody_unavailable``) is only the fallback of a ``SignatureStep`` built without a key source.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact.contracts import core, routing
from sealpact.contracts.errors import ContractError, IntentRequired, InvalidTransition
from sealpact.contracts.layout import FieldKind
from sealpact.contracts.models import Contract, ContractDocument, ContractField, Party
from sealpact.contracts.state import PARTY_DONE, PartyRole, PartyStatus
from sealpact.signing import Appearance, FieldSpec, Level, Placement, SignerCredentials, SigningEngine

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

MAX_DOCUMENT_BYTES_IN_MEMORY = 256 << 20


class CustodyUnavailable(ContractError):
    code = "custody_unavailable"
    http_status = 503


class KeySource(Protocol):
    """Unlocks a signer's key with their PIN (custody), or raises a domain error (wrong PIN: 4xx)."""

    def unlock(self, *, user_id: str, pin: str, party: Party) -> SignerCredentials: ...


class UnwiredCustody:
    """Placeholder until ``sealpact.custody`` lands: every signing attempt is refused, nothing changes."""

    def unlock(self, *, user_id: str, pin: str, party: Party) -> SignerCredentials:
        raise CustodyUnavailable("Signer key custody is not configured on this platform yet.")


def field_name(party: Party) -> str:
    return f"party{party.position}"


def _placement(field: ContractField) -> Placement:
    return Placement(field.page - 1, (int(field.x1), int(field.y1), int(field.x2), int(field.y2)))


def field_specs(
    document: ContractDocument, parties: list[Party], fields: list[ContractField]
) -> list[FieldSpec]:
    """Signature fields of ``document`` in routing order (the order FieldMDP locks accumulate in)."""
    specs: list[FieldSpec] = []
    signers = sorted(
        (p for p in parties if p.role == PartyRole.SIGNER), key=lambda p: (p.routing_order, p.position)
    )
    for party in signers:
        mine = [f for f in fields if f.party_id == party.id and f.document_id == document.id]
        sig = next(
            (f for f in mine if FieldKind(f.kind) in (FieldKind.SIGNATURE, FieldKind.SEAL)),
            None,
        )
        date = next((f for f in mine if FieldKind(f.kind) is FieldKind.DATE_SIGNED), None)
        specs.append(
            FieldSpec(
                field_name(party),
                _placement(sig) if sig else None,
                _placement(date) if date and sig else None,
            )
        )
    return specs


@dataclass(frozen=True)
class SignOutcome:
    party_id: str
    documents: list[tuple[str, str, str]]  # (document id, sha256 before, sha256 after)
    level: str
    completed: bool


class SignatureStep:
    def __init__(self, runtime: Runtime, key_source: KeySource | None = None) -> None:
        self._rt = runtime
        self.key_source: KeySource = key_source or UnwiredCustody()
        self._engine: SigningEngine | None = None
        self._lock = threading.Lock()

    @property
    def engine(self) -> SigningEngine:
        with self._lock:
            if self._engine is None:
                self._engine = SigningEngine(self._rt)
            return self._engine

    def prepare_documents(self, session: Session, contract: Contract) -> None:
        """At send: add every signer's signature field to every document, as one new revision each."""
        parties = core.parties_of(session, contract.id)
        fields = core.fields_of(session, contract.id)
        if not any(p.role == PartyRole.SIGNER for p in parties):
            return
        for document in core.documents_of(session, contract.id):
            data = self._rt.blobs.read_bytes(
                document.blob_id, limit=MAX_DOCUMENT_BYTES_IN_MEMORY, session=session
            )
            prepared = self.engine.prepare_fields(data, field_specs(document, parties, fields))
            ref = self._rt.blobs.put_in(session, prepared, content_type="application/pdf")
            document.blob_id, document.sha256, document.size = ref.id, ref.sha256, ref.size

    def sign(
        self,
        session: Session,
        *,
        contract: Contract,
        party: Party,
        user_id: str | None,
        pin: str,
        image_png: bytes | None,
    ) -> SignOutcome:
        """Sign every document for ``party`` inside ``session`` (the caller holds the contract row lock)."""
        if party.role != PartyRole.SIGNER:
            raise InvalidTransition("Only a signer signs; an approver approves.")
        if party.intent_confirmed_at is None:
            raise IntentRequired("Confirm your intent with the one-time code first.")
        if user_id is None:
            raise CustodyUnavailable("Signing needs the party's own account (their key is held for it).")
        credentials = self.key_source.unlock(user_id=user_id, pin=pin, party=party)
        parties = core.parties_of(session, contract.id)
        after = [
            routing.Slot(s.id, s.role, s.order, PartyStatus.SIGNED if s.id == party.id else s.status)
            for s in core.slots(parties)
        ]
        level = Level.B_LTA if routing.all_done(after) else Level.B_T
        fields = core.fields_of(session, contract.id)
        documents = list(
            session.scalars(
                select(ContractDocument)
                .where(ContractDocument.contract_id == contract.id)
                .order_by(ContractDocument.position)
                .with_for_update()
            )
        )
        changed: list[tuple[str, str, str]] = []
        for document in documents:
            spec = next(s for s in field_specs(document, parties, fields) if s.name == field_name(party))
            # A cross-page seal (骑缝章) field: the seal image, sliced along the right edge of every page.
            cross = image_png is not None and any(
                f.party_id == party.id
                and f.document_id == document.id
                and FieldKind(f.kind) is FieldKind.CROSS_PAGE_SEAL
                for f in fields
            )
            appearance = (
                Appearance(
                    spec.placement, image_png=image_png, cross_page_seal_png=image_png if cross else None
                )
                if spec.placement
                else None
            )
            data = self._rt.blobs.read_bytes(
                document.blob_id, limit=MAX_DOCUMENT_BYTES_IN_MEMORY, session=session
            )
            result = self.engine.sign(
                data,
                credentials,
                level=level,
                field=spec.name,
                appearance=appearance,
                signer_name=party.organization_name or party.name,
                reason=contract.title[:100],
            )
            ref = self._rt.blobs.put_in(session, result.output, content_type="application/pdf")
            changed.append((document.id, document.sha256, ref.sha256))
            document.blob_id, document.sha256, document.size = ref.id, ref.sha256, ref.size
            document.revision += 1
        party.certificate_serial = format(credentials.certificate.serial_number, "x")
        return SignOutcome(party.id, changed, level.value, routing.all_done(after))


def already_signed(party: Party) -> bool:
    return PartyStatus(party.status) in PARTY_DONE
