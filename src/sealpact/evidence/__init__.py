"""Evidence transparency log: the pure core (Merkle tree, signed notes, checkpoints, tiles, proofs).

Modules:

- :mod:`~sealpact.evidence.merkle` — RFC 6962/9162 hashing, proofs, incremental frontier, ``HashReader``.
- :mod:`~sealpact.evidence.note` — C2SP signed-note, Ed25519 signer/verifier, vkey strings.
- :mod:`~sealpact.evidence.checkpoint` — C2SP tlog-checkpoint and tlog-cosignature (Ed25519, v1).
- :mod:`~sealpact.evidence.tiles` — C2SP tlog-tiles paths, tile contents, entry bundles, tile hash reader.
- :mod:`~sealpact.evidence.proofs` — C2SP tlog-proof documents.

Nothing here does I/O; the service (storage, batching, HTTP) is built on top. The names below are the
public API; verification functions raise :class:`~sealpact.evidence.errors.EvidenceError` subclasses.

The service, built on this core (imported from their modules, not re-exported here):

- :mod:`~sealpact.evidence.service` — ``runtime.evidence``: :meth:`EvidenceLog.record` (the evidence-record
  API for contracts/signing: stage in the caller's transaction), batched sequencing, stored tiles, signed
  checkpoints, proofs, :meth:`EvidenceLog.wait_for_inclusion`;
- :mod:`~sealpact.evidence.entries` — the canonical hash-only entry format;
- :mod:`~sealpact.evidence.sequencer` — the in-process batching thread; ``tasks`` — the periodic job;
- :mod:`~sealpact.evidence.witness` — C2SP tlog-witness, both directions; ``anchors`` — RFC 3161;
- :mod:`~sealpact.evidence.audit_coverage` — ``sealpact evidence audit``.
"""

from sealpact.evidence.checkpoint import (
    Checkpoint,
    Cosignature,
    CosignatureV1Signer,
    CosignatureV1Verifier,
    VerifiedCheckpoint,
    cosign,
    verify_checkpoint,
    verify_cosignatures,
)
from sealpact.evidence.errors import EvidenceError
from sealpact.evidence.merkle import (
    EMPTY_ROOT,
    Frontier,
    HashReader,
    MemoryHashStore,
    NodeAddress,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root_at,
    verify_consistency,
    verify_inclusion,
)
from sealpact.evidence.note import (
    Ed25519Signer,
    Ed25519Verifier,
    Note,
    NoteSigner,
    NoteVerifier,
    VerifiedNote,
    Verifiers,
    parse_note,
    sign_note,
    verify_note,
)
from sealpact.evidence.proofs import TlogProof, VerifiedTlogProof, parse_tlog_proof, verify_tlog_proof
from sealpact.evidence.tiles import (
    EntryBundleRef,
    Tile,
    TileHashReader,
    TileReader,
    decode_entry_bundle,
    encode_entry_bundle,
    new_tiles,
    parse_tile_path,
    tile_contents,
    tiles_for_size,
)

__all__ = [
    "EMPTY_ROOT",
    "Checkpoint",
    "Cosignature",
    "CosignatureV1Signer",
    "CosignatureV1Verifier",
    "Ed25519Signer",
    "Ed25519Verifier",
    "EntryBundleRef",
    "EvidenceError",
    "Frontier",
    "HashReader",
    "MemoryHashStore",
    "NodeAddress",
    "Note",
    "NoteSigner",
    "NoteVerifier",
    "Tile",
    "TileHashReader",
    "TileReader",
    "TlogProof",
    "VerifiedCheckpoint",
    "VerifiedNote",
    "VerifiedTlogProof",
    "Verifiers",
    "consistency_proof",
    "cosign",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "inclusion_proof",
    "leaf_hash",
    "new_tiles",
    "node_hash",
    "parse_note",
    "parse_tile_path",
    "parse_tlog_proof",
    "root_at",
    "sign_note",
    "tile_contents",
    "tiles_for_size",
    "verify_checkpoint",
    "verify_consistency",
    "verify_cosignatures",
    "verify_inclusion",
    "verify_note",
    "verify_tlog_proof",
]
