"""Building the identity service from settings: providers, nonce store, PKI link, sandbox refusal.

The sandbox is refused in ``SEALPACT_ENV=production`` unless ``identity_allow_sandbox_in_production``
is set (GUIDE §2 principle 3); the refusal happens when the service is built, so a misconfigured
production deployment fails at its first identity request with ``sandbox_refused``, and the adapter
refuses any answer that says ``"sandbox": true`` as well.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from sealpact.clock import Clock
from sealpact.config import Settings
from sealpact.db import transaction
from sealpact.errors import ConfigurationError
from sealpact.identity.adapters import ContractProvider
from sealpact.identity.errors import SandboxRefused
from sealpact.identity.http import SignedHttpClient
from sealpact.identity.models import IdentityNonce
from sealpact.identity.providers import ProviderSet
from sealpact.identity.records import IdentityDeps, IdentityPolicy, VerifiedIdentity

if TYPE_CHECKING:
    from sealpact.identity.service import IdentityService
    from sealpact.pki.policy import SubjectIdentity
    from sealpact.runtime import Runtime

EMBEDDED_SANDBOX_PREFIX = "/sandbox-authority"
# The embedded sandbox and the platform share one process; this development-only secret is refused
# (with the sandbox itself) in production unless explicitly allowed, and then a real secret is required.
DEV_SANDBOX_SECRET = b"sealpact-embedded-sandbox-development-only"
PERSON_ID_TYPE = "CN-RID"  # resident identity card, for the PKI pseudonym


class DatabaseNonceStore:
    """Callback nonces in ``identity_nonces`` (shared by every process); expired rows are purged."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def use(self, nonce: str, *, expires_at: datetime, now: datetime) -> bool:
        try:
            with transaction(self._sessions) as session:
                session.execute(delete(IdentityNonce).where(IdentityNonce.expires_at < now))
                existing = session.get(IdentityNonce, nonce[:160])
                if existing is not None:
                    return False
                session.add(IdentityNonce(nonce=nonce[:160], expires_at=expires_at))
                session.flush()
        except IntegrityError:
            return False  # a concurrent delivery of the same nonce won
        return True


def sandbox_allowed(settings: Settings) -> bool:
    return not settings.is_production or settings.identity_allow_sandbox_in_production


def provider_secret(settings: Settings) -> bytes:
    if settings.identity_provider_secret is not None:
        return settings.identity_provider_secret.get_secret_value().encode()
    if settings.identity_provider == "sandbox" and not settings.is_production:
        return DEV_SANDBOX_SECRET
    raise ConfigurationError("SEALPACT_IDENTITY_PROVIDER_SECRET must be set for this identity provider.")


def provider_url(settings: Settings) -> str:
    if settings.identity_provider_url:
        return settings.identity_provider_url.rstrip("/")
    if settings.identity_provider == "sandbox":
        return settings.public_url + EMBEDDED_SANDBOX_PREFIX
    raise ConfigurationError("SEALPACT_IDENTITY_PROVIDER_URL must be set for this identity provider.")


