"""Evidence transparency log: the pure core (Merkle tree, signed notes, checkpoints, tiles, proofs).

Modules:

- :mod:`~sealpact.evidence.merkle` — RFC 6962/9162 hashing, proofs, incremental frontier, ``HashReader``.
- :mod:`~sealpact.evidence.note` — C2SP signed-note, Ed25519 signer/verifier, vkey strings.
- :mod:`~sealpact.evidence.checkpoint` — C2SP tlog-checkpoint and tlog-cosignature (Ed25519, v1).
- :mod:`~sealpact.evidence.tiles` — C2SP tlog-tiles paths, tile contents, entry bundles, tile hash reader.
- :mod:`~sealpact.evidence.proofs` — C2SP tlog-proof documents.

Nothing here does I/O; the service (storage, batching, HTTP) is built on top.
"""
