# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""Verification of signed PDFs: a typed report per signature and an overall verdict.

Per signature (ETSI EN 319 102-1 style, on pyHanko's validation): integrity (ByteRange digest and the
CMS signature), trust (a path to one of the given roots), revocation (from the revocation data embedded
in the document: the verifier works offline), signing time and its source, coverage, modification level
with the changes no signature allows (ISO 32000-2 section 12.8.2 DocMDP/FieldMDP, pyHanko's difference
analysis), the PAdES baseline level reached (ETSI EN 319 142-1 section 6) and whether it is LTV-enabled.

Time: a signature with a time-stamp is judged at the time-stamp's genTime (the proof of existence,
EN 319 102-1 section 5.6.2.1) unless ``at`` is given; without one, at ``at`` or the current time.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import IO, Any

from asn1crypto import cms, core, x509
from pyhanko.sign.diff_analysis import ModificationLevel, SuspiciousModification
from pyhanko.sign.validation import (
    DocumentSecurityStore,
    EmbeddedPdfSignature,
    SignatureCoverageLevel,
    async_validate_pdf_signature,
    async_validate_pdf_timestamp,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko_certvalidator import ValidationContext

from sealpact.clock import Clock, SystemClock
from sealpact.signing import precheck

_COVERAGE = {
    SignatureCoverageLevel.ENTIRE_FILE: "entire file",
    SignatureCoverageLevel.ENTIRE_REVISION: "entire revision",
    SignatureCoverageLevel.CONTIGUOUS_BLOCK_FROM_START: "partial (a block from the start)",
    SignatureCoverageLevel.UNCLEAR: "unclear",
}
_MODIFICATIONS = {
    ModificationLevel.NONE: "none",
    ModificationLevel.LTA_UPDATES: "long-term validation data only",
    ModificationLevel.FORM_FILLING: "form filling and signing",
    ModificationLevel.ANNOTATIONS: "annotations",
    ModificationLevel.OTHER: "other (not allowed)",
}


@dataclass(frozen=True)
class SignatureReport:
    """What verification found for one signature or document time-stamp."""

    field: str
    kind: str  # "signature" | "document-timestamp"
    signer_subject: str
    intact: bool  # the digest over the ByteRange and the CMS signature check out
    trusted: bool  # a valid path to a trusted root at the validation time
    chain_status: str
    revocation_status: str
    signing_time: datetime | None
    signing_time_source: str  # "timestamp" | "claimed" | "none"
    coverage: str
    modification_level: str
    unexplained_changes: tuple[str, ...]
    certification: str | None  # DocMDP permission if this is a certification signature
    level: str | None  # PAdES baseline level reached, None if not even B-B
    ltv: bool
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["signing_time"] = self.signing_time.isoformat() if self.signing_time else None
        data["unexplained_changes"] = list(self.unexplained_changes)
        data["problems"] = list(self.problems)
        data["ok"] = self.ok
        return data


@dataclass(frozen=True)
class Report:
    """The verdict: valid only if there is at least one signature and every entry has no problems."""

    valid: bool
    signatures: tuple[SignatureReport, ...]
    problems: tuple[str, ...] = field(default=())
    findings: tuple[str, ...] = field(default=())  # active content: shown, does not decide validity

    def failures(self) -> list[str]:
        """Every problem, prefixed with the field it concerns."""
        out = list(self.problems)
        for sig in self.signatures:
            out.extend(f"{sig.field}: {problem}" for problem in sig.problems)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "problems": list(self.problems),
            "findings": list(self.findings),
            "signatures": [s.to_json() for s in self.signatures],
        }


def verify_pdf(
    data: bytes | IO[bytes],
    *,
    trust: Sequence[x509.Certificate],
    at: datetime | None = None,
    clock: Clock | None = None,
) -> Report:
    """Verify every signature in ``data`` against the ``trust`` roots.

    Raises :class:`NotAPdf`, :class:`EncryptedPdf` or :class:`DamagedPdf` when the input cannot be read
    as a PDF; every verification outcome, good or bad, is in the returned :class:`Report`.
    """
    return asyncio.run(async_verify_pdf(data, trust=trust, at=at, clock=clock))


async def async_verify_pdf(
    data: bytes | IO[bytes],
    *,
    trust: Sequence[x509.Certificate],
    at: datetime | None = None,
    clock: Clock | None = None,
) -> Report:
    """:func:`verify_pdf` for callers already inside an event loop (the web app)."""
    stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    inspection = precheck.inspect(stream)
    now = at or (clock or SystemClock()).now()
    report = await _verify(inspection.reader, list(trust), at, now)
    return replace(report, findings=inspection.findings)


