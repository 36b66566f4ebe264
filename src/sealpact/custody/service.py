"""Custody use cases: create a signer key, unlock it for one signing, change or reset the PIN, event keys.

See :mod:`sealpact.custody` for the threat model. Attempt counting (the "retry counter" of a smart card,
ISO/IEC 7816-4 VERIFY): an attempt is *reserved* with one conditional UPDATE
(``failed_attempts = failed_attempts + 1 WHERE failed_attempts < max``) and committed before the PIN is
even tried, so any number of processes racing on one key get at most ``max`` tries between them, and a
crash mid-check still counts. A correct PIN then sets the counter back to 0 (only while the key is not
locked); a wrong one leaves the reservation standing and, at ``max``, marks the key locked.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from asn1crypto import x509
from cryptography.hazmat.primitives.serialization import load_der_private_key
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sealpact import audit
from sealpact.audit import Actor
from sealpact.context import RequestContext
from sealpact.custody import crypto
from sealpact.custody.errors import (
    NoSignerKey,
    PinInvalid,
    PinLocked,
    ReverificationRequired,
    SignerKeyExists,
)
from sealpact.custody.models import CustodyKey
from sealpact.custody.pin import check_pin, well_formed
from sealpact.db import new_id, transaction
from sealpact.errors import NotFound, PermissionDenied
from sealpact.pki.signing_key import KeyAlgorithm, SoftwareSigningKey
from sealpact.signing import SignerCredentials
from sealpact.storage.keys import WrappedKey

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from sealpact.pki.policy import SubjectIdentity
    from sealpact.runtime import Runtime

REVERIFICATION_MAX_AGE = timedelta(minutes=30)


@dataclass(frozen=True)
class Subject:
    """Whose certificate a key carries: the person, or the enterprise the signer acts for."""

    type: str  # individual | enterprise
    id: str

    @classmethod
    def individual(cls, user_id: str) -> Subject:
        return cls("individual", user_id)

    @classmethod
    def enterprise(cls, organization_id: str) -> Subject:
        return cls("enterprise", organization_id)


@dataclass(frozen=True)
class KeyInfo:
    """A custody key as shown to its owner (nothing secret)."""

    key_id: str
    subject: Subject
    certificate_serial: str
    status: str
    failed_attempts: int
    locked: bool
    created_at: datetime


def _slot(user_id: str, subject: Subject) -> str:
    return f"{user_id}|{subject.type}|{subject.id}"


def _share_context(key_id: str) -> bytes:
    return b"sealpact/custody/server-share\x00" + key_id.encode()


def _info(row: CustodyKey, max_failures: int) -> KeyInfo:
    return KeyInfo(
        row.id,
        Subject(row.subject_type, row.subject_id),
        row.certificate_serial,
        row.status,
        row.failed_attempts,
        row.locked_at is not None or row.failed_attempts >= max_failures,
        row.created_at,
    )


class Custody:
    """Signer keys under the signer's sole control (PIN) plus a server share (keyring)."""

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    @property
    def max_failures(self) -> int:
        return self._rt.settings.custody_max_pin_failures

    def _params(self) -> crypto.Argon2Params:
        s = self._rt.settings
        return crypto.Argon2Params(
            s.custody_argon2_time_cost, s.custody_argon2_memory_kib, s.custody_argon2_parallelism
        )

    def _audit(
        self,
        session: Session,
        ctx: RequestContext | None,
        user_id: str,
        action: str,
        key_id: str,
        **details: object,
    ) -> None:
        audit.record(
            session,
            ctx or RequestContext.cli(),
            self._rt.clock,
            action=action,
            actor=Actor.user(user_id),
            object_type="custody_key",
            object_id=key_id,
            details=dict(details),
        )

    # -- queries -----------------------------------------------------------------------------------

    def _active(self, session: Session, user_id: str, subject: Subject) -> CustodyKey:
        row = session.scalar(select(CustodyKey).where(CustodyKey.slot == _slot(user_id, subject)))
        if row is None:
            raise NoSignerKey("No signing key is set up for this identity yet; set a signing PIN first.")
        return row

    def key_info(self, *, user_id: str, subject: Subject | None = None) -> KeyInfo:
        subject = subject or Subject.individual(user_id)
        self._authorize(user_id, subject)
        with transaction(self._rt.sessions) as session:
            return _info(self._active(session, user_id, subject), self.max_failures)

    def _authorize(self, user_id: str, subject: Subject) -> None:
        """Only the person holds their personal key; an enterprise key only an owner/admin of it.

        An enterprise's key is its electronic seal: holding one is an organization-management matter
        (``org.manage``), not something every member may set up. Another organization answers 404.
        """
        from sealpact.accounts.models import Membership
        from sealpact.accounts.permissions import Permission, permissions_of

        if subject.type == "individual":
            if subject.id != user_id:
                raise PermissionDenied("A personal signing key belongs to its own account only.")
            return
        if subject.type != "enterprise":
            raise NotFound("Unknown signing identity.")
        with transaction(self._rt.sessions) as session:
            role = session.scalar(
                select(Membership.role).where(
                    Membership.organization_id == subject.id, Membership.user_id == user_id
                )
            )
        if role is None:
            raise NotFound("Organization not found.")
        if Permission.ORG_MANAGE not in permissions_of(role):
            raise PermissionDenied("Only an owner or admin of the organization may hold its signing key.")

    # -- creation ----------------------------------------------------------------------------------

    def _wrap_new(self, key_id: str, key: SoftwareSigningKey, pin: str) -> tuple[bytes, str, str, bytes]:
        """(salt, kdf, wrapped share, blob) for ``key`` under ``pin`` and a fresh server share."""
        params, salt, share = self._params(), crypto.new_salt(), crypto.new_share()
        kek = crypto.derive_kek(pin, salt, share, key_id, params)
        blob = crypto.seal(kek, key_id, key.private_key_pkcs8())
        wrapped = self._rt.keys.wrap(share, context=_share_context(key_id)).encode()
        return salt, params.encode(), wrapped, blob

    def _identity(self, subject: Subject) -> SubjectIdentity:
        return self._rt.identity.certificate_identity(subject.type, subject.id)

    def _new_row(self, user_id: str, subject: Subject, pin: str, identity: SubjectIdentity) -> CustodyKey:
        key_id = new_id()
        key = SoftwareSigningKey.generate(key_id, KeyAlgorithm.EC_P256)
        issued = self._rt.pki.issue(identity, public_key_der=key.public_key_der())
        salt, kdf, wrapped, blob = self._wrap_new(key_id, key, pin)
        return CustodyKey(
            id=key_id,
            user_id=user_id,
            subject_type=subject.type,
            subject_id=subject.id,
            slot=_slot(user_id, subject),
            status="active",
            algorithm=key.algorithm.value,
            public_key=key.public_key_der(),
            certificate_serial=issued.serial,
            certificate=issued.der,
            chain=",".join(base64.b64encode(c.dump()).decode() for c in issued.chain),
            kdf=kdf,
            salt=salt,
            server_share_enc=wrapped,
            private_key_enc=blob,
            failed_attempts=0,
            created_at=self._rt.clock.now(),
        )

    def create_key(
        self,
        *,
        user_id: str,
        pin: str,
        subject: Subject | None = None,
        ctx: RequestContext | None = None,
    ) -> KeyInfo:
        """Generate the signer's P-256 key, certify it for the verified identity, wrap it under ``pin``.

        The caller (web/CLI) has authorised ``user_id`` to act for ``subject`` (for an enterprise: the
        organization's agent). The identity must be verified (``LevelTooLow`` otherwise).
        """
        subject = subject or Subject.individual(user_id)
        self._authorize(user_id, subject)
        check_pin(pin)
        with transaction(self._rt.sessions) as session:
            if session.scalar(select(CustodyKey.id).where(CustodyKey.slot == _slot(user_id, subject))):
                raise SignerKeyExists(
                    "A signing key already exists for this identity; change its PIN instead."
                )
        row = self._new_row(user_id, subject, pin, self._identity(subject))
        try:
            with transaction(self._rt.sessions) as session:
                session.add(row)
                session.flush()
                self._audit(
                    session,
                    ctx,
                    user_id,
                    "custody.key.created",
                    row.id,
                    subject_type=subject.type,
                    certificate_serial=row.certificate_serial,
                )
        except IntegrityError:
            # Lost a race with a parallel creation: withdraw the certificate nobody will ever use.
            self._rt.pki.revoke(row.certificate_serial, "superseded")
            raise SignerKeyExists("A signing key already exists for this identity.") from None
        return _info(row, self.max_failures)

    # -- PIN check ---------------------------------------------------------------------------------

    def _reserve_attempt(self, user_id: str, subject: Subject) -> CustodyKey:
        """Count this attempt before checking the PIN (see the module docstring); PinLocked if none left."""
        with transaction(self._rt.sessions) as session:
            row = self._active(session, user_id, subject)
            result = session.execute(
                update(CustodyKey)
                .where(
                    CustodyKey.id == row.id,
                    CustodyKey.status == "active",
                    CustodyKey.locked_at.is_(None),
                    CustodyKey.failed_attempts < self.max_failures,
                )
                .values(failed_attempts=CustodyKey.failed_attempts + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:  # type: ignore[attr-defined]
                raise PinLocked("Too many wrong PINs: this signing key is locked. Reset the PIN.")
            session.expunge(row)
            return row

    def _verified_pkcs8(
        self, user_id: str, subject: Subject, pin: str, ctx: RequestContext | None
    ) -> tuple[CustodyKey, bytes]:
        """The decrypted PKCS#8 of the signer's active key if ``pin`` is right; every try is counted.

        Authorisation is checked again on every use: an agent who left the organization (or lost its
        admin role) can no longer use the enterprise key they set up.
        """
        self._authorize(user_id, subject)
        row = self._reserve_attempt(user_id, subject)
        pkcs8: bytes | None = None
        if well_formed(pin):
            share = self._rt.keys.unwrap(
                WrappedKey.decode(row.server_share_enc), context=_share_context(row.id)
            )
            kek = crypto.derive_kek(pin, row.salt, share, row.id, crypto.Argon2Params.decode(row.kdf))
            try:
                pkcs8 = crypto.open_blob(kek, row.id, row.private_key_enc)
            except crypto.WrongSecret:
                pkcs8 = None
        now = self._rt.clock.now()
        with transaction(self._rt.sessions) as session:
            if pkcs8 is not None:
                reset = session.execute(
                    update(CustodyKey)
                    .where(
                        CustodyKey.id == row.id, CustodyKey.status == "active", CustodyKey.locked_at.is_(None)
                    )
                    .values(failed_attempts=0)
                    .execution_options(synchronize_session=False)
                )
                if reset.rowcount == 1:  # type: ignore[attr-defined]
                    return row, pkcs8
                # Locked (or retired) by a concurrent attempt meanwhile: stay locked.
            failed = session.scalar(select(CustodyKey.failed_attempts).where(CustodyKey.id == row.id)) or 0
            self._audit(session, ctx, user_id, "custody.unlock.failed", row.id, attempt=failed)
            if failed >= self.max_failures:
                locked = session.execute(
                    update(CustodyKey)
                    .where(CustodyKey.id == row.id, CustodyKey.locked_at.is_(None))
                    .values(locked_at=now)
                    .execution_options(synchronize_session=False)
                )
                if locked.rowcount == 1:  # type: ignore[attr-defined]
                    self._audit(session, ctx, user_id, "custody.key.locked", row.id, attempts=failed)
                lock_error: PinLocked | None = PinLocked(
                    "Too many wrong PINs: this signing key is locked. Reset the PIN."
                )
            else:
                lock_error = None
        if lock_error is not None:
            raise lock_error
        raise PinInvalid("Wrong PIN.", attempts_left=max(self.max_failures - failed, 0))

    # -- unlock --------------------------------------------------------------------------------------

    def unlock(
        self,
        *,
        user_id: str,
        pin: str,
        subject: Subject | None = None,
        ctx: RequestContext | None = None,
    ) -> SignerCredentials:
        """The signer's key and chain for one signing. Never cached: every signing needs the PIN again."""
        subject = subject or Subject.individual(user_id)
        row, pkcs8 = self._verified_pkcs8(user_id, subject, pin, ctx)
        with transaction(self._rt.sessions) as session:
            self._audit(
                session, ctx, user_id, "custody.unlock.ok", row.id, certificate_serial=row.certificate_serial
            )
        private = load_der_private_key(pkcs8, password=None)
        del pkcs8
        key = SoftwareSigningKey(row.id, _signing_private(private))
        chain = [row.certificate, *(base64.b64decode(c) for c in row.chain.split(",") if c)]
        return SignerCredentials.of(key, chain)

    # -- PIN change and reset ----------------------------------------------------------------------

    def change_pin(
        self,
        *,
        user_id: str,
        old_pin: str,
        new_pin: str,
        subject: Subject | None = None,
        ctx: RequestContext | None = None,
    ) -> KeyInfo:
        """Re-wrap the same key under ``new_pin`` (new salt, new server share); the old PIN is required."""
        subject = subject or Subject.individual(user_id)
        check_pin(new_pin)
        row, pkcs8 = self._verified_pkcs8(user_id, subject, old_pin, ctx)
        key = SoftwareSigningKey(row.id, _signing_private(load_der_private_key(pkcs8, password=None)))
        del pkcs8
        salt, kdf, wrapped, blob = self._wrap_new(row.id, key, new_pin)
        with transaction(self._rt.sessions) as session:
            done = session.execute(
                update(CustodyKey)
                .where(CustodyKey.id == row.id, CustodyKey.status == "active", CustodyKey.locked_at.is_(None))
                .values(
                    salt=salt,
                    kdf=kdf,
                    server_share_enc=wrapped,
                    private_key_enc=blob,
                    failed_attempts=0,
                    pin_changed_at=self._rt.clock.now(),
                )
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise PinLocked("This signing key is locked. Reset the PIN.")
            self._audit(session, ctx, user_id, "custody.pin.changed", row.id)
            fresh = session.get(CustodyKey, row.id, populate_existing=True)
            assert fresh is not None
            return _info(fresh, self.max_failures)

    def reset_pin(
        self,
        *,
        user_id: str,
        new_pin: str,
        reverification_started_at: datetime,
        min_level: int = 1,
        subject: Subject | None = None,
        ctx: RequestContext | None = None,
    ) -> KeyInfo:
        """A forgotten or locked PIN: after a fresh identity re-verification, a *new* key under ``new_pin``.

        The old key cannot be recovered without its PIN (that is the point), so the signer gets a new key
        and certificate and the old certificate is revoked (reason superseded, RFC 5280 section 5.3.1).
        ``reverification_started_at`` is when the caller started the re-verification it vouches for; the
        identity record must show a verification completed after it, within the last 30 minutes.
        """
        subject = subject or Subject.individual(user_id)
        self._authorize(user_id, subject)
        check_pin(new_pin)
        now = self._rt.clock.now()
        view = self._rt.identity.require_level(subject.type, subject.id, min_level)
        if (
            view.verified_at is None
            or view.verified_at < reverification_started_at
            or now - view.verified_at > REVERIFICATION_MAX_AGE
        ):
            raise ReverificationRequired("Verify your identity again before resetting the PIN.")
        with transaction(self._rt.sessions) as session:
            old_id = self._active(session, user_id, subject).id
        fresh = self._new_row(user_id, subject, new_pin, self._identity(subject))
        with transaction(self._rt.sessions) as session:
            old = session.scalar(select(CustodyKey).where(CustodyKey.id == old_id).with_for_update())
            if old is None or old.status != "active":
                raise SignerKeyExists("The PIN was reset concurrently; try again.")
            old.status, old.slot, old.retired_at = "retired", None, now
            session.flush()
            session.add(fresh)
            self._audit(
                session,
                ctx,
                user_id,
                "custody.pin.reset",
                fresh.id,
                replaces=old.id,
                certificate_serial=fresh.certificate_serial,
                revoked_serial=old.certificate_serial,
            )
            old_serial = old.certificate_serial
        self._rt.pki.revoke(old_serial, "superseded", ctx=ctx, actor=Actor.user(user_id))
        return _info(fresh, self.max_failures)

    # -- event certificates --------------------------------------------------------------------------

    def event_credentials(
        self, *, user_id: str, subject: Subject | None = None, ctx: RequestContext | None = None
    ) -> SignerCredentials:
        """Event-certificate mode: a fresh key and a one-hour certificate for one signing event.

        The private key exists only in this process's memory and is gone with the returned object; only
        the certificate is recorded (the CA records everything it issues, for CRL/OCSP).
        """
        from sealpact.custody.event import issue_short_lived

        subject = subject or Subject.individual(user_id)
        self._authorize(user_id, subject)
        identity = self._identity(subject)
        key = SoftwareSigningKey.generate(f"event-{new_id()}", KeyAlgorithm.EC_P256)
        minutes = self._rt.settings.custody_event_cert_minutes
        cert, chain = issue_short_lived(self._rt, identity, key.public_key_der(), timedelta(minutes=minutes))
        with transaction(self._rt.sessions) as session:
            self._audit(
                session,
                ctx,
                user_id,
                "custody.event_certificate.issued",
                format(cert.serial_number, "x"),
                subject_type=subject.type,
                minutes=minutes,
            )
        return SignerCredentials.of(key, [cert.dump(), *(c.dump() for c in chain)])


def _signing_private(private: object) -> ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if not isinstance(private, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TypeError("unsupported custody key type")
    return private


def load_chain(row: CustodyKey) -> list[x509.Certificate]:
    return [x509.Certificate.load(base64.b64decode(c)) for c in row.chain.split(",") if c]
