"""Signer use cases: exchange a link for a signer session, authenticate, view, confirm intent, decline.

A link token is single-use: opening it consumes it and returns the signer's own session token (short
lived, bound to the party). Every failure about links and sessions is the same ``signing_link_invalid``
error. Account-login parties must be logged in as the account whose email/mobile the link was sent to;
SMS/email-code parties prove the contact with a one-time code. The real-name gate (minimum level) is
checked before the intent code is sent, so a party below the level learns it before anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from sealpact.accounts.models import User
from sealpact.accounts.principal import Principal
from sealpact.audit import Actor, mask_email, mask_mobile
from sealpact.context import RequestContext
from sealpact.contracts import core, notices, routing
from sealpact.contracts.errors import (
    CodeAttemptsExceeded,
    CodeInvalid,
    InvalidTransition,
    LinkInvalid,
    NotYourTurn,
    SignerNotAuthenticated,
    WrongSigner,
)
from sealpact.contracts.models import (
    Contract,
    ContractDocument,
    OneTimeCode,
    Party,
    SignerSession,
    SigningLink,
)
from sealpact.contracts.signature import KeySource, SignatureStep, SignOutcome, already_signed
from sealpact.contracts.state import (
    OPEN,
    ContractEvent,
    ContractStatus,
    PartyEvent,
    PartyRole,
    PartyStatus,
    next_party_status,
    next_status,
)
from sealpact.contracts.tokens import (
    CODE_MAX_ATTEMPTS,
    CODE_TTL_MINUTES,
    SESSION_PREFIX,
    code_digest,
    digest,
    new_code,
    new_token,
    same,
)
from sealpact.contracts.views import DocumentView, FieldView, document_view, field_view
from sealpact.db import new_id, transaction
from sealpact.storage.service import BlobReader

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

SIGNER = Actor("signer")


@dataclass(frozen=True)
class SignerGrant:
    session_token: str  # the signer's own; returned to whoever holds the link, never to the sender
    party_id: str
    contract_id: str
    authenticated: bool
    code_sent_to: str | None  # masked


@dataclass(frozen=True)
class SignerView:
    contract_id: str
    title: str
    message: str | None
    contract_status: str
    party_id: str
    party_name: str
    role: str
    party_status: str
    may_act: bool
    intent_confirmed: bool
    documents: list[DocumentView]
    fields: list[FieldView]


class Signing:
    """The signer side (``runtime.signing_flow``)."""

    def __init__(self, runtime: Runtime, key_source: KeySource | None = None) -> None:
        self._rt = runtime
        self.step = SignatureStep(runtime, key_source)

    # -- link -> session ---------------------------------------------------------------------------

    def open_link(self, token: str, ctx: RequestContext, principal: Principal | None = None) -> SignerGrant:
        now = self._rt.clock.now()
        with transaction(self._rt.sessions) as session:
            link = session.scalars(
                select(SigningLink).where(SigningLink.token_hash == digest(token or "")).with_for_update()
            ).one_or_none()
            if (
                link is None
                or link.used_at is not None
                or link.revoked_at is not None
                or link.expires_at <= now
            ):
                raise LinkInvalid(
                    "This signing link is invalid, used or expired; ask the sender to resend it."
                )
            party = session.get(Party, link.party_id)
            contract = session.get(Contract, link.contract_id)
            readable = OPEN | {ContractStatus.COMPLETED}  # completed: to download the result
            if party is None or contract is None or ContractStatus(contract.status) not in readable:
                raise LinkInvalid(
                    "This signing link is invalid, used or expired; ask the sender to resend it."
                )
            link.used_at = now
            raw = new_token(SESSION_PREFIX)
            signer = SignerSession(
                id=new_id(),
                party_id=party.id,
                token_hash=digest(raw),
                created_at=now,
                expires_at=now + timedelta(minutes=self._rt.settings.contract_signer_session_minutes),
                ip=ctx.ip[:64] if ctx.ip else None,
                user_agent=ctx.user_agent[:512] if ctx.user_agent else None,
            )
            session.add(signer)
            session.flush()
            sent_to: str | None = None
            if party.auth_method == "account":
                if principal is None:
                    raise WrongSigner("Log in to the account this contract was sent to, then open the link.")
                user = session.get(User, principal.user_id)
                if user is None or not _matches(user, party):
                    raise WrongSigner("This contract was sent to another account.")
                signer.authenticated_at = now
                signer.auth_method = "account"
                signer.user_id = user.id
                party.user_id = user.id
            else:
                channel = "sms" if party.auth_method == "sms_code" else "email"
                sent_to = self._send_code(session, signer, party, channel=channel, purpose="auth")
            core.event(self._rt, session, contract, "link_opened", ctx, actor=SIGNER, party=party)
            return SignerGrant(raw, party.id, contract.id, signer.authenticated_at is not None, sent_to)

    def authenticate(self, session_token: str, code: str, ctx: RequestContext) -> None:
        with transaction(self._rt.sessions) as session:
            signer, party, contract = self._session(session, session_token, authenticated=False)
            if signer.authenticated_at is not None:
                return
            self._check_code(session, signer, "auth", code)
            now = self._rt.clock.now()
            signer.authenticated_at = now
            signer.auth_method = party.auth_method
            user = self._user_for_contact(session, party)
            signer.user_id = user.id if user else None
            party.user_id = signer.user_id
            core.event(
                self._rt,
                session,
                contract,
                "party_authenticated",
                ctx,
                actor=SIGNER,
                party=party,
                details={"method": party.auth_method},
            )

    # -- viewing -----------------------------------------------------------------------------------

    def view(self, session_token: str, ctx: RequestContext) -> SignerView:
        with transaction(self._rt.sessions) as session:
            _signer, party, contract = self._session(session, session_token)
            if party.viewed_at is None:
                party.viewed_at = self._rt.clock.now()
                core.event(self._rt, session, contract, "party_viewed", ctx, actor=SIGNER, party=party)
            parties = core.parties_of(session, contract.id)
            docs = core.documents_of(session, contract.id)
            mine = [f for f in core.fields_of(session, contract.id) if f.party_id == party.id]
            return SignerView(
                contract.id,
                contract.title,
                contract.message,
                contract.status,
                party.id,
                party.name,
                party.role,
                party.status,
                routing.may_act(core.slots(parties), party.id),
                party.intent_confirmed_at is not None,
                [document_view(d) for d in docs],
                [field_view(f) for f in mine],
            )

    def open_document(self, session_token: str, document_id: str) -> tuple[DocumentView, BlobReader]:
        """The current revision of a document of the party's contract (to read before and after signing)."""
        with transaction(self._rt.sessions) as session:
            _signer, _party, contract = self._session(session, session_token)
            doc = session.get(ContractDocument, document_id)
            if doc is None or doc.contract_id != contract.id:
                raise LinkInvalid(
                    "No such document in this contract.", code="document_not_found", http_status=404
                )
            return document_view(doc), self._rt.blobs.open(doc.blob_id, session=session)

    def render_page(self, session_token: str, document_id: str, page: int, *, scale: float = 1.5) -> bytes:
        """A page as a PNG, watermarked with this party's masked identity (see :mod:`.pages`)."""
        from sealpact.contracts import pages
        from sealpact.identity.masking import mask_name

        with transaction(self._rt.sessions) as session:
            _signer, party, contract = self._session(session, session_token)
            doc = session.get(ContractDocument, document_id)
            if doc is None or doc.contract_id != contract.id:
                raise LinkInvalid(
                    "No such document in this contract.", code="document_not_found", http_status=404
                )
            pdf = self._rt.blobs.read_bytes(doc.blob_id, limit=256 << 20, session=session)
            contact = ", ".join(core.masked_contact(party).values())
            mark = pages.watermark_text(mask_name(party.name), contact, contract.id, self._rt.clock.now())
        return pages.render_page(pdf, page, scale=scale, watermark=mark)

    def open_certificate(self, session_token: str) -> BlobReader:
        from sealpact.contracts import certificate

        with transaction(self._rt.sessions) as session:
            _signer, _party, contract = self._session(session, session_token)
            contract_id = contract.id
        return self._rt.blobs.open(certificate.ensure(self._rt, contract_id))

    # -- intent ------------------------------------------------------------------------------------

    def request_intent_code(self, session_token: str, ctx: RequestContext) -> str | None:
        """Check turn and real-name level, then send the intent code (None for TOTP parties: nothing sent)."""
        with transaction(self._rt.sessions) as session:
            signer, party, contract = self._session(session, session_token)
            self._require_turn(session, party, contract)
            self._gate(signer, party)
            if party.intent_method == "totp":
                return None
            return self._send_code(session, signer, party, channel="sms", purpose="intent")

    def confirm_intent(self, session_token: str, code: str, ctx: RequestContext) -> None:
        with transaction(self._rt.sessions) as session:
            signer, party, contract = self._session(session, session_token)
            self._require_turn(session, party, contract)
            view = self._gate(signer, party)
            if party.intent_method == "totp":
                if signer.user_id is None:
                    raise CodeInvalid("TOTP intent confirmation needs the party's account.")
                if signer.totp_failures >= CODE_MAX_ATTEMPTS:
                    raise CodeAttemptsExceeded("Too many wrong codes; open a new signing link.")
                user = session.get(User, signer.user_id)
                if user is None or self._rt.accounts.two_factor.verify(session, user, code) != "totp":
                    signer.totp_failures += 1
                    session.commit()  # the failure counts although this transaction ends in an error
                    raise CodeInvalid("The authenticator code is wrong or was already used.")
            else:
                self._check_code(session, signer, "intent", code)
            party.intent_confirmed_at = self._rt.clock.now()
            party.verified_level = view[0]
            party.verification_method = view[1]
            core.event(
                self._rt,
                session,
                contract,
                "party_intent_confirmed",
                ctx,
                actor=SIGNER,
                party=party,
                details={"method": party.intent_method},
            )

    # -- sign ------------------------------------------------------------------------------------

    def sign(
        self,
        session_token: str,
        pin: str,
        ctx: RequestContext,
        *,
        image_png: bytes | None = None,
        values: dict[str, str] | None = None,
    ) -> SignOutcome:
        """PIN -> key -> PAdES signature on every document (serialised per contract) -> next party."""
        with transaction(self._rt.sessions) as session:
            signer, party, contract = self._session(session, session_token, lock=True)
            session.refresh(party)  # read after the lock: a parallel signer may just have committed
            if already_signed(party):
                return self._previous_outcome(session, contract, party)
            self._require_turn(session, party, contract)
            view = self._gate(signer, party)
            filled = fill_fields(session, party, values or {})
            outcome = self.step.sign(
                session, contract=contract, party=party, user_id=signer.user_id, pin=pin, image_png=image_png
            )
            party.status = next_party_status(PartyRole.SIGNER, PartyStatus(party.status), PartyEvent.SIGN)
            party.acted_at = self._rt.clock.now()
            party.verified_level, party.verification_method = view
            core.event(
                self._rt,
                session,
                contract,
                "party_signed",
                ctx,
                actor=SIGNER,
                party=party,
                details={
                    "level": outcome.level,
                    "certificate_serial": party.certificate_serial,
                    "fields": filled,
                    "documents": [
                        {"id": d, "sha256_before": a, "sha256_after": b} for d, a, b in outcome.documents
                    ],
                },
            )
            core.advance(self._rt, session, contract, ctx, SIGNER)
            return outcome

    @staticmethod
    def _previous_outcome(session: Session, contract: Contract, party: Party) -> SignOutcome:
        """The answer to a repeated submission: what the first one did (nothing changes)."""
        from sealpact.contracts.models import ContractEventRow

        row = session.scalars(
            select(ContractEventRow).where(
                ContractEventRow.contract_id == contract.id,
                ContractEventRow.party_id == party.id,
                ContractEventRow.kind == "party_signed",
            )
        ).first()
        details = dict(row.details) if row is not None else {}
        documents = [(d["id"], d["sha256_before"], d["sha256_after"]) for d in details.get("documents", [])]
        return SignOutcome(party.id, documents, str(details.get("level", "")), contract.status == "completed")

    # -- decline / approve -------------------------------------------------------------------------

    def decline(self, session_token: str, reason: str, ctx: RequestContext) -> None:
        reason = " ".join(reason.split())[:500]
        if not reason:
            raise CodeInvalid("Give a reason for declining.", code="reason_required")
        with transaction(self._rt.sessions) as session:
            _signer, party, contract = self._session(session, session_token, lock=True)
            self._require_turn(session, party, contract)
            now = self._rt.clock.now()
            party.status = next_party_status(
                PartyRole(party.role), PartyStatus(party.status), PartyEvent.DECLINE
            )
            party.acted_at = now
            party.decline_reason = reason
            contract.status = next_status(ContractStatus(contract.status), ContractEvent.DECLINE)
            contract.finished_at = now
            contract.updated_at = now
            parties = core.parties_of(session, contract.id)
            core.revoke_access(session, [p.id for p in parties], now)
            core.event(
                self._rt,
                session,
                contract,
                "party_declined",
                ctx,
                actor=SIGNER,
                party=party,
                details={"reason": reason},
            )
            core.event(self._rt, session, contract, "declined", ctx, actor=SIGNER, party=party)
            for other in parties:
                if other.id != party.id and other.status != PartyStatus.WAITING:
                    notices.send_closed(self._rt, session, contract, other, "declined")

    def approve(
        self, session_token: str, ctx: RequestContext, *, values: dict[str, str] | None = None
    ) -> None:
        with transaction(self._rt.sessions) as session:
            signer, party, contract = self._session(session, session_token, lock=True)
            self._require_turn(session, party, contract)
            if party.role != PartyRole.APPROVER:
                raise InvalidTransition("Only an approver approves; a signer signs.")
            self._gate(signer, party)
            if party.intent_confirmed_at is None:
                from sealpact.contracts.errors import IntentRequired

                raise IntentRequired("Confirm your intent with the one-time code first.")
            filled = fill_fields(session, party, values or {})
            party.status = next_party_status(
                PartyRole.APPROVER, PartyStatus(party.status), PartyEvent.APPROVE
            )
            party.acted_at = self._rt.clock.now()
            details = {"fields": filled}
            core.event(
                self._rt, session, contract, "party_approved", ctx, actor=SIGNER, party=party, details=details
            )
            core.advance(self._rt, session, contract, ctx, SIGNER)

    # -- helpers -----------------------------------------------------------------------------------

    def _session(
        self, session: Session, token: str, *, authenticated: bool = True, lock: bool = False
    ) -> tuple[SignerSession, Party, Contract]:
        now = self._rt.clock.now()
        signer = session.scalars(
            select(SignerSession).where(SignerSession.token_hash == digest(token or ""))
        ).one_or_none()
        if signer is None or signer.revoked_at is not None or signer.expires_at <= now:
            raise LinkInvalid("The signing session is invalid or expired; open a new link.")
        party = session.get(Party, signer.party_id)
        query = select(Contract).where(Contract.id == (party.contract_id if party else ""))
        contract = session.scalars(query.with_for_update() if lock else query).one_or_none()
        if party is None or contract is None:
            raise LinkInvalid("The signing session is invalid or expired; open a new link.")
        if authenticated and signer.authenticated_at is None:
            raise SignerNotAuthenticated("Enter the code sent to you first.")
        return signer, party, contract

    def _require_turn(self, session: Session, party: Party, contract: Contract) -> None:
        if ContractStatus(contract.status) not in OPEN:
            raise InvalidTransition(f"The contract is {contract.status}.")
        if not routing.may_act(core.slots(core.parties_of(session, contract.id)), party.id):
            raise NotYourTurn("It is not this party's turn to act.")

    def _gate(self, signer: SignerSession, party: Party) -> tuple[int, str]:
        """The real-name gate: (level, method) seen, or LevelTooLow."""
        from sealpact.identity.errors import LevelTooLow

        if party.kind == "enterprise" and party.organization_id is not None:
            # The person signing for an enterprise must be one of its members.
            member = signer.user_id is not None and session_has_member(
                self._rt, party.organization_id, signer.user_id
            )
            if not member:
                raise WrongSigner("Only a member of the signing organization can act for it.")
        if party.min_level <= 0:
            return (0, party.auth_method)
        if signer.user_id is None:
            raise LevelTooLow(
                f"Real-name verification at level {party.min_level} is required: "
                "sign in with a verified account."
            )
        status = self._rt.identity.require_level("individual", signer.user_id, party.min_level)
        if party.kind == "enterprise" and party.organization_id is not None:
            self._rt.identity.require_level("enterprise", party.organization_id, party.min_level)
        return (status.level, status.method or "unknown")

    def _send_code(
        self, session: Session, signer: SignerSession, party: Party, *, channel: str, purpose: str
    ) -> str:
        now = self._rt.clock.now()
        to = party.mobile if channel == "sms" else party.email
        if purpose == "intent" and signer.user_id is not None:
            to = self._verified_mobile(session, signer.user_id) or to
        if to is None:
            raise CodeInvalid(
                f"This party has no {'mobile number' if channel == 'sms' else 'email address'}."
            )
        code = new_code()
        row = OneTimeCode(
            id=new_id(),
            session_id=signer.id,
            purpose=purpose,
            channel=channel,
            code_hash="",
            created_at=now,
            expires_at=now + timedelta(minutes=CODE_TTL_MINUTES),
            attempts=0,
        )
        row.code_hash = code_digest(row.id, code)
        # A new code replaces the earlier unused ones of the same purpose.
        for old in session.scalars(
            select(OneTimeCode).where(
                OneTimeCode.session_id == signer.id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
        ):
            old.used_at = now
        session.add(row)
        notices.send_code(
            self._rt,
            session,
            party,
            channel=channel,
            to=to,
            code=code,
            purpose=purpose,
            minutes=CODE_TTL_MINUTES,
        )
        return mask_mobile(to) if channel == "sms" else mask_email(to)

    def _check_code(self, session: Session, signer: SignerSession, purpose: str, code: str) -> None:
        now = self._rt.clock.now()
        row = session.scalars(
            select(OneTimeCode)
            .where(
                OneTimeCode.session_id == signer.id,
                OneTimeCode.purpose == purpose,
                OneTimeCode.used_at.is_(None),
            )
            .order_by(OneTimeCode.created_at.desc())
            .with_for_update()
        ).first()
        if row is None or row.expires_at <= now:
            raise CodeInvalid("The code is wrong or expired; request a new one.")
        if row.attempts >= CODE_MAX_ATTEMPTS:
            raise CodeAttemptsExceeded("Too many wrong codes; request a new one.")
        if not same(row.code_hash, code_digest(row.id, (code or "").strip())):
            row.attempts += 1
            # Commit the failed attempt (the caller's transaction would roll it back with the error).
            session.commit()
            raise CodeInvalid("The code is wrong or expired; request a new one.")
        row.used_at = now

    def _verified_mobile(self, session: Session, user_id: str) -> str | None:
        """The mobile number proven during real-name verification (mobile3 / bank4), if any."""
        from sealpact.identity.models import IdentityProfile
        from sealpact.identity.records import P_MOBILE

        profile = session.scalars(
            select(IdentityProfile).where(
                IdentityProfile.subject_type == "individual", IdentityProfile.subject_id == user_id
            )
        ).one_or_none()
        if profile is None or profile.state != "verified" or not profile.mobile_enc:
            return None
        return self._rt.fields.decrypt(profile.mobile_enc, purpose=P_MOBILE, session=session)

    @staticmethod
    def _user_for_contact(session: Session, party: Party) -> User | None:
        conditions = []
        if party.email:
            conditions.append(User.email == party.email)
        if party.mobile:
            conditions.append(User.mobile == party.mobile)
        if not conditions:
            return None
        users = list(session.scalars(select(User).where(or_(*conditions))))
        return users[0] if len(users) == 1 else None


MAX_VALUE_CHARS = 1000


def fill_fields(session: Session, party: Party, values: dict[str, str]) -> dict[str, str]:
    """Record the party's text and checkbox values (by field id); required ones must be filled.

    Checked before anything is signed, so a missing value refuses the whole action. The values are
    kept with the contract and in the signing event (evidence); they are not drawn into the PDF.
    """
    from sealpact.contracts.errors import InvalidField
    from sealpact.contracts.layout import FieldKind
    from sealpact.contracts.models import ContractField

    mine = {
        f.id: f
        for f in session.scalars(select(ContractField).where(ContractField.party_id == party.id))
        if FieldKind(f.kind) in (FieldKind.TEXT, FieldKind.CHECKBOX)
    }
    if any(key not in mine for key in values):
        raise InvalidField("Values were given for fields that are not this party's text or checkbox fields.")
    filled: dict[str, str] = {}
    for field_id, field in mine.items():
        value = " ".join(str(values.get(field_id, "")).split())
        name = field.label or field_id
        if FieldKind(field.kind) is FieldKind.CHECKBOX:
            if value not in ("", "true", "false"):
                raise InvalidField(f"Checkbox {name}: the value is true or false.")
            if field.required and value != "true":
                raise InvalidField(f"Checkbox {name} must be ticked.")
            value = value or "false"
        elif len(value) > MAX_VALUE_CHARS:
            raise InvalidField(f"Field {name}: at most {MAX_VALUE_CHARS} characters.")
        elif field.required and not value:
            raise InvalidField(f"Field {name} is required.")
        field.value = value
        filled[field_id] = value
    return filled


def session_has_member(runtime: Runtime, organization_id: str, user_id: str) -> bool:
    from sealpact.accounts.models import Membership

    with runtime.sessions() as session:
        found = session.scalars(
            select(Membership.id).where(
                Membership.organization_id == organization_id, Membership.user_id == user_id
            )
        ).first()
    return found is not None


def _matches(user: User, party: Party) -> bool:
    return bool((party.email and user.email == party.email) or (party.mobile and user.mobile == party.mobile))
