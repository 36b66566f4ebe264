"""The wired-up application: settings plus the components every entry point shares.

Built once per process by the web app factory, the CLI and the job worker. Components are created
lazily so a command only pays for what it uses (``sealpact outbox`` never opens the key provider).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from sealpact.clock import Clock, SystemClock
from sealpact.config import Settings
from sealpact.db import make_engine, make_session_factory
from sealpact.storage.keys import KeyProvider

if TYPE_CHECKING:
    from sealpact.accounts.apikeys import ApiKeys
    from sealpact.accounts.service import Accounts
    from sealpact.contracts.service import Contracts
    from sealpact.contracts.signer import Signing
    from sealpact.custody.service import Custody
    from sealpact.evidence.service import EvidenceLog
    from sealpact.evidence.witness import WitnessService
    from sealpact.identity.service import IdentityService
    from sealpact.jobs.queue import JobQueue
    from sealpact.notify.email import Mailer
    from sealpact.notify.sms import SmsService
    from sealpact.notify.webhooks import Webhooks
    from sealpact.pki.service import PkiService
    from sealpact.pki.tsa_service import TimeStamper, TsaService
    from sealpact.signing import SigningEngine
    from sealpact.storage.datakeys import DataKeyStore
    from sealpact.storage.fields import FieldCipher
    from sealpact.storage.service import BlobService


class Runtime:
    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def keys(self) -> KeyProvider:
        from sealpact.storage.keys.factory import build_key_provider

        return build_key_provider(self.settings)

    # Domain services are added below, one cached property each, by their packages.

    @cached_property
    def data_keys(self) -> DataKeyStore:
        from sealpact.storage.datakeys import DataKeyStore

        return DataKeyStore(self.sessions, self.keys, self.clock)

    @cached_property
    def fields(self) -> FieldCipher:
        """Field-level encryption (TOTP secrets, ID/bank/mobile numbers) and lookup hashes."""
        from sealpact.storage.fields import FieldCipher

        return FieldCipher(self.data_keys)

    @cached_property
    def blobs(self) -> BlobService:
        """Encrypted blob storage (local files or S3) with envelope-encrypted, streamed chunks."""
        from sealpact.storage.service import BlobService
        from sealpact.storage.store import build_blob_store

        return BlobService(
            self.sessions,
            build_blob_store(self.settings),
            self.keys,
            self.clock,
            chunk_size=self.settings.blob_chunk_size,
        )

    @cached_property
    def accounts(self) -> Accounts:
        """Users, organizations, sessions, API tokens, TOTP and login throttling."""
        from sealpact.accounts.service import build_accounts

        return build_accounts(self)

    @cached_property
    def api_keys(self) -> ApiKeys:
        """Organization API keys and signed-request verification (nonces, rate limits: Redis or DB)."""
        from sealpact.accounts.apikeys import build_api_keys

        return build_api_keys(self)

    @cached_property
    def jobs(self) -> JobQueue:
        """The job queue: Huey on SQLite, or on Redis when redis_url is set; inline when jobs_immediate."""
        from sealpact.jobs.queue import JobQueue

        return JobQueue(self)

    @cached_property
    def mailer(self) -> Mailer:
        from sealpact.notify.email import Mailer

        return Mailer(self)

    @cached_property
    def pki(self) -> PkiService:
        """The platform CA: hierarchy, certificate issuance, revocation, CRLs, OCSP."""
        from sealpact.pki.service import PkiService

        return PkiService(self)

    @cached_property
    def tsa(self) -> TsaService:
        """The built-in RFC 3161 time-stamp authority (its key and certificate come from the platform CA)."""
        from sealpact.pki.tsa_service import tsa_service_for

        return tsa_service_for(self)

    @cached_property
    def signing(self) -> SigningEngine:
        """The PAdES engine: signing at B-B..B-LTA with in-process TSA and revocation data, verification."""
        from sealpact.signing import SigningEngine

        return SigningEngine(self)

    @cached_property
    def time_stamper(self) -> TimeStamper:
        """What signatures are time-stamped with: built-in, external, or an explicitly configured chain."""
        from sealpact.pki.tsa_service import time_stamper_for

        return time_stamper_for(self)

    @cached_property
    def identity(self) -> IdentityService:
        """Real-name verification (providers from settings; the sandbox is refused in production)."""
        from sealpact.identity.wiring import build_identity

        return build_identity(self)

    @cached_property
    def evidence(self) -> EvidenceLog:
        """The evidence transparency log (staging, batched sequencer, tiles, signed checkpoints)."""
        from sealpact.evidence.wiring import build_evidence

        return build_evidence(self)

    @cached_property
    def evidence_witness(self) -> WitnessService:
        """This instance as a C2SP tlog-witness for the logs in ``evidence_witnessed_logs``."""
        from sealpact.evidence.wiring import build_witness

        return build_witness(self)

    @cached_property
    def sms(self) -> SmsService:
        """SMS: the outbox (sandbox) by default, or the configured gateway (sealpact.notify.sms)."""
        from sealpact.notify.sms import SmsService

        return SmsService(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        """Signed webhook deliveries with retries and a delivery log (sealpact.notify.webhooks)."""
        from sealpact.notify.webhooks import Webhooks

        return Webhooks(self)

    @cached_property
    def contracts(self) -> Contracts:
        """Contracts: the sender's use cases (sealpact.contracts.service)."""
        from sealpact.contracts.service import Contracts

        return Contracts(self)

    @cached_property
    def custody(self) -> Custody:
        """Signer keys under the signer's PIN + a server share (sealpact.custody)."""
        from sealpact.custody.service import Custody

        return Custody(self)

    @cached_property
    def signing_flow(self) -> Signing:
        """Contracts: the signer's use cases behind a signing link (sealpact.contracts.signer)."""
        from sealpact.contracts.signer import Signing
        from sealpact.custody.keysource import CustodyKeySource

        return Signing(self, CustodyKeySource(self.custody))

    def health_checks(self) -> dict[str, Callable[[], None]]:
        """Name -> check that raises when that dependency is unusable (served by /healthz)."""
        return {
            "database": self._check_database,
            "keys": self.keys.check,
            "storage": self.blobs.check,
            "jobs": self.jobs.check,
        }

    def _check_database(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def close(self) -> None:
        if "evidence" in self.__dict__:
            self.evidence.close()
        if "pki" in self.__dict__:
            self.pki.close()
        if "jobs" in self.__dict__:
            self.jobs.close()
        if "engine" in self.__dict__:
            self.engine.dispose()