async def _verify(reader: Any, trust: list[x509.Certificate], at: datetime | None, now: datetime) -> Report:
    # Hostile input reaches parsers (PDF objects, filters, DER) that raise many exception types; any
    # of them means "this part cannot be verified", never a crash of the verifier.
    try:
        embedded = list(reader.embedded_signatures)
    except Exception as exc:
        return Report(False, (), (f"the signature fields cannot be read: {_describe(exc)}",))
    if not embedded:
        return Report(False, (), ("the document has no signatures",))
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        dss = None
    except Exception as exc:
        return Report(False, (), (f"the document security store cannot be read: {_describe(exc)}",))
    reports = []
    for sig in embedded:
        try:
            if sig.sig_object_type == "/DocTimeStamp":
                reports.append(await _timestamp_report(sig, trust, dss, at, now))
            else:
                reports.append(await _signature_report(sig, trust, dss, at, now))
        except Exception as exc:
            reports.append(_broken(sig, f"the signature cannot be processed: {_describe(exc)}"))
    # B-LTA (EN 319 142-1 section 6.5): a valid document time-stamp after the LT data.
    for index, report in enumerate(reports):
        if report.level == "B-LT" and any(
            later.kind == "document-timestamp" and later.ok for later in reports[index + 1 :]
        ):
            reports[index] = replace(report, level="B-LTA")
    problems: list[str] = []
    regular = [r for r in reports if r.kind == "signature"]
    if not regular:
        problems.append("the document has only document time-stamps, no signatures")
    valid = not problems and all(r.ok for r in reports)
    return Report(valid, tuple(reports), tuple(problems))


def _context(
    trust: list[x509.Certificate], dss: DocumentSecurityStore | None, moment: datetime, *, hard: bool
) -> ValidationContext:
    kwargs: dict[str, Any] = {
        "trust_roots": trust,
        "allow_fetching": False,
        "moment": moment,
        "revocation_mode": "hard-fail" if hard else "soft-fail",
        # Revocation data produced after the validation time (a CRL added by a later signer's B-LT
        # update, days after this signature's time-stamp) still says whether the certificate was
        # revoked at that time (EN 319 102-1 section 5.2.5: revocation data after the time of interest).
        "retroactive_revinfo": True,
    }
    if dss is not None:
        return dss.as_validation_context(kwargs)
    return ValidationContext(**kwargs)


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _chain_status(status: Any) -> str:
    if status.trusted:
        return "trusted"
    if not (status.intact and status.valid):
        return "not checked (the signature is not intact)"
    return f"untrusted ({status.trust_problem_indic})"


def _subject(cert: x509.Certificate | None) -> str:
    return cert.subject.human_friendly if cert is not None else "(unknown)"


def _timestamp_time(sig: EmbeddedPdfSignature) -> datetime | None:
    attrs = sig.signer_info["unsigned_attrs"]
    if isinstance(attrs, core.Void):
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            token: cms.ContentInfo = attr["values"][0]
            gen_time: datetime = token["content"]["encap_content_info"]["content"].parsed["gen_time"].native
            return gen_time
    return None


def _diff(status: Any) -> tuple[str, tuple[str, ...]]:
    level = status.modification_level
    changes: tuple[str, ...] = ()
    if isinstance(status.diff_result, SuspiciousModification):
        changes = (str(status.diff_result) or "a change no signature allows",)
    text = _MODIFICATIONS.get(level, str(level)) if level is not None else "not analysed"
    return text, changes


def _integrity_problems(status: Any, kind: str) -> list[str]:
    problems = []
    if not status.intact:
        problems.append(f"the {kind} does not match the signed bytes (document altered after signing)")
    elif not status.valid:
        problems.append(f"the {kind} value is cryptographically invalid")
    if status.coverage not in (SignatureCoverageLevel.ENTIRE_FILE, SignatureCoverageLevel.ENTIRE_REVISION):
        problems.append(f"the {kind} covers only part of its revision")
    return problems


def _modification_problems(status: Any, changes: tuple[str, ...]) -> list[str]:
    problems = [f"unexplained modification after signing: {c}" for c in changes]
    if status.modification_level == ModificationLevel.OTHER and not changes:
        problems.append("the document was modified in a way the signature does not allow")
    if getattr(status, "docmdp_ok", None) is False:
        problems.append("changes exceed the certification (DocMDP) permissions")
    return problems


