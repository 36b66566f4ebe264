"""Real-name verification of individuals (``runtime.identity``); enterprises in :mod:`.enterprise`.

Every method follows the same shape: local checks (no provider call for data that cannot be right),
throttles (account, IP, ID number), a pending verification row, the provider call *outside* any
transaction, then one transaction recording the outcome, the provider transaction id and an audit
event. Errors raised after a recorded failure are raised *after* that transaction commits, so the
attempt is counted and the state moved to its defined failure state.

A provider outage (:class:`ProviderUnavailable`) fails the attempt with reason
``provider_unavailable`` and is never counted as a mismatch.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealpact.accounts.principal import Principal
from sealpact.audit import Actor, record
from sealpact.context import RequestContext
from sealpact.db import on_commit, transaction
from sealpact.identity import checks
from sealpact.identity.errors import (
    CallbackRejected,
    ChallengeExpired,
    ChallengeFailed,
    IdentityError,
    IdentityInUse,
    IdentityMismatch,
    IdentityThrottled,
    LevelTooLow,
    ProviderRejected,
    ProviderUnavailable,
    SandboxRefused,
    VerificationNotFound,
    VerificationStateError,
)
from sealpact.identity.masking import mask_mobile
from sealpact.identity.models import IdentityProfile, IdentityVerification
from sealpact.identity.providers import CheckResult, FaceResult, FaceStatus, Outcome
from sealpact.identity.records import (
    METHOD_LEVEL,
    P_CHALLENGE,
    P_ID,
    P_NAME,
    IdentityDeps,
    Method,
    State,
    StatusView,
    SubjectType,
    VerificationView,
    VerifiedIdentity,
    add_transaction,
    encrypt_values,
    get_profile,
    human_duration,
    replaced_identity,
    revoke_quietly,
    settle_state,
    status_view,
    verification_view,
)
from sealpact.pki.policy import SubjectIdentity

log = logging.getLogger("sealpact.identity")
T = TypeVar("T")

PROVIDER_FAILURES = (ProviderUnavailable, ProviderRejected, SandboxRefused)
SMS_TEXT = "【sealpact】您的实名认证验证码为 {code}，{minutes} 分钟内有效。请勿告诉他人。"


class IdentityService:
    """Individual verification, status, callbacks and the level gate used by contracts and PKI."""

    def __init__(self, deps: IdentityDeps) -> None:
        self.d = deps
        from sealpact.identity.enterprise import EnterpriseVerification

        self.enterprise = EnterpriseVerification(deps, self)

    # -- reading -----------------------------------------------------------------------------------

    def status(self, subject_type: str, subject_id: str) -> StatusView:
        with transaction(self.d.sessions) as session:
            profile = self._profile_or_none(session, subject_type, subject_id)
            return status_view(profile, self.d.fields, subject_type, subject_id)

    def my_status(self, principal: Principal) -> StatusView:
        return self.status(SubjectType.INDIVIDUAL, principal.user_id)

    def enterprise_status(self, principal: Principal, organization_id: str) -> StatusView:
        """An organization's status, for its members (others get 404)."""
        from sealpact.accounts.orgs import require_org_permission
        from sealpact.accounts.permissions import Permission

        with transaction(self.d.sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_VIEW)
            profile = self._profile_or_none(session, SubjectType.ENTERPRISE, organization_id)
            return status_view(profile, self.d.fields, SubjectType.ENTERPRISE, organization_id)

    def verification(self, principal: Principal, verification_id: str) -> VerificationView:
        with transaction(self.d.sessions) as session:
            v = self.owned(session, principal, verification_id)
            self.expire_if_due(session, v)
            return verification_view(v, self.d.fields, self.d.policy)

    def require_level(self, subject_type: str, subject_id: str, minimum: int) -> StatusView:
        """The gate a contract applies per party: verified at ``minimum`` or above, else LevelTooLow."""
        view = self.status(subject_type, subject_id)
        if view.state != State.VERIFIED or view.level < minimum:
            raise LevelTooLow(f"Real-name verification at level {minimum} or above is required.")
        return view

    def verified_identity(self, subject_type: str, subject_id: str) -> VerifiedIdentity:
        """The verified name and ID number / credit code of a subject, for the PKI (LevelTooLow if none)."""
        with transaction(self.d.sessions) as session:
            p = self._profile_or_none(session, subject_type, subject_id)
            if p is None or p.state != State.VERIFIED or p.level < 1:
                raise LevelTooLow("The account has not passed real-name verification.")
            if subject_type == SubjectType.ENTERPRISE:
                return VerifiedIdentity(
                    subject_type, p.enterprise_name or "", p.credit_code or "", p.level, p.sandbox
                )
            name = self.d.fields.decrypt(p.name_enc or "", purpose=P_NAME, session=session)
            number = self.d.fields.decrypt(p.id_number_enc or "", purpose=P_ID, session=session)
            return VerifiedIdentity(subject_type, name, number, p.level, p.sandbox)

    def certificate_identity(self, subject_type: str, subject_id: str) -> SubjectIdentity:
        """The PKI ``SubjectIdentity`` of a verified subject (pseudonymised ID, level, sandbox flag)."""
        if self.d.certificates is None:
            raise ProviderUnavailable("No certificate authority is wired to identity verification.")
        return self.d.certificates.certificate_identity(self.verified_identity(subject_type, subject_id))

    # -- individual methods ------------------------------------------------------------------------

    def verify_id2(
        self, principal: Principal, ctx: RequestContext, *, name: str, id_number: str
    ) -> StatusView:
        """Two elements (name + resident ID number) against the public-security service: level 1."""
        provider = self._need(self.d.providers.person, "two-element")
        name, number = self._person_input(principal, ctx, name, id_number)
        id_hash = self.id_hash(number)
        self.guard(principal.user_id, ctx, id_hash)
        self.check_unique(SubjectType.INDIVIDUAL, principal.user_id, id_hash)
        vid = self._begin(principal, ctx, Method.ID2, provider.provider_name, name=name, id_number=number)
        result = self.call(
            vid, principal.actor, ctx, lambda: provider.verify_id2(name=name, id_number=number)
        )
        self._finish_check(vid, principal, ctx, result, id_hash)
        return self.my_status(principal)

    def start_mobile3(
        self, principal: Principal, ctx: RequestContext, *, name: str, id_number: str, mobile: str
    ) -> VerificationView:
        """Three elements at the carrier, then an SMS code to that number (level 2 once confirmed)."""
        carrier = self._need(self.d.providers.carrier, "three-element")
        name, number = self._person_input(principal, ctx, name, id_number)
        mobile = self._local(principal, ctx, lambda: checks.normalise_mobile(mobile))
        id_hash = self.id_hash(number)
        self.guard(principal.user_id, ctx, id_hash)
        self.check_unique(SubjectType.INDIVIDUAL, principal.user_id, id_hash)
        vid = self._begin(
            principal, ctx, Method.MOBILE3, carrier.provider_name, name=name, id_number=number, mobile=mobile
        )
        result = self.call(
            vid,
            principal.actor,
            ctx,
            lambda: carrier.verify_mobile3(name=name, id_number=number, mobile=mobile),
        )
        self.require_match(vid, principal.actor, ctx, result, principal.user_id, id_hash)
        return self.send_code(vid, principal, ctx, mobile)

    def start_bank4(
        self,
        principal: Principal,
        ctx: RequestContext,
        *,
        name: str,
        id_number: str,
        card_number: str,
        mobile: str,
    ) -> VerificationView:
        """Four elements at the bank (card + reserved mobile), then an SMS code (level 2 once confirmed)."""
        bank = self._need(self.d.providers.bank_card, "four-element")
        name, number = self._person_input(principal, ctx, name, id_number)
        card = self._local(principal, ctx, lambda: checks.normalise_bank_card(card_number))
        mobile = self._local(principal, ctx, lambda: checks.normalise_mobile(mobile))
        id_hash = self.id_hash(number)
        self.guard(principal.user_id, ctx, id_hash)
        self.check_unique(SubjectType.INDIVIDUAL, principal.user_id, id_hash)
        vid = self._begin(
            principal,
            ctx,
            Method.BANK4,
            bank.provider_name,
            name=name,
            id_number=number,
            mobile=mobile,
            card=card,
        )
        result = self.call(
            vid,
            principal.actor,
            ctx,
            lambda: bank.verify_bank4(name=name, id_number=number, card_number=card, mobile=mobile),
        )
        self.require_match(vid, principal.actor, ctx, result, principal.user_id, id_hash)
        return self.send_code(vid, principal, ctx, mobile)

    def start_face(
        self, principal: Principal, ctx: RequestContext, *, name: str, id_number: str
    ) -> VerificationView:
        """Create a face certification; the user follows ``redirect_url``; callback and/or poll finish it."""
        face = self._need(self.d.providers.face, "face")
        name, number = self._person_input(principal, ctx, name, id_number)
        id_hash = self.id_hash(number)
        self.guard(principal.user_id, ctx, id_hash)
        self.check_unique(SubjectType.INDIVIDUAL, principal.user_id, id_hash)
        vid = self._begin(
            principal,
            ctx,
            Method.FACE,
            face.provider_name,
            name=name,
            id_number=number,
            ttl=self.d.policy.face_ttl,
        )
        base = self.d.settings.public_url
        session_info = self.call(
            vid,
            principal.actor,
            ctx,
            lambda: face.create_certification(
                name=name,
                id_number=number,
                return_url=f"{base}/identity/face/return?verification={vid}",
                callback_url=f"{base}/api/v1/identity/face/callback/{vid}",
                reference=vid,
            ),
        )
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid)
            v.face_certify_id = session_info.certify_id
            v.step = "face_redirected"
            v.sandbox = v.sandbox or session_info.sandbox
            add_transaction(v, session_info.transaction_id)
            self.audit(
                session, ctx, principal.actor, v, "identity.face.created", txn=session_info.transaction_id
            )
            return verification_view(v, self.d.fields, self.d.policy, redirect_url=session_info.redirect_url)

    def poll_face(self, principal: Principal, ctx: RequestContext, verification_id: str) -> VerificationView:
        face = self._need(self.d.providers.face, "face")
        with transaction(self.d.sessions) as session:
            v = self.owned(session, principal, verification_id)
            if v.method != Method.FACE or v.face_certify_id is None:
                raise VerificationStateError("This verification has no face certification to poll.")
            if v.status != "pending" or self.expire_if_due(session, v):
                return verification_view(v, self.d.fields, self.d.policy)
            certify_id = v.face_certify_id
        result = face.query_certification(certify_id)  # an outage here leaves the attempt pending
        if result.status is FaceStatus.PENDING:
            return self.verification(principal, verification_id)
        self._apply_face(verification_id, result, ctx, principal.actor)
        return self.verification(principal, verification_id)

    def face_callback(
        self,
        verification_id: str,
        ctx: RequestContext,
        *,
        method: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> None:
        """A provider's signed callback: signature, time window and nonce (provider), then binding here."""
        face = self._need(self.d.providers.face, "face")
        # No session here: rejected callbacks are counted per IP, so junk cannot flood the audit log.
        ip_key = f"idv:cb:{ctx.ip or 'unknown'}"
        wait = self.d.throttle.locked_for(ip_key)
        if wait:
            raise IdentityThrottled("Too many rejected callbacks from this address.", retry_after=wait)
        try:
            result = face.parse_callback(method=method, path=path, headers=headers, body=body)
        except CallbackRejected as exc:
            self.d.throttle.register_failure(ip_key, self.d.policy.callback_failures)
            self._audit_callback(verification_id, ctx, exc.code)
            raise
        with transaction(self.d.sessions) as session:
            v = session.get(IdentityVerification, verification_id)
            problem: CallbackRejected | None = None
            if v is None or v.method != Method.FACE:
                problem = CallbackRejected(
                    "The callback is for an unknown verification.", code="callback_unbound"
                )
            elif result.certify_id != v.face_certify_id or result.reference != v.id:
                problem = CallbackRejected(
                    "The callback belongs to another request.", code="callback_unbound"
                )
            elif v.status == "pending" and self.expire_if_due(session, v):
                problem = CallbackRejected(
                    "The callback arrived after the verification expired.", code="callback_late"
                )
            elif v.status != "pending":
                problem = CallbackRejected("The verification is already complete.", code="callback_duplicate")
        if problem is not None:
            self._audit_callback(verification_id, ctx, problem.code)
            raise problem
        self._apply_face(verification_id, result, ctx, Actor.system())

    def confirm_code(
        self, principal: Principal, ctx: RequestContext, verification_id: str, code: str
    ) -> VerificationView:
        """Check the SMS code of a mobile3 / bank4 / legal-representative verification."""
        problem: IdentityError | None = None
        with transaction(self.d.sessions) as session:  # raise after commit, so an expiry is kept
            v = self.owned(session, principal, verification_id)
            subject_id = v.subject_id
            if v.step not in ("sms_sent", "legal_rep_sms") or v.status != "pending":
                if self.expire_if_due(session, v) or v.status == "expired":
                    problem = ChallengeExpired("The code has expired; start again.")
                else:
                    problem = VerificationStateError("This verification is not waiting for an SMS code.")
        if problem is not None:
            raise problem
        self.guard(subject_id, ctx, None, attempt=False)
        self.check_challenge(principal, ctx, verification_id, code.strip(), self.d.policy.sms_max_attempts)
        self.complete(verification_id, principal, ctx)
        return self.verification(principal, verification_id)

    # -- shared machinery (also used by the enterprise flows) -------------------------------------

    def send_code(self, vid: str, principal: Principal, ctx: RequestContext, mobile: str) -> VerificationView:
        sms = self._need(self.d.providers.sms, "SMS")
        code = f"{secrets.randbelow(10**6):06d}"
        minutes = int(self.d.policy.sms_ttl.total_seconds() // 60)
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid)
            is_legal_rep = v.subject_type == SubjectType.ENTERPRISE
            v.challenge_hash = self._challenge_hash(vid, code, session)
            v.challenge_attempts = 0
            v.challenge_expires_at = self.d.clock.now() + self.d.policy.sms_ttl
            v.expires_at = v.challenge_expires_at
            v.step = "legal_rep_sms" if is_legal_rep else "sms_sent"
        receipt = self.call(
            vid,
            principal.actor,
            ctx,
            lambda: sms.send_sms(
                mobile=mobile, text=SMS_TEXT.format(code=code, minutes=minutes), idempotency_key=vid
            ),
        )
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid)
            add_transaction(v, receipt.transaction_id)
            v.sandbox = v.sandbox or receipt.sandbox
            self.audit(
                session,
                ctx,
                principal.actor,
                v,
                "identity.sms.sent",
                txn=receipt.transaction_id,
                to=mask_mobile(mobile),
            )
            return verification_view(v, self.d.fields, self.d.policy)

    def check_challenge(
        self, principal: Principal, ctx: RequestContext, vid: str, answer: str, max_attempts: int
    ) -> None:
        """Compare a one-time answer (code / amount) with its hash; count and limit wrong answers."""
        failure: IdentityError | None = None
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid, lock=True)
            now = self.d.clock.now()
            if v.challenge_hash is None or v.challenge_expires_at is None:
                raise VerificationStateError("Nothing to confirm for this verification.")
            if now > v.challenge_expires_at:
                self._fail(session, v, "challenge_expired", ctx, principal.actor, status="expired")
                failure = ChallengeExpired("The code or deposit has expired; start again.")
            else:
                expected = self._challenge_hash(vid, answer, session)
                if hmac.compare_digest(expected, v.challenge_hash):
                    v.challenge_hash = None  # single use
                    self.audit(session, ctx, principal.actor, v, "identity.challenge.passed")
                    return
                v.challenge_attempts += 1
                left = max(0, max_attempts - v.challenge_attempts)
                self.audit(session, ctx, principal.actor, v, "identity.challenge.failed", attempts_left=left)
                if left == 0:
                    self._fail(session, v, "too_many_wrong_answers", ctx, principal.actor)
                failure = ChallengeFailed(
                    "The answer is wrong."
                    + (f" {left} attempt(s) left." if left else " No attempts left; start again."),
                    attempts_left=left,
                )
            subject_id, id_hash = v.subject_id, v.id_hash
        self._count_failure(subject_id, id_hash)
        raise failure

    def complete(self, vid: str, principal: Principal | None, ctx: RequestContext) -> None:
        """Mark ``vid`` verified and make it the subject's identity; replaced identities lose certificates."""
        actor = principal.actor if principal else Actor.system()
        revoke: tuple[str, str, str] | None = None
        try:
            with transaction(self.d.sessions) as session:
                v = self._get(session, vid)
                now = self.d.clock.now()
                profile = get_profile(session, v.subject_type, v.subject_id, now)
                revoke = replaced_identity(self.d.fields, session, profile, v)
                v.status, v.step, v.completed_at, v.updated_at = "verified", "done", now, now
                v.challenge_hash = None
                # A lower-level re-check of the same identity never downgrades the account.
                if revoke is not None or profile.level == 0 or v.level >= profile.level:
                    profile.level = v.level
                    profile.method, profile.provider, profile.sandbox = v.method, v.provider, v.sandbox
                    profile.verified_at, profile.verification_id = now, v.id
                profile.reason = None
                profile.name_enc, profile.id_number_enc, profile.id_hash = (
                    v.name_enc,
                    v.id_number_enc,
                    v.id_hash,
                )
                if v.mobile_enc and v.subject_type == SubjectType.INDIVIDUAL:
                    profile.mobile_enc = v.mobile_enc
                if v.subject_type == SubjectType.ENTERPRISE:
                    profile.enterprise_name, profile.credit_code = v.enterprise_name, v.credit_code
                    profile.name_enc, profile.id_number_enc = None, None
                settle_state(profile, v, now)
                session.flush()  # the unique (subject_type, id_hash) index speaks here
                self.audit(
                    session, ctx, actor, v, "identity.verified", level=v.level, replaced=revoke is not None
                )
                if revoke is not None and self.d.certificates is not None:
                    link, (kind, old_name, old_value) = self.d.certificates, revoke
                    on_commit(
                        session,
                        lambda: revoke_quietly(link, kind, old_name, old_value),
                    )
        except IntegrityError:
            self._fail_in_new_tx(vid, "identity_in_use", ctx, actor)
            raise IdentityInUse("This identity is already verified for another account.") from None

    def owned(self, session: Session, principal: Principal, verification_id: str) -> IdentityVerification:
        """The verification, if the caller may act on it (its person, or a manager of its organization)."""
        v = session.get(IdentityVerification, verification_id)
        if v is None:
            raise VerificationNotFound("Verification not found.")
        if v.subject_type == SubjectType.INDIVIDUAL and v.subject_id == principal.user_id:
            return v
        if v.subject_type == SubjectType.ENTERPRISE:
            from sealpact.accounts.orgs import require_org_permission
            from sealpact.accounts.permissions import Permission
            from sealpact.errors import NotFound

            try:
                require_org_permission(session, principal, v.subject_id, Permission.ORG_MANAGE)
            except NotFound:
                raise VerificationNotFound("Verification not found.") from None
            return v
        raise VerificationNotFound("Verification not found.")  # another account's id: 404, not 403

    def expire_if_due(self, session: Session, v: IdentityVerification) -> bool:
        if v.status == "pending" and self.d.clock.now() > v.expires_at:
            self._fail(session, v, "expired", RequestContext.cli(), Actor.system(), status="expired")
            return True
        return False

    def audit(
        self,
        session: Session,
        ctx: RequestContext,
        actor: Actor,
        v: IdentityVerification,
        action: str,
        **extra: Any,
    ) -> None:
        details: dict[str, Any] = {
            "method": v.method,
            "provider": v.provider,
            "sandbox": v.sandbox,
            "step": v.step,
        }
        txn = extra.pop("txn", None)
        if txn:
            details["provider_transaction"] = txn
        details.update(extra)
        record(
            session,
            ctx,
            self.d.clock,
            action=action,
            actor=actor,
            object_type="identity_verification",
            object_id=v.id,
            organization_id=v.subject_id if v.subject_type == SubjectType.ENTERPRISE else None,
            details=details,
        )

    def begin(
        self,
        subject_type: str,
        subject_id: str,
        initiated_by: str,
        ctx: RequestContext,
        actor: Actor,
        method: Method,
        provider: str,
        **values: Any,
    ) -> str:
        """Create a pending verification (and move the profile to pending); returns its id."""
        ttl = values.pop("ttl", self.d.policy.start_ttl)
        with transaction(self.d.sessions) as session:
            now = self.d.clock.now()
            profile = get_profile(session, subject_type, subject_id, now)
            v = IdentityVerification(
                subject_type=subject_type,
                subject_id=subject_id,
                initiated_by=initiated_by,
                method=method.value,
                level=METHOD_LEVEL[method],
                status="pending",
                step="checking",
                provider=provider,
                sandbox=self._provider_is_sandbox(),
                transactions="[]",
                challenge_attempts=0,
                created_at=now,
                updated_at=now,
                expires_at=now + ttl,
                **encrypt_values(self.d.fields, session, values),
            )
            session.add(v)
            session.flush()
            settle_state(profile, v, now)
            self.audit(session, ctx, actor, v, "identity.started")
            return v.id

    def call(self, vid: str, actor: Actor, ctx: RequestContext, fn: Callable[[], T]) -> T:
        """Call a provider; on outage or refusal, fail the attempt (reason recorded) and re-raise."""
        try:
            return fn()
        except PROVIDER_FAILURES as exc:
            log.warning("identity provider failure for verification %s: %s", vid, exc.code)
            self._fail_in_new_tx(vid, exc.code, ctx, actor)
            raise

    def require_match(
        self,
        vid: str,
        actor: Actor,
        ctx: RequestContext,
        result: CheckResult,
        key_subject: str,
        id_hash: str | None,
    ) -> None:
        """Record a check result; a mismatch fails the attempt, counts, and raises IdentityMismatch."""
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid)
            add_transaction(v, result.transaction_id)
            v.sandbox = v.sandbox or result.sandbox
            matched = result.outcome is Outcome.MATCH
            self.audit(
                session,
                ctx,
                actor,
                v,
                "identity.check",
                txn=result.transaction_id,
                outcome=result.outcome.value,
                reason_code=result.detail,
            )
            if matched:
                v.step = "checked"
                v.updated_at = self.d.clock.now()
            else:
                self._fail(session, v, "identity_mismatch", ctx, actor)
        if not matched:
            self._count_failure(key_subject, id_hash)
            detail = {
                "legal_representative": " (legal representative)",
                "name": " (enterprise name)",
            }.get(result.detail or "", "")
            if result.detail and result.detail.startswith("enterprise_"):
                raise IdentityMismatch("The registry reports the enterprise as not active.")
            raise IdentityMismatch(f"The information does not match the authoritative record{detail}.")

    def guard(
        self, subject_id: str, ctx: RequestContext, id_hash: str | None, *, attempt: bool = True
    ) -> None:
        """Refuse while any of account / IP / ID number is locked; count this attempt."""
        throttle, policy = self.d.throttle, self.d.policy
        keys = [f"idv:fail:{subject_id}", f"idv:acct:{subject_id}", f"idv:ip:{ctx.ip or 'unknown'}"]
        if id_hash:
            keys.append(f"idv:idn:{id_hash}")
        wait = max(throttle.locked_for(key) for key in keys)
        if wait:
            raise IdentityThrottled(
                f"Too many verification attempts; verification is locked for {human_duration(wait)}.",
                retry_after=wait,
            )
        if attempt:
            throttle.register_failure(f"idv:acct:{subject_id}", policy.account_attempts)
            throttle.register_failure(f"idv:ip:{ctx.ip or 'unknown'}", policy.ip_attempts)

    def count_failure(self, subject_id: str, id_hash: str | None) -> None:
        self._count_failure(subject_id, id_hash)

    def id_hash(self, value: str, purpose: str = P_ID) -> str:
        return self.d.fields.lookup_hash(value, purpose=purpose)

    def check_unique(self, subject_type: str, subject_id: str, id_hash: str) -> None:
        with transaction(self.d.sessions) as session:
            other = session.scalars(
                select(IdentityProfile.subject_id).where(
                    IdentityProfile.subject_type == subject_type,
                    IdentityProfile.id_hash == id_hash,
                    IdentityProfile.subject_id != subject_id,
                )
            ).first()
        if other is not None:
            raise IdentityInUse("This identity is already verified for another account.")

    def local(self, subject_id: str, ctx: RequestContext, actor: Actor, fn: Callable[[], T]) -> T:
        """Run a local check; a failure is audited and counted against the account, then re-raised."""
        try:
            return fn()
        except IdentityError as exc:
            with transaction(self.d.sessions) as session:
                record(
                    session,
                    ctx,
                    self.d.clock,
                    action="identity.rejected_locally",
                    actor=actor,
                    object_type="identity_subject",
                    object_id=subject_id,
                    details={"reason_code": exc.code},
                )
            self.d.throttle.register_failure(f"idv:fail:{subject_id}", self.d.policy.account_failures)
            raise

    # -- private -------------------------------------------------------------------------------------

    def _person_input(
        self, principal: Principal, ctx: RequestContext, name: str, id_number: str
    ) -> tuple[str, str]:
        today = self.d.clock.now().date()
        clean_name = self._local(principal, ctx, lambda: checks.normalise_name(name))
        parsed = self._local(principal, ctx, lambda: checks.parse_id_number(id_number, today=today))
        return clean_name, parsed.number

    def _local(self, principal: Principal, ctx: RequestContext, fn: Callable[[], T]) -> T:
        return self.local(principal.user_id, ctx, principal.actor, fn)

    def _begin(
        self, principal: Principal, ctx: RequestContext, method: Method, provider: str, **values: Any
    ) -> str:
        return self.begin(
            SubjectType.INDIVIDUAL,
            principal.user_id,
            principal.user_id,
            ctx,
            principal.actor,
            method,
            provider,
            **values,
        )

    def _finish_check(
        self, vid: str, principal: Principal, ctx: RequestContext, result: CheckResult, id_hash: str
    ) -> None:
        self.require_match(vid, principal.actor, ctx, result, principal.user_id, id_hash)
        self.complete(vid, principal, ctx)

    def _apply_face(self, vid: str, result: FaceResult, ctx: RequestContext, actor: Actor) -> None:
        threshold = self.d.policy.face_threshold
        passed = (
            result.status is FaceStatus.PASSED
            and result.similarity is not None
            and result.liveness is not None
            and result.similarity >= threshold
            and result.liveness >= threshold
        )
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid, lock=True)
            if v.status != "pending" or v.step == "face_passed":
                return  # the callback and a poll raced: the first one decided
            add_transaction(v, result.transaction_id)
            v.sandbox = v.sandbox or result.sandbox
            v.similarity = f"{result.similarity:.2f}" if result.similarity is not None else None
            v.liveness = f"{result.liveness:.2f}" if result.liveness is not None else None
            self.audit(
                session,
                ctx,
                actor,
                v,
                "identity.face.result",
                txn=result.transaction_id,
                outcome=result.status.value,
                similarity=v.similarity,
                liveness=v.liveness,
                threshold=threshold,
                reason_code=result.detail,
            )
            if passed:
                v.step = "face_passed"
            else:
                reason = "face_cancelled" if result.detail == "user_cancelled" else "face_not_matched"
                self._fail(session, v, reason, ctx, actor)
            subject_id, id_hash = v.subject_id, v.id_hash
        if passed:
            self.complete(vid, None, ctx)
        else:
            self._count_failure(subject_id, id_hash)

    def _audit_callback(self, verification_id: str, ctx: RequestContext, reason: str) -> None:
        with transaction(self.d.sessions) as session:
            record(
                session,
                ctx,
                self.d.clock,
                action="identity.face.callback_rejected",
                actor=Actor.anonymous(),
                object_type="identity_verification",
                object_id=verification_id[:64],
                details={"reason_code": reason},
            )

    def _fail(
        self,
        session: Session,
        v: IdentityVerification,
        reason: str,
        ctx: RequestContext,
        actor: Actor,
        *,
        status: str = "failed",
    ) -> None:
        now = self.d.clock.now()
        v.status, v.failure_reason, v.updated_at, v.completed_at = status, reason, now, now
        v.challenge_hash = None
        profile = get_profile(session, v.subject_type, v.subject_id, now)
        settle_state(profile, v, now)
        self.audit(session, ctx, actor, v, "identity.failed", reason_code=reason)

    def _fail_in_new_tx(self, vid: str, reason: str, ctx: RequestContext, actor: Actor) -> None:
        with transaction(self.d.sessions) as session:
            v = self._get(session, vid)
            if v.status == "pending":
                self._fail(session, v, reason, ctx, actor)

    def _count_failure(self, subject_id: str, id_hash: str | None) -> None:
        self.d.throttle.register_failure(f"idv:fail:{subject_id}", self.d.policy.account_failures)
        if id_hash:
            self.d.throttle.register_failure(f"idv:idn:{id_hash}", self.d.policy.id_failures)

    def _challenge_hash(self, vid: str, answer: str, session: Session) -> str:
        # Keyed and bound to this verification: an answer from another attempt never matches.
        return self.d.fields.lookup_hash(f"{vid}\x00{answer}", purpose=P_CHALLENGE, session=session)

    def _provider_is_sandbox(self) -> bool:
        return any(p is not None and p.sandbox for p in vars(self.d.providers).values())

    def _need(self, provider: T | None, what: str) -> T:
        if provider is None:
            raise ProviderUnavailable(f"No {what} verification provider is configured.")
        return provider

    @staticmethod
    def _get(session: Session, vid: str, *, lock: bool = False) -> IdentityVerification:
        # lock: SELECT ... FOR UPDATE on PostgreSQL, so concurrent answers are counted one by one
        # (SQLite serialises writers on its own).
        v = session.get(IdentityVerification, vid, with_for_update=lock)
        if v is None:
            raise VerificationNotFound("Verification not found.")
        return v

    @staticmethod
    def _profile_or_none(session: Session, subject_type: str, subject_id: str) -> IdentityProfile | None:
        return session.scalars(
            select(IdentityProfile).where(
                IdentityProfile.subject_type == subject_type, IdentityProfile.subject_id == subject_id
            )
        ).one_or_none()
