"""Builds the evidence log and witness of a :class:`~sealpact.runtime.Runtime` from its settings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sealpact.evidence.service import EvidenceLog, origin_for

if TYPE_CHECKING:
    from sealpact.evidence.witness import WitnessService
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.evidence")


def witness_name_for(public_url: str) -> str:
    """The witness key name: ``<host[:port]><path>/witness`` beside the log's ``.../log`` origin."""
    return origin_for(public_url).removesuffix("/log") + "/witness"


def build_evidence(runtime: Runtime) -> EvidenceLog:
    from sealpact.evidence.sequencer import Sequencer

    settings = runtime.settings
    evidence = EvidenceLog(
        runtime.sessions,
        runtime.data_keys,
        runtime.fields,
        runtime.clock,
        origin=origin_for(settings.public_url),
        batch_size=settings.evidence_batch_size,
    )
    if settings.evidence_witnesses:
        from sealpact.evidence.witness import CosignatureCollector, parse_witness_setting

        timeout = settings.evidence_witness_timeout_seconds
        witnesses = [parse_witness_setting(value, timeout) for value in settings.evidence_witnesses]
        evidence.add_hook(CosignatureCollector(evidence, witnesses))
    if settings.evidence_anchor_tsa:
        evidence.add_hook(lambda size: _anchor(runtime, evidence, size))
    if settings.evidence_sequencer == "thread":
        sequencer = Sequencer(evidence, linger=settings.evidence_batch_ms / 1000)
        evidence.sequencer = sequencer
        evidence.set_kick(sequencer.kick)
    return evidence


def _anchor(runtime: Runtime, evidence: EvidenceLog, size: int) -> None:
    from sealpact.evidence.anchors import anchor_checkpoint

    anchor_checkpoint(evidence, runtime.time_stamper, size)


def build_witness(runtime: Runtime) -> WitnessService:
    from sealpact.evidence.witness import WitnessService

    settings = runtime.settings
    return WitnessService(
        runtime.sessions,
        runtime.data_keys,
        runtime.clock,
        name=witness_name_for(settings.public_url),
        log_vkeys=settings.evidence_witnessed_logs,
    )
