# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""The PAdES signing engine (ETSI EN 319 142-1 baseline levels B-B, B-T, B-LT, B-LTA) over pyHanko.

Per signature the engine does only what that signature needs: one strict parse of the input (shared by
the pre-check and the incremental writer), one hash pass over the ByteRange, one call to
:meth:`SigningKey.sign`, and, by level, one in-process time-stamp, the cached OCSP/CRL data and a
document time-stamp. The placeholder size is computed from known sizes (certificates, maximal signature
value, the TSA's token size learnt once per engine), never by a dry-run signature. Signers are cached per
key and certificate, so keys and certificates are not re-parsed for every document.

Multi-party documents: the first signature certifies with DocMDP P=2 ("form filling and signing",
ISO 32000-2 section 12.8.2.2); later ones are approval signatures in incremental updates. Pre-created
fields carry FieldMDP locks (:mod:`sealpact.signing.fields`).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import IO, TYPE_CHECKING, Any

from asn1crypto import x509
from pyhanko.pdf_utils import misc
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import BoxConstraints
from pyhanko.sign import fields as pyhanko_fields
from pyhanko.sign import signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko.sign.validation import read_certification_data
from pyhanko.stamp import StaticStampStyle
from pyhanko_certvalidator import ValidationContext

from sealpact.clock import Clock
from sealpact.pki.signing_key import SigningKey
from sealpact.pki.tsa_service import TimeStamper, pyhanko_time_stamper
from sealpact.signing import appearance as appearances
from sealpact.signing import precheck
from sealpact.signing.appearance import Appearance
from sealpact.signing.cms import KeySigner
from sealpact.signing.errors import (
    ActiveContent,
    CertificateUnusable,
    FieldError,
    SigningError,
    TimestampFailed,
)
from sealpact.signing.fields import DATE_SUFFIX, FieldSpec, add_fields, fill_date_field
from sealpact.signing.revocation import PlatformRevocation, RevocationSource

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.signing")


class _InProcessRevinfoNotice(logging.Filter):
    # pyHanko warns on every B-LT signature that fetching is off; here that is the design (the OCSP
    # responses and CRLs are handed to it from the platform CA), so the warning is only noise.
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Validation/revocation info will be embedded, but fetching")


logging.getLogger("pyhanko.sign.signers.pdf_signer").addFilter(_InProcessRevinfoNotice())

CHUNK_SIZE = 1 << 20  # hash and copy in 1 MiB blocks (pyHanko's default is 4 KiB)
SPOOL_THRESHOLD = 8 << 20  # outputs beyond this go to a temp file under the data directory
HEX_MARGIN = 1024  # slack in the /Contents placeholder for variable-length DER (e.g. TSA accuracy)


class Level(StrEnum):
    """PAdES baseline levels (ETSI EN 319 142-1 section 6)."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def rank(self) -> int:
        return list(Level).index(self)


@dataclass(frozen=True)
class SignerCredentials:
    """What signs: a key (software, custody-unlocked or HSM) and its certificate chain, leaf first."""

    key: SigningKey
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @classmethod
    def of(cls, key: SigningKey, chain: Sequence[Any]) -> SignerCredentials:
        """From certificates as DER bytes, asn1crypto or ``cryptography`` objects (leaf first)."""
        certs = []
        for cert in chain:
            if isinstance(cert, x509.Certificate):
                certs.append(cert)
            elif isinstance(cert, bytes):
                certs.append(x509.Certificate.load(cert))
            else:  # cryptography.x509.Certificate
                from cryptography.hazmat.primitives.serialization import Encoding

                certs.append(x509.Certificate.load(cert.public_bytes(Encoding.DER)))
        if not certs:
            raise SigningError("a certificate chain starts with the signer's certificate")
        return cls(key=key, chain=tuple(certs))


@dataclass(frozen=True)
class SignResult:
    output: IO[bytes]  # positioned at 0
    field: str
    level: Level
    certified: bool
    signing_time: datetime  # the claimed time (/M); the TSA's genTime is in the token
    verification_code: str
    findings: tuple[str, ...]
    timestamp_source: str | None


class _ClockedPdfSigner(signers.PdfSigner):
    """pyHanko's signer with the claimed signing time from our clock instead of the system's."""

    def __init__(self, *args: Any, signing_time: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signing_time = signing_time

    def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        session.system_time = self._signing_time
        return session


class SigningEngine:
    """Signs PDFs for the platform. One per process (thread-safe); cheap per call."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        time_stamper: TimeStamper | None = None,
        revocation: RevocationSource | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._runtime = runtime
        self._clock = clock or runtime.clock
        self._stamper_source = time_stamper
        self._revocation = revocation
        self._lock = threading.Lock()
        self._signers: dict[tuple[str, bytes], KeySigner] = {}
        self._pyhanko_stamper: Any = None
        self._token_size: int | None = None

    # -- cached collaborators ------------------------------------------------------------------------

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def revocation(self) -> RevocationSource:
        if self._revocation is None:
            self._revocation = PlatformRevocation(self._runtime, self._clock)
        return self._revocation

    def pyhanko_timestamper(self) -> Any:
        """The pyHanko adapter over the platform time-stamper (one per engine: its dummy token is cached)."""
        with self._lock:
            if self._pyhanko_stamper is None:
                stamper = self._stamper_source or self._runtime.time_stamper
                self._pyhanko_stamper = pyhanko_time_stamper(stamper)
            return self._pyhanko_stamper

    def _signer(self, credentials: SignerCredentials) -> KeySigner:
        leaf = credentials.certificate.dump()
        cache_key = (credentials.key.key_id, hashlib.sha256(leaf).digest())
        with self._lock:
            signer = self._signers.get(cache_key)
        if signer is None:
            try:
                signer = KeySigner(credentials.key, credentials.chain)
            except ValueError as exc:
                raise SigningError(str(exc)) from exc
            with self._lock:
                self._signers[cache_key] = signer
        return signer

    async def _token_bytes(self, stamper: Any) -> int:
        # The TSA's token size, learnt once from pyHanko's cached dummy stamp (which it also uses to
        # find the TSA certificates for B-LT); later tokens differ only in serial, time and nonce.
        if self._token_size is None:
            token = await stamper.async_dummy_response("sha256")
            self._token_size = len(token.dump())
        return self._token_size

    # -- public API ----------------------------------------------------------------------------------

    def prepare_fields(
        self, pdf: bytes | IO[bytes], specs: list[FieldSpec], *, output: IO[bytes] | None = None
    ) -> IO[bytes]:
        """Add the signers' fields (with FieldMDP locks) to an unsigned document, as one revision."""
        stream = as_stream(pdf)
        inspection = precheck.inspect(stream)
        if inspection.reader.embedded_signatures:
            raise FieldError("fields are prepared before the first signature")
        writer = IncrementalPdfFileWriter.from_reader(inspection.reader)
        add_fields(writer, specs)
        out = output if output is not None else self.output_for(stream)
        writer.write(out)
        out.seek(0)
        return out

    def sign(
        self,
        pdf: bytes | IO[bytes],
        credentials: SignerCredentials,
        *,
        level: Level = Level.B_LTA,
        field: str = "Signature1",
        appearance: Appearance | None = None,
        signer_name: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        certify: bool | None = None,
        accept_findings: bool = False,
        output: IO[bytes] | None = None,
    ) -> SignResult:
        """Sign ``pdf`` into a new stream (the input is never written to). See :meth:`async_sign`."""
        return asyncio.run(
            self.async_sign(
                pdf,
                credentials,
                level=level,
                field=field,
                appearance=appearance,
                signer_name=signer_name,
                reason=reason,
                location=location,
                certify=certify,
                accept_findings=accept_findings,
                output=output,
            )
        )

    async def async_sign(
        self,
        pdf: bytes | IO[bytes],
        credentials: SignerCredentials,
        *,
        level: Level = Level.B_LTA,
        field: str = "Signature1",
        appearance: Appearance | None = None,
        signer_name: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        certify: bool | None = None,
        accept_findings: bool = False,
        output: IO[bytes] | None = None,
    ) -> SignResult:
        """Sign at ``level``. ``certify`` defaults to True for the first signature of the document.

        Raises :class:`NotAPdf`, :class:`EncryptedPdf`, :class:`DamagedPdf`, :class:`ActiveContent`
        (unless ``accept_findings``), :class:`CertificateUnusable`, :class:`FieldError`,
        :class:`TimestampFailed`; on any error nothing is returned and the input is untouched.
        """
        source = as_stream(pdf)
        # A large file is copied once in the kernel (copy_file_range) into a private temp file that
        # pyHanko then appends to in place: one hash pass over the file instead of a user-space
        # copy followed by a hash pass. The caller's file is never written to.
        working = self._private_copy(source) if output is None else None
        try:
            return await self._sign_stream(
                working or source,
                working is not None,
                credentials,
                level=level,
                field=field,
                appearance=appearance,
                signer_name=signer_name,
                reason=reason,
                location=location,
                certify=certify,
                accept_findings=accept_findings,
                output=output,
            )
        except BaseException:
            if working is not None:
                working.close()
            raise

    async def _sign_stream(
        self,
        stream: IO[bytes],
        in_place: bool,
        credentials: SignerCredentials,
        *,
        level: Level = Level.B_LTA,
        field: str = "Signature1",
        appearance: Appearance | None = None,
        signer_name: str | None = None,
        reason: str | None = None,
        location: str | None = None,
        certify: bool | None = None,
        accept_findings: bool = False,
        output: IO[bytes] | None = None,
    ) -> SignResult:
        inspection = precheck.inspect(stream)
        if inspection.findings and not accept_findings:
            raise ActiveContent(
                "the document contains active content: " + "; ".join(inspection.findings),
                inspection.findings,
            )
        now = self._clock.now()
        self._check_certificate(credentials, now)
        signer = self._signer(credentials)
        reader = inspection.reader
        existing = reader.embedded_signatures
        if certify is None:
            certify = not existing
        if existing:
            docmdp = read_certification_data(reader)
            if docmdp is not None and docmdp.permission == pyhanko_fields.MDPPerm.NO_CHANGES:
                raise SigningError("the document is certified with no changes allowed")
        field_names = {
            name: value for name, value, _ in pyhanko_fields.enumerate_sig_fields(reader, filled_status=None)
        }
        if field in field_names and field_names[field] is not None:
            raise FieldError(f"the field {field} is already signed")
        if field not in field_names and read_certification_data(reader) is not None:
            # ISO 32000-2 table 257, P=2: form filling and signing of existing fields; a new field would
            # invalidate the certification signature.
            raise FieldError(
                f"the document is certified: sign one of its pre-created fields, not a new field {field}"
            )
        writer = IncrementalPdfFileWriter.from_reader(reader)
        fill_date_field(
            writer, field + DATE_SUFFIX, now.astimezone(appearances.CHINA_STANDARD_TIME).date().isoformat()
        )

        name = signer_name or _common_name(credentials.certificate)
        code = appearances.verification_code(credentials.certificate.dump(), now, field)
        stamp_style = None
        new_field_spec = None
        if appearance is not None:
            if appearance.placement.page >= inspection.page_count:
                raise FieldError(f"page {appearance.placement.page + 1} does not exist")
            image = appearances.render(appearance, signer_name=name, signing_time=now, code=code)
            width, height = appearance.placement.size
            stamp_style = StaticStampStyle(
                background=PdfImage(image, box=BoxConstraints(width, height)),
                border_width=0,
            )
            if field not in field_names:
                new_field_spec = pyhanko_fields.SigFieldSpec(
                    sig_field_name=field, on_page=appearance.placement.page, box=appearance.placement.box
                )
            if appearance.cross_page_seal_png is not None:
                from sealpact.signing.crosspage import add_cross_page_seal

                if existing:
                    # Stamp annotations are a change DocMDP P=2 forbids after the certification
                    # signature (ISO 32000-2 table 257), so only the first signer can add them.
                    raise FieldError("a cross-page seal can only be applied by the first signer")
                add_cross_page_seal(writer, appearance.cross_page_seal_png, field)

        timestamper = self.pyhanko_timestamper() if level.rank >= Level.B_T.rank else None
        validation_context = None
        if level.rank >= Level.B_LT.rank:
            validation_context = self._validation_context(credentials, now)
        meta = signers.PdfSignatureMetadata(
            field_name=field,
            md_algorithm="sha256",
            subfilter=pyhanko_fields.SigSeedSubFilter.PADES,
            certify=certify,
            docmdp_permissions=pyhanko_fields.MDPPerm.FILL_FORMS,
            reason=reason,
            location=location,
            name=name,
            embed_validation_info=validation_context is not None,
            validation_context=validation_context,
            use_pades_lta=level is Level.B_LTA,
            # The OCSP response and CRLs are in hand before signing, so the DSS goes into the
            # signature's own revision (no VRI: optional in EN 319 142-1 section 5.4.2.2). B-LT is then
            # one revision and B-LTA two; each revision costs a hash pass over the whole file.
            dss_settings=DSSContentSettings(
                placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE, include_vri=False
            ),
        )
        reserved = signer.static_size + signer.max_signature
        if timestamper is not None:
            try:
                reserved += await self._token_bytes(timestamper)
            except TimestampRequestError as exc:
                raise TimestampFailed(f"the time-stamp authority is unavailable: {exc}") from exc
        pdf_signer = _ClockedPdfSigner(
            meta,
            signer,
            timestamper=timestamper,
            stamp_style=stamp_style,
            new_field_spec=new_field_spec,
            signing_time=now,
        )
        out = stream if in_place else (output if output is not None else self.output_for(stream))
        try:
            await pdf_signer.async_sign_pdf(
                writer,
                bytes_reserved=2 * reserved + HEX_MARGIN,
                in_place=in_place,
                output=None if in_place else out,
                chunk_size=CHUNK_SIZE,
            )
        except TimestampRequestError as exc:
            raise TimestampFailed(f"the time-stamp authority is unavailable: {exc}") from exc
        except PyHankoSigningError as exc:
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, TimestampRequestError):
                raise TimestampFailed(f"the time-stamp authority is unavailable: {cause}") from exc
            raise SigningError(f"signing failed: {exc}") from exc
        except misc.PdfError as exc:
            raise SigningError(f"signing failed: {exc}") from exc
        out.seek(0)
        log.info("signed field %s at %s (certifying: %s, code %s)", field, level.value, certify, code)
        return SignResult(
            output=out,
            field=field,
            level=level,
            certified=certify,
            signing_time=now,
            verification_code=code,
            findings=inspection.findings,
            timestamp_source=(self._stamper_source or self._runtime.time_stamper).name
            if timestamper
            else None,
        )

    # -- helpers -------------------------------------------------------------------------------------

    def _check_certificate(self, credentials: SignerCredentials, now: datetime) -> None:
        cert = credentials.certificate
        validity = cert["tbs_certificate"]["validity"]
        if now < validity["not_before"].native:
            raise CertificateUnusable("the signing certificate is not valid yet")
        if now > validity["not_after"].native:
            raise CertificateUnusable("the signing certificate has expired")
        status = self.revocation.status(cert)
        if status in ("revoked", "on_hold"):
            raise CertificateUnusable(f"the signing certificate is {status.replace('_', ' ')}")
        if status == "unknown":
            raise CertificateUnusable("the signing certificate is unknown to the platform CA")

    def _validation_context(self, credentials: SignerCredentials, now: datetime) -> ValidationContext:
        source = self.revocation
        return ValidationContext(
            trust_roots=source.trust_roots(),
            other_certs=list(credentials.chain[1:]),
            moment=now,
            allow_fetching=False,
            ocsps=source.ocsp_responses(list(credentials.chain)),
            crls=source.crls(),
            # Every certificate must have revocation data in hand: what B-LT promises a verifier.
            revocation_mode="hard-fail",
        )

    def _private_copy(self, source: IO[bytes]) -> IO[bytes] | None:
        try:
            source_fd = source.fileno()
        except (OSError, AttributeError, io.UnsupportedOperation):
            return None
        size = os.fstat(source_fd).st_size
        if size < SPOOL_THRESHOLD:
            return None
        tmp_dir = self._runtime.settings.data_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        copy = tempfile.TemporaryFile(dir=tmp_dir)  # noqa: SIM115 - returned; the caller closes it
        try:
            copied = 0
            try:
                while copied < size:
                    step = os.copy_file_range(source_fd, copy.fileno(), size - copied, copied, copied)
                    if step == 0:
                        break
                    copied += step
            except OSError:
                copied = 0  # e.g. across file systems on old kernels: copy in user space
            if copied != size:
                source.seek(0)
                copy.seek(0)
                copy.truncate()
                shutil.copyfileobj(source, copy, CHUNK_SIZE)
            copy.seek(0)
        except BaseException:
            copy.close()
            raise
        return copy

    def output_for(self, source: IO[bytes]) -> IO[bytes]:
        """Where a result of ``source``'s size goes: memory, or a temp file under the data directory."""
        size = source.seek(0, io.SEEK_END)
        source.seek(0)
        if size < SPOOL_THRESHOLD:
            return io.BytesIO()
        tmp_dir = self._runtime.settings.data_dir / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=tmp_dir)  # handed to the caller, who closes it


def as_stream(pdf: bytes | IO[bytes]) -> IO[bytes]:
    if isinstance(pdf, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(pdf))
    if not pdf.seekable():
        raise SigningError("the PDF stream must be seekable")
    return pdf


def _common_name(cert: x509.Certificate) -> str:
    for rdn in cert.subject.chosen:
        for attr in rdn:
            if attr["type"].native == "common_name":
                return str(attr["value"].native)
    return str(cert.subject.human_friendly)
