"""All configuration in one place.

Settings come from ``SEALPACT_*`` environment variables and, optionally, a TOML file named by
``SEALPACT_CONFIG_FILE`` (environment variables win). Everything else receives a :class:`Settings`
instance; nothing reads the environment on its own.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class EmailMode(StrEnum):
    OUTBOX = "outbox"  # store messages in the database only (development default)
    SMTP = "smtp"


class KeyProviderKind(StrEnum):
    KEYRING = "keyring"  # encrypted keyring file in the data directory
    PKCS11 = "pkcs11"  # an HSM (SoftHSM2 in tests) through a PKCS#11 module


class PkiKeyStoreKind(StrEnum):
    KEYRING = "keyring"  # CA/TSA/OCSP keys generated in software, stored encrypted in the database
    PKCS11 = "pkcs11"  # generated and used on the PKCS#11 token (non-extractable)


class TsaMode(StrEnum):
    BUILTIN = "builtin"  # the platform's own RFC 3161 TSA, in-process
    EXTERNAL = "external"  # tsa_url (then tsa_fallback_url, if configured)
    EXTERNAL_WITH_BUILTIN_FALLBACK = "external-with-builtin-fallback"  # external first, then built-in


class TsaClockCheck(StrEnum):
    NONE = "none"  # trust the clock as it is
    MONOTONIC = "monotonic"  # refuse when the clock is behind the last issued genTime
    SYNCHRONIZED = "synchronized"  # also refuse while the kernel reports the clock unsynchronised


class Settings(BaseSettings):
    """Runtime configuration of one sealpact deployment."""

    model_config = SettingsConfigDict(env_prefix="SEALPACT_", extra="ignore", frozen=True)

    env: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./var")
    database_url: str = ""  # default: sqlite:///<data_dir>/sealpact.db
    storage_url: str = ""  # default: file://<data_dir>/blobs ; or s3://bucket?endpoint=http://...
    redis_url: str | None = None  # when set, jobs, throttling and nonces live in Redis
    public_url: str = "http://127.0.0.1:8000"

    # Key provider: the master secret protects the keyring file; never logged.
    key_provider: KeyProviderKind = KeyProviderKind.KEYRING
    master_secret: SecretStr | None = None
    master_secret_file: Path | None = None
    pkcs11_module: Path | None = None
    pkcs11_token_label: str = "sealpact"  # noqa: S105  (a label, not a secret)
    pkcs11_pin: SecretStr | None = None

    # S3 credentials (the endpoint and bucket come from storage_url).
    s3_access_key: str | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    # Encrypted blob storage.
    blob_chunk_size: int = Field(default=1 << 20, ge=4096, le=64 << 20)

    # HTTP.
    max_request_bytes: int = Field(default=1 << 20, ge=1024)  # non-upload request bodies
    max_upload_bytes: int = Field(default=100 << 20, ge=1024)
    trusted_proxies: list[str] = Field(default_factory=list)

    # Accounts and sessions.
    session_ttl_seconds: int = 12 * 3600
    login_max_failures: int = 5  # per account within the window, then a temporary lockout
    login_ip_max_failures: int = 50  # per client IP within the window
    login_window_seconds: int = 900
    login_lockout_seconds: int = 900

    # Real-name verification (sealpact.identity). "sandbox": the sandbox authority (embedded in the app
    # at /sandbox-authority unless identity_provider_url names a separate one); "contract": a gateway
    # speaking the sealpact provider contract; "tencent": Tencent Cloud FaceID for persons.
    identity_provider: str = "sandbox"
    identity_provider_url: str | None = None
    identity_provider_key_id: str = "sealpact"
    identity_provider_secret: SecretStr | None = None  # HMAC secret shared with the provider
    identity_allow_sandbox_in_production: bool = False
    identity_timeout_seconds: float = Field(default=10.0, gt=0)
    identity_retries: int = Field(default=2, ge=0, le=5)  # transient failures only
    identity_face_threshold: float = Field(default=80.0, ge=0, le=100)  # minimum similarity and liveness
    tencent_secret_id: str | None = None
    tencent_secret_key: SecretStr | None = None
    tencent_region: str = "ap-guangzhou"
    tencent_endpoint: str = "https://faceid.tencentcloudapi.com"
    tencent_face_rule_id: str | None = None

    # Email.
    email_mode: EmailMode = EmailMode.OUTBOX
    mail_from: str = "sealpact <no-reply@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_timeout_seconds: float = 30.0

    # PKI (CA hierarchy, certificates, CRL, OCSP). Certificates embed URLs made from public_url.
    pki_key_store: PkiKeyStoreKind = PkiKeyStoreKind.KEYRING
    pki_key_algorithm: str = Field(default="ec-p256", pattern="^(ec-p256|rsa-3072)$")
    pki_organization: str = "sealpact"
    pki_country: str = Field(default="CN", pattern="^[A-Z]{2}$")
    pki_ee_validity_days: int = Field(default=365, ge=1, le=3650)
    pki_crl_validity_hours: int = Field(default=168, ge=1)  # issuing CA CRL nextUpdate - thisUpdate
    pki_root_crl_validity_days: int = Field(default=90, ge=1)
    pki_ocsp_validity_seconds: int = Field(default=3600, ge=60)  # OCSP nextUpdate - thisUpdate

    # Time-stamp authority (RFC 3161). A fallback only ever happens when configured here, and is logged.
    tsa_mode: TsaMode = TsaMode.BUILTIN
    tsa_url: str | None = None  # external TSA for the external modes
    tsa_fallback_url: str | None = None  # optional second external TSA, tried after tsa_url
    tsa_timeout_seconds: float = Field(default=10.0, gt=0)
    tsa_clock_check: TsaClockCheck = TsaClockCheck.MONOTONIC  # production: "synchronized" (NTP/chrony)
    tsa_accuracy_ms: int = Field(default=1000, ge=0, le=60_000)  # TSTInfo accuracy
    tsa_accepted_policies: list[str] = Field(default_factory=list)  # TSAPolicyIds besides the default
    tsa_serial_block: int = Field(default=1000, ge=1, le=1_000_000)  # serials reserved per DB round trip
    tsa_max_request_bytes: int = Field(default=8192, ge=256, le=1 << 20)

    # Contracts (sealpact.contracts).
    contract_max_file_bytes: int = Field(default=100 << 20, ge=1024)  # per document, checked while streaming
    contract_max_total_bytes: int = Field(default=500 << 20, ge=1024)  # all documents of one contract
    contract_max_pages: int = Field(default=500, ge=1, le=10_000)  # per document
    contract_max_documents: int = Field(default=20, ge=1, le=200)
    contract_default_expiry_days: int = Field(default=30, ge=1)
    contract_max_expiry_days: int = Field(default=365, ge=1)
    contract_link_ttl_hours: int = Field(default=72, ge=1)  # a signing link (single use)
    contract_signer_session_minutes: int = Field(default=60, ge=5, le=1440)
    libreoffice_binary: str = "soffice"  # DOCX/ODT/DOC -> PDF (libreoffice-writer-nogui)
    libreoffice_timeout_seconds: float = Field(default=120.0, gt=0)

    # SMS (sealpact.notify.sms): "outbox" stores messages only; "tencent" sends through Tencent Cloud SMS.
    sms_mode: str = Field(default="outbox", pattern="^(outbox|tencent)$")
    sms_sign_name: str = "sealpact"
    sms_tencent_app_id: str | None = None  # SmsSdkAppId
    sms_tencent_template_ids: dict[str, str] = Field(default_factory=dict)  # purpose -> TemplateId
    sms_tencent_endpoint: str = "https://sms.tencentcloudapi.com"
    sms_timeout_seconds: float = Field(default=10.0, gt=0)

    # Webhooks (sealpact.notify.webhooks).
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_allow_private_targets: bool = False  # loopback/private receivers (development and tests)

    # Signer key custody (sealpact.custody): wrong signing PINs before the key locks; Argon2id cost
    # (RFC 9106 section 4, second recommended option: 64 MiB, 3 passes).
    custody_max_pin_failures: int = Field(default=5, ge=1, le=20)
    custody_argon2_memory_kib: int = Field(default=65536, ge=1024)
    custody_argon2_time_cost: int = Field(default=3, ge=1)
    custody_argon2_parallelism: int = Field(default=4, ge=1, le=16)
    custody_event_cert_minutes: int = Field(default=60, ge=5, le=1440)

    # Jobs.
    jobs_workers: int = 2
    jobs_max_retries: int = 8
    jobs_retry_base_seconds: float = 2.0
    jobs_immediate: bool = False  # run jobs inline (tests only)
    jobs_queue_name: str = Field(default="sealpact", pattern=r"^[A-Za-z0-9_]{1,64}$")  # queue (Redis keys)
    jobs_task_modules: list[str] = Field(default_factory=list)  # extra modules registering tasks (plugins)
    jobs_shutdown_timeout_seconds: float = 30.0  # graceful stop: wait this long for running jobs

    # Evidence transparency log (sealpact.evidence): batches of up to evidence_batch_size entries or
    # evidence_batch_ms, whichever comes first; "thread" runs the sequencer in each process (lock-protected).
    evidence_batch_size: int = Field(default=256, ge=1, le=4096)
    evidence_batch_ms: int = Field(default=250, ge=1, le=60_000)
    evidence_sequencer: str = Field(default="thread", pattern="^(thread|off)$")
    evidence_witnessed_logs: list[str] = Field(default_factory=list)  # vkeys of logs this instance witnesses
    evidence_witnesses: list[str] = Field(default_factory=list)  # "<cosignature vkey> <URL prefix>"
    evidence_witness_timeout_seconds: float = Field(default=10.0, gt=0)
    evidence_anchor_tsa: bool = False  # RFC 3161 time-stamp every checkpoint with runtime.time_stamper

    @field_validator("public_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @model_validator(mode="after")
    def _defaults_from_data_dir(self) -> Settings:
        data_dir = self.data_dir.expanduser().resolve()
        object.__setattr__(self, "data_dir", data_dir)
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{data_dir / 'sealpact.db'}")
        if not self.storage_url:
            object.__setattr__(self, "storage_url", f"file://{data_dir / 'blobs'}")
        return self

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def keyring_path(self) -> Path:
        return self.data_dir / "keyring.json"

    @property
    def effective_master_secret_file(self) -> Path | None:
        """The configured secrets file; in development, ``<data_dir>/master.secret`` made by ``init``.

        Production must name its secret explicitly (env or a mounted secrets file), so the master
        secret never sits by default beside the keyring it opens.
        """
        if self.master_secret_file is not None:
            return self.master_secret_file
        return None if self.is_production else self.data_dir / "master.secret"

    @property
    def huey_sqlite_path(self) -> Path:
        return self.data_dir / "jobs.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("SEALPACT_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment (and config file), with explicit overrides on top."""
    return Settings(**overrides)