def build_providers(settings: Settings, clock: Clock, sessions: sessionmaker[Session]) -> ProviderSet:
    kind = settings.identity_provider
    if kind == "sandbox" and not sandbox_allowed(settings):
        raise SandboxRefused(
            "The sandbox identity authority is refused in production "
            "(set SEALPACT_IDENTITY_ALLOW_SANDBOX_IN_PRODUCTION=true only for a staging system)."
        )
    if kind not in ("sandbox", "contract", "tencent"):
        raise ConfigurationError("SEALPACT_IDENTITY_PROVIDER must be sandbox, contract or tencent.")
    nonces = DatabaseNonceStore(sessions)
    contract: ContractProvider | None = None
    if kind != "tencent" or settings.identity_provider_url:
        client = SignedHttpClient(
            provider_url(settings),
            key_id=settings.identity_provider_key_id,
            secret=provider_secret(settings),
            clock=clock,
            provider="sandbox" if kind == "sandbox" else "contract",
            timeout=settings.identity_timeout_seconds,
            retries=settings.identity_retries,
        )
        contract = ContractProvider(
            client,
            clock=clock,
            nonces=nonces,
            sandbox=kind == "sandbox",
            allow_sandbox=sandbox_allowed(settings),
        )
    if kind == "tencent":
        from sealpact.identity.tencent import TencentFaceId

        if not settings.tencent_secret_id or settings.tencent_secret_key is None:
            raise ConfigurationError(
                "SEALPACT_TENCENT_SECRET_ID and SEALPACT_TENCENT_SECRET_KEY are required."
            )
        tencent = TencentFaceId(
            endpoint=settings.tencent_endpoint,
            secret_id=settings.tencent_secret_id,
            secret_key=settings.tencent_secret_key.get_secret_value(),
            region=settings.tencent_region,
            rule_id=settings.tencent_face_rule_id,
            clock=clock,
            timeout=settings.identity_timeout_seconds,
            retries=settings.identity_retries,
        )
        return ProviderSet(
            person=tencent,
            carrier=tencent,
            bank_card=tencent,
            face=tencent if settings.tencent_face_rule_id else None,
            sms=contract,
            enterprise=contract,
            payment=contract,
        )
    return ProviderSet(
        person=contract,
        carrier=contract,
        bank_card=contract,
        sms=contract,
        face=contract,
        enterprise=contract,
        payment=contract,
    )


class PkiCertificateLink:
    """Finds the end-entity certificates issued for an identity and revokes them (PKI issue)."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def unique_value(self, subject_type: str, value: str) -> str:
        if subject_type == "enterprise":
            return value
        return self._runtime.pki.pseudonym(PERSON_ID_TYPE, value)

    def subject_identity(
        self, identity: IdentityService, subject_type: str, subject_id: str
    ) -> SubjectIdentity:
        return self.certificate_identity(identity.verified_identity(subject_type, subject_id))

    def certificate_identity(self, verified: VerifiedIdentity) -> SubjectIdentity:
        """What the PKI issues a certificate for: level and the sandbox flag go into its policy OID."""
        from sealpact.pki.policy import SubjectIdentity, SubjectKind, VerificationLevel

        return SubjectIdentity(
            kind=SubjectKind(verified.subject_type),
            name=verified.name,
            unique_id=self.unique_value(verified.subject_type, verified.unique_value),
            level=VerificationLevel(min(verified.level, 3)),
            sandbox=verified.sandbox,
        )

    def revoke_for_identity(self, *, subject_type: str, name: str, unique_value: str) -> int:
        from sealpact.pki.models import IssuedCertificate

        wanted = self.unique_value(subject_type, unique_value)
        serials: list[str] = []
        with transaction(self._runtime.sessions) as session:
            rows = session.scalars(
                select(IssuedCertificate).where(
                    IssuedCertificate.kind == "end_entity", IssuedCertificate.status != "revoked"
                )
            )
            for row in rows:
                identity = json.loads(row.identity or "{}")
                if identity.get("unique_id") == wanted and identity.get("kind") == subject_type:
                    serials.append(row.serial)
        for serial in serials:
            # RFC 5280 §5.3.1: the subject's name or other information changed.
            self._runtime.pki.revoke(serial, "affiliation_changed")
        return len(serials)


def build_identity(runtime: Runtime, *, policy: IdentityPolicy | None = None) -> IdentityService:
    from sealpact.accounts.service import build_throttle
    from sealpact.identity.service import IdentityService

    settings = runtime.settings
    providers = build_providers(settings, runtime.clock, runtime.sessions)  # refuses the sandbox first
    deps = IdentityDeps(
        sessions=runtime.sessions,
        settings=settings,
        clock=runtime.clock,
        fields=runtime.fields,
        throttle=build_throttle(runtime),
        providers=providers,
        policy=policy or IdentityPolicy(face_threshold=settings.identity_face_threshold),
        certificates=PkiCertificateLink(runtime),
    )
    return IdentityService(deps)
