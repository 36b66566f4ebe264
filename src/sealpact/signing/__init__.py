"""PAdES signing and verification.

Public API: :class:`SigningEngine` (``runtime`` in, signed streams out), :class:`Level`,
:class:`SignerCredentials`, :class:`Appearance` / :class:`Placement`, :class:`FieldSpec`, and
:func:`verify_pdf` returning a :class:`Report`.
"""

from sealpact.signing.appearance import Appearance, Placement
from sealpact.signing.engine import Level, SignerCredentials, SigningEngine, SignResult
from sealpact.signing.fields import FieldSpec
from sealpact.signing.verify import Report, SignatureReport, async_verify_pdf, verify_pdf

__all__ = [
    "Appearance",
    "FieldSpec",
    "Level",
    "Placement",
    "Report",
    "SignResult",
    "SignatureReport",
    "SignerCredentials",
    "SigningEngine",
    "async_verify_pdf",
    "verify_pdf",
]