async def _timestamp_report(
    sig: EmbeddedPdfSignature,
    trust: list[x509.Certificate],
    dss: DocumentSecurityStore | None,
    at: datetime | None,
    now: datetime,
) -> SignatureReport:
    status = await async_validate_pdf_timestamp(sig, validation_context=_context(trust, dss, now, hard=False))
    modification, changes = _diff(status)
    problems = _integrity_problems(status, "document time-stamp")
    if status.intact and status.valid and not status.trusted:
        problems.append("the time-stamp authority is not trusted")
    problems += _modification_problems(status, changes)
    return SignatureReport(
        field=str(sig.field_name),
        kind="document-timestamp",
        signer_subject=_subject(status.signing_cert),
        intact=bool(status.intact and status.valid),
        trusted=bool(status.trusted),
        chain_status=_chain_status(status),
        revocation_status="not applicable",
        signing_time=status.timestamp,
        signing_time_source="timestamp",
        coverage=_COVERAGE.get(status.coverage, "unclear") if status.coverage else "unclear",
        modification_level=modification,
        unexplained_changes=changes,
        certification=None,
        level=None,
        ltv=False,
        problems=tuple(problems),
    )


async def _signature_report(
    sig: EmbeddedPdfSignature,
    trust: list[x509.Certificate],
    dss: DocumentSecurityStore | None,
    at: datetime | None,
    now: datetime,
) -> SignatureReport:
    ts_time = _timestamp_time(sig)
    moment = at or ts_time or now
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    status = await async_validate_pdf_signature(
        sig,
        signer_validation_context=_context(trust, dss, moment, hard=False),
        ts_validation_context=_context(trust, dss, moment, hard=False),
    )
    problems = _integrity_problems(status, "signature")
    intact = bool(status.intact and status.valid)
    if intact and not status.trusted:
        problems.append(f"the signer's certificate is not trusted ({status.trust_problem_indic})")
    revocation = "unknown: no revocation data in the document"
    if status.revocation_details is not None:
        details = status.revocation_details
        revocation = f"revoked on {details.revocation_date.isoformat()} ({details.revocation_reason.native})"
        problems.append(f"the certificate was revoked: {revocation}")
    modification, changes = _diff(status)
    problems += _modification_problems(status, changes)

    ts = status.timestamp_validity
    ts_ok = ts is not None and ts.intact and ts.valid and ts.trusted
    if ts is not None and not ts_ok:
        problems.append("the signature time-stamp is invalid or untrusted")
    # LTV (EN 319 142-1 section 5.4): the document alone carries revocation data for the whole path of
    # the signer and of the signature time-stamp, valid at the time-stamp's time.
    ltv = False
    if intact and status.trusted and dss is not None and status.revocation_details is None:
        strict = await async_validate_pdf_signature(
            sig,
            signer_validation_context=_context(trust, dss, moment, hard=True),
            ts_validation_context=_context(trust, dss, moment, hard=True),
            skip_diff=True,
        )
        strict_ts = strict.timestamp_validity
        ltv = bool(strict.trusted and (strict_ts is None or strict_ts.trusted))
        if strict.trusted:
            revocation = "not revoked at the signing time (revocation data embedded in the document)"

    level = None
    if intact:
        level = "B-B"
        if ts_ok:
            level = "B-T"
            if ltv:
                level = "B-LT"
    certification = None
    perms = sig.reader.root.get("/Perms")
    docmdp = sig.docmdp_level
    if perms is not None and docmdp is not None:
        certifying = perms.get_object().raw_get("/DocMDP")
        signed = sig.sig_field.raw_get("/V")
        if getattr(certifying, "reference", None) == getattr(signed, "reference", None):
            certification = str(docmdp.name).lower()  # ISO 32000-2 section 12.8.2.2
    return SignatureReport(
        field=str(sig.field_name),
        kind="signature",
        signer_subject=_subject(status.signing_cert),
        intact=intact,
        trusted=bool(status.trusted),
        chain_status=_chain_status(status),
        revocation_status=revocation,
        signing_time=ts.timestamp if ts_ok and ts is not None else status.signer_reported_dt,
        signing_time_source="timestamp" if ts_ok else ("claimed" if status.signer_reported_dt else "none"),
        coverage=_COVERAGE.get(status.coverage, "unclear") if status.coverage else "unclear",
        modification_level=modification,
        unexplained_changes=changes,
        certification=certification,
        level=level,
        ltv=ltv,
        problems=tuple(problems),
    )


def _broken(sig: EmbeddedPdfSignature, problem: str) -> SignatureReport:
    return SignatureReport(
        field=str(sig.field_name),
        kind="document-timestamp" if sig.sig_object_type == "/DocTimeStamp" else "signature",
        signer_subject="(unknown)",
        intact=False,
        trusted=False,
        chain_status="not checked",
        revocation_status="not checked",
        signing_time=None,
        signing_time_source="none",
        coverage="unclear",
        modification_level="not analysed",
        unexplained_changes=(),
        certification=None,
        level=None,
        ltv=False,
        problems=(problem,),
    )
