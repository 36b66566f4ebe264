"""Append-only audit events, written in the same transaction as the change they record.

Public API: :func:`record`, :class:`Actor`, :func:`canonical_bytes` and the masking helpers.
"""

from __future__ import annotations

from sealpact.audit.service import (
    Actor,
    AuditDetailsError,
    canonical_bytes,
    events_for,
    mask_email,
    mask_identifier,
    mask_mobile,
    record,
)

__all__ = [
    "Actor",
    "AuditDetailsError",
    "canonical_bytes",
    "events_for",
    "mask_email",
    "mask_identifier",
    "mask_mobile",
    "record",
]
