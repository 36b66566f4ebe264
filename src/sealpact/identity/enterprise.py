"""Enterprise verification: registry check, then a micro-deposit or the legal representative's approval.

1. The agent (a member allowed to manage the organization, individually verified) submits the
   enterprise name, unified social credit code (GB 32100) and legal representative's name; the
   registry must match.
2a. Micro-deposit: the platform pays a random ¥0.01–0.99 with a random remark code into the corporate
    account (whose name must be the enterprise's); the agent enters the amount received. Three tries,
    72 hours; only a keyed hash of the amount, bound to this attempt, is stored.
2b. Legal-representative authorisation: the legal representative passes the carrier three-element
    check under the registry's name and approves with the SMS code sent to that number.

The agent's own verification is recorded with the enterprise verification.
"""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.db import transaction
from sealpact.identity import checks
from sealpact.identity.errors import (
    ChallengeFailed,
    IdentityMismatch,
    InvalidBankCard,
    LevelTooLow,
    VerificationStateError,
)
from sealpact.identity.masking import mask_bank_card
from sealpact.identity.providers import Outcome
from sealpact.identity.records import (
    P_ACCOUNT,
    P_CREDIT,
    P_ID,
    P_MOBILE,
    P_NAME,
    IdentityDeps,
    Method,
    State,
    SubjectType,
    VerificationView,
    add_transaction,
    get_profile,
    verification_view,
)

if TYPE_CHECKING:
    from sealpact.identity.service import IdentityService

_AMOUNT = re.compile(r"(?:¥|￥)?\s*0?\.(\d{2})\s*(?:元)?")
AGENT_MIN_LEVEL = 1


