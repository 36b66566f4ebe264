# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""Archival time-stamp renewal (ETSI EN 319 142-1 section 5.5, PAdES-B-LTA "augmentation").

A B-LTA document stays verifiable after its certificates expire as long as the newest document
time-stamp is itself valid. Before that time-stamp's TSA certificate expires, the validation data for it
goes into the DSS and a new document time-stamp covers everything (pyHanko's
``update_archival_timestamp_chain``), with the platform TSA and CRLs in-process.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from pyhanko.sign import signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.timestamps import TimestampRequestError
from pyhanko_certvalidator import ValidationContext

from sealpact.signing import precheck
from sealpact.signing.engine import SigningEngine, as_stream
from sealpact.signing.errors import SigningError, TimestampFailed

DEFAULT_RENEWAL_WINDOW = timedelta(days=180)


@dataclass(frozen=True)
class RefreshResult:
    renewed: bool
    reason: str
    last_timestamp_expires: datetime | None  # expiry of the TSA certificate behind the newest time-stamp
    output: IO[bytes] | None  # the renewed document, positioned at 0; None when nothing was done


def refresh_lta(
    engine: SigningEngine,
    pdf: bytes | IO[bytes],
    *,
    window: timedelta = DEFAULT_RENEWAL_WINDOW,
    force: bool = False,
    output: IO[bytes] | None = None,
) -> RefreshResult:
    """Add DSS data and a new document time-stamp if the newest one expires within ``window``."""
    stream = as_stream(pdf)
    reader = precheck.open_pdf(stream)
    if not reader.embedded_signatures:
        raise SigningError("the document has no signatures to preserve")
    timestamps = list(reader.embedded_timestamp_signatures)
    expires = None
    if timestamps:
        tsa_cert = timestamps[-1].signer_cert
        expires = tsa_cert["tbs_certificate"]["validity"]["not_after"].native
    now = engine.clock.now()
    if expires is not None and now > expires:
        raise SigningError("the newest document time-stamp has expired already; the chain cannot be renewed")
    if not force and expires is not None and expires - now > window:
        return RefreshResult(
            False, f"the newest time-stamp is valid until {expires.isoformat()}", expires, None
        )
    source = engine.revocation
    context = ValidationContext(
        trust_roots=source.trust_roots(),
        allow_fetching=False,
        crls=source.crls(),
        moment=now,
        revocation_mode="hard-fail",
    )
    out = output if output is not None else engine.output_for(stream)
    stamper = signers.PdfTimeStamper(engine.pyhanko_timestamper())
    stream.seek(0)
    try:
        asyncio.run(
            stamper.async_update_archival_timestamp_chain(reader, context, in_place=False, output=out)
        )
    except TimestampRequestError as exc:
        raise TimestampFailed(f"the time-stamp authority is unavailable: {exc}") from exc
    except PyHankoSigningError as exc:
        raise SigningError(f"archival time-stamp renewal failed: {exc}") from exc
    out.seek(0)
    reason = "no document time-stamp yet" if expires is None else f"renewed before {expires.isoformat()}"
    return RefreshResult(True, "forced" if force else reason, expires, out)
