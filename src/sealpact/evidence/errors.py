"""Errors of the evidence transparency log core.

Every failure of the pure log core (:mod:`sealpact.evidence.merkle`, ``note``, ``checkpoint``, ``tiles``,
``proofs``) is an :class:`EvidenceError`. Verification never returns a bool: it returns nothing (or the
verified object) and raises one of the ``*Error`` classes below, whose message says which check failed.
Codes are stable; the web layer returns them.
"""

from __future__ import annotations

from sealpact.errors import SealpactError


class EvidenceError(SealpactError):
    """Root of the evidence-log errors."""

    code = "evidence_error"
    http_status = 400


# --- Merkle proofs (RFC 9162 §2.1.3, §2.1.4) -------------------------------------------------------------


class ProofError(EvidenceError):
    """A Merkle proof does not verify, or its parameters are out of range."""

    code = "evidence_proof_invalid"
    http_status = 422


class InclusionProofError(ProofError):
    code = "evidence_inclusion_proof_invalid"


class ConsistencyProofError(ProofError):
    code = "evidence_consistency_proof_invalid"


class TreeRangeError(EvidenceError):
    """A proof or root was requested for an index or size the tree does not have."""

    code = "evidence_tree_range"
    http_status = 422


class MissingNodeError(EvidenceError):
    """The hash reader could not supply a node hash the log should have (a storage bug, not user input)."""

    code = "evidence_node_missing"
    http_status = 500


# --- Signed notes, keys, checkpoints, cosignatures -------------------------------------------------------


class MalformedNoteError(EvidenceError):
    """The text is not a well-formed C2SP signed note."""

    code = "evidence_note_malformed"


class NoteSignatureError(EvidenceError):
    """A signature by a known key failed to verify (C2SP signed-note: reject the whole note)."""

    code = "evidence_note_signature_invalid"
    http_status = 422


class UnverifiedNoteError(EvidenceError):
    """No signature by a known key is present on the note (C2SP signed-note: MUST reject)."""

    code = "evidence_note_unverified"
    http_status = 422


class KeyFormatError(EvidenceError):
    """A verifier or signer key string, or a key name, is malformed or inconsistent."""

    code = "evidence_key_malformed"


class MalformedCheckpointError(EvidenceError):
    """The note text is not a well-formed C2SP tlog-checkpoint body."""

    code = "evidence_checkpoint_malformed"


class CheckpointMismatchError(EvidenceError):
    """A verified checkpoint is not the one expected (wrong origin, size or root)."""

    code = "evidence_checkpoint_mismatch"
    http_status = 422


class CosignatureError(EvidenceError):
    """A C2SP tlog-cosignature is malformed, missing or does not verify."""

    code = "evidence_cosignature_invalid"
    http_status = 422


# --- Tiles and proof files -------------------------------------------------------------------------------


class MalformedTileError(EvidenceError):
    """A tile path, tile body or entry bundle violates C2SP tlog-tiles."""

    code = "evidence_tile_malformed"


class MalformedProofError(EvidenceError):
    """A ``c2sp.org/tlog-proof@v1`` document is malformed."""

    code = "evidence_tlog_proof_malformed"