class EnterpriseVerification:
    def __init__(self, deps: IdentityDeps, core: IdentityService) -> None:
        self.d = deps
        self.core = core

    def start(
        self,
        principal: Principal,
        ctx: RequestContext,
        organization_id: str,
        *,
        name: str,
        credit_code: str,
        legal_rep_name: str,
    ) -> VerificationView:
        """Registry check (name + credit code + legal representative); the next step is chosen after."""
        registry = self.core._need(self.d.providers.enterprise, "enterprise registry")
        with transaction(self.d.sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
        agent = self.core.my_status(principal)
        if agent.state != State.VERIFIED or agent.level < AGENT_MIN_LEVEL:
            raise LevelTooLow("The person acting for the enterprise must pass individual verification first.")
        actor = principal.actor
        clean_name = self.core.local(
            organization_id, ctx, actor, lambda: checks.normalise_enterprise_name(name)
        )
        code = self.core.local(organization_id, ctx, actor, lambda: checks.parse_credit_code(credit_code))
        rep = self.core.local(organization_id, ctx, actor, lambda: checks.normalise_name(legal_rep_name))
        code_hash = self.core.id_hash(code, P_CREDIT)
        self.core.guard(organization_id, ctx, code_hash)
        self.core.check_unique(SubjectType.ENTERPRISE, organization_id, code_hash)
        with transaction(self.d.sessions) as session:
            agent_profile = get_profile(
                session, SubjectType.INDIVIDUAL, principal.user_id, self.d.clock.now()
            )
            agent_verification = agent_profile.verification_id
            rep_enc = self.d.fields.encrypt(rep, purpose=P_NAME, session=session)
        vid = self.core.begin(
            SubjectType.ENTERPRISE,
            organization_id,
            principal.user_id,
            ctx,
            actor,
            Method.ENTERPRISE,
            registry.provider_name,
            enterprise_name=clean_name,
            credit_code=code,
            id_hash=code_hash,
            legal_rep_name_enc=rep_enc,
            agent_verification_id=agent_verification,
            ttl=self.d.policy.deposit_ttl,
        )
        result = self.core.call(
            vid,
            actor,
            ctx,
            lambda: registry.verify_enterprise(name=clean_name, credit_code=code, legal_rep_name=rep),
        )
        self.core.require_match(vid, actor, ctx, result, organization_id, code_hash)
        with transaction(self.d.sessions) as session:
            v = self.core._get(session, vid)
            v.step = "registry_passed"
            self.core.audit(
                session, ctx, actor, v, "identity.enterprise.registry_passed", agent=principal.user_id
            )
            return verification_view(v, self.d.fields, self.d.policy)

    def request_deposit(
        self,
        principal: Principal,
        ctx: RequestContext,
        verification_id: str,
        *,
        account_number: str,
        bank_name: str,
    ) -> VerificationView:
        """Pay a random ¥0.01–0.99 with a random remark into the enterprise's corporate account."""
        payment = self.core._need(self.d.providers.payment, "payment")
        subject_id = self._subject_of(principal, verification_id)
        account = self.core.local(
            subject_id, ctx, principal.actor, lambda: checks.normalise_bank_account(account_number)
        )
        bank = " ".join(bank_name.split())
        if not 2 <= len(bank) <= 100:
            raise InvalidBankCard("The bank name is 2 to 100 characters.")
        amount = 1 + secrets.randbelow(99)  # 1..99 fen
        remark = "SP" + "".join(secrets.choice("ABCDEFGHJKMNPQRTUVWXY346789") for _ in range(6))
        with transaction(self.d.sessions) as session:
            v = self.core.owned(session, principal, verification_id)
            self._expect_step(session, v.id, v.step, v.status, "registry_passed")
            v.account_enc = self.d.fields.encrypt(account, purpose=P_ACCOUNT, session=session)
            v.bank_name, v.authorisation, v.deposit_remark = bank, "deposit", remark
            v.challenge_hash = self.core._challenge_hash(v.id, str(amount), session)
            v.challenge_attempts = 0
            v.challenge_expires_at = self.d.clock.now() + self.d.policy.deposit_ttl
            v.expires_at = v.challenge_expires_at
            v.step = "deposit_sending"
            enterprise_name = v.enterprise_name or ""
        self.core.guard(subject_id, ctx, None)
        result = self.core.call(
            verification_id,
            principal.actor,
            ctx,
            lambda: payment.transfer(
                account_name=enterprise_name,
                account_number=account,
                bank_name=bank,
                amount_fen=amount,
                remark=remark,
                idempotency_key=f"deposit:{verification_id}",  # one deposit per attempt
            ),
        )
        if result.outcome is not Outcome.MATCH:
            self.core.require_match(verification_id, principal.actor, ctx, result, subject_id, None)
        with transaction(self.d.sessions) as session:
            v = self.core._get(session, verification_id)
            add_transaction(v, result.transaction_id)
            v.sandbox = v.sandbox or result.sandbox
            v.step = "deposit_sent"
            self.core.audit(
                session,
                ctx,
                principal.actor,
                v,
                "identity.enterprise.deposit_sent",
                txn=result.transaction_id,
                account=mask_bank_card(account),
            )
            return verification_view(v, self.d.fields, self.d.policy)

    def confirm_deposit(
        self, principal: Principal, ctx: RequestContext, verification_id: str, *, amount: str
    ) -> VerificationView:
        """The amount received, e.g. ``0.37``; three tries within 72 hours."""
        with transaction(self.d.sessions) as session:
            v = self.core.owned(session, principal, verification_id)
            if v.status == "pending":
                self._expect_step(session, v.id, v.step, v.status, "deposit_sent")
            subject_id = v.subject_id
        self.core.guard(subject_id, ctx, None, attempt=False)
        match = _AMOUNT.fullmatch(amount.strip())
        # A malformed amount counts as a wrong one: there is no "free" guess.
        answer = str(int(match.group(1))) if match else "malformed"
        try:
            self.core.check_challenge(
                principal, ctx, verification_id, answer, self.d.policy.deposit_max_attempts
            )
        except ChallengeFailed as exc:
            raise ChallengeFailed(
                "The amount does not match the deposit."
                + (f" {exc.attempts_left} attempt(s) left." if exc.attempts_left else " Start again."),
                attempts_left=exc.attempts_left,
            ) from None
        self.core.complete(verification_id, principal, ctx)
        return self.core.verification(principal, verification_id)

    def start_legal_rep(
        self, principal: Principal, ctx: RequestContext, verification_id: str, *, id_number: str, mobile: str
    ) -> VerificationView:
        """Three-element check of the legal representative, then an SMS code for their approval."""
        carrier = self.core._need(self.d.providers.carrier, "three-element")
        today = self.d.clock.now().date()
        subject_id = self._subject_of(principal, verification_id)
        number = self.core.local(
            subject_id, ctx, principal.actor, lambda: checks.parse_id_number(id_number, today=today).number
        )
        phone = self.core.local(subject_id, ctx, principal.actor, lambda: checks.normalise_mobile(mobile))
        with transaction(self.d.sessions) as session:
            v = self.core.owned(session, principal, verification_id)
            self._expect_step(session, v.id, v.step, v.status, "registry_passed")
            rep_name = self.d.fields.decrypt(v.legal_rep_name_enc or "", purpose=P_NAME, session=session)
            v.authorisation, v.step = "legal_rep", "legal_rep_checking"
            # Kept (encrypted) as the record of who approved; the credit code's hash stays the lookup.
            v.id_number_enc = self.d.fields.encrypt(number, purpose=P_ID, session=session)
            v.mobile_enc = self.d.fields.encrypt(phone, purpose=P_MOBILE, session=session)
        rep_hash = self.core.id_hash(number)
        self.core.guard(subject_id, ctx, rep_hash)
        result = self.core.call(
            verification_id,
            principal.actor,
            ctx,
            lambda: carrier.verify_mobile3(name=rep_name, id_number=number, mobile=phone),
        )
        if result.outcome is not Outcome.MATCH:
            self.core.require_match(verification_id, principal.actor, ctx, result, subject_id, rep_hash)
            raise IdentityMismatch("The legal representative's information does not match.")  # unreachable
        with transaction(self.d.sessions) as session:
            v = self.core._get(session, verification_id)
            add_transaction(v, result.transaction_id)
            v.sandbox = v.sandbox or result.sandbox
            self.core.audit(
                session,
                ctx,
                principal.actor,
                v,
                "identity.enterprise.legal_rep_checked",
                txn=result.transaction_id,
            )
        return self.core.send_code(verification_id, principal, ctx, phone)

    def _subject_of(self, principal: Principal, verification_id: str) -> str:
        with transaction(self.d.sessions) as session:
            return self.core.owned(session, principal, verification_id).subject_id

    def _expect_step(self, session: object, vid: str, step: str, status: str, wanted: str) -> None:
        if status != "pending" or step != wanted:
            raise VerificationStateError(
                f"This verification is not at the '{wanted}' step (it is {status}, step '{step}')."
            )
