"""Storing and reading appearances: encrypted PNG blobs per user or organization, audited.

Authorisation is here, not in the web layer:

- personal appearances (handwritten, generated, a personal name seal) belong to the calling user;
  anyone else's id answers ``appearance_not_found`` (404), never 403, so ids do not leak.
- organization seals (drawn from a spec, or a scan) are created and deleted by the organization's
  owners and admins (``org.manage``); members see them (``org.view``) to pick one for a contract.
  A non-member gets 404 via :func:`~sealpact.accounts.orgs.require_org_permission`.

A generated signature always uses the caller's verified real name (identity service), and an
organization seal's rim text defaults to the verified enterprise name; a rim text that differs from a
verified name is refused. Where no verification exists yet, the text is stored with
``text_verified = false`` for the contract flow to decide on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact import audit
from sealpact.accounts.orgs import require_org_permission
from sealpact.accounts.permissions import Permission
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.db import new_id, transaction
from sealpact.errors import SealpactError
from sealpact.runtime import Runtime
from sealpact.seals.errors import AppearanceNotFound, InvalidSealSpec, NotVerified
from sealpact.seals.fonts import FontFace, FontRole, clean_text, find_face
from sealpact.seals.generated import render_generated
from sealpact.seals.models import Appearance
from sealpact.seals.render import RenderedImage
from sealpact.seals.scan import MAX_SCAN_BYTES, remove_background, sniff_image
from sealpact.seals.seal import SealSpec, render_seal
from sealpact.seals.strokes import evidence_json, parse_strokes, render_strokes
from sealpact.storage.service import BlobService

PNG = "image/png"
MAX_NAME = 100
KINDS = ("handwritten", "generated", "seal", "scan")
# (subject type, subject id) -> the verified name, or None when the subject is not verified.
VerifiedName = Callable[[str, str], str | None]


@dataclass(frozen=True)
class AppearanceInfo:
    id: str
    kind: str
    name: str
    owner_user_id: str | None
    organization_id: str | None
    width_px: int
    height_px: int
    dpi: int
    width_mm: float
    height_mm: float
    sha256: str
    has_evidence: bool
    text_verified: bool
    spec: dict[str, Any]
    created_at: datetime


def _info(row: Appearance) -> AppearanceInfo:
    return AppearanceInfo(
        id=row.id,
        kind=row.kind,
        name=row.name,
        owner_user_id=row.owner_user_id,
        organization_id=row.organization_id,
        width_px=row.width_px,
        height_px=row.height_px,
        dpi=row.dpi,
        width_mm=round(row.width_px * 25.4 / row.dpi, 2),
        height_mm=round(row.height_px * 25.4 / row.dpi, 2),
        sha256=row.sha256,
        has_evidence=row.evidence_blob_id is not None,
        text_verified=row.text_verified,
        spec=json.loads(row.spec_json),
        created_at=row.created_at,
    )


def _verified_from_identity(runtime: Runtime) -> VerifiedName:
    def lookup(subject_type: str, subject_id: str) -> str | None:
        try:
            return runtime.identity.verified_identity(subject_type, subject_id).name or None
        except SealpactError:  # not verified (LevelTooLow) or no identity service configured
            return None

    return lookup


class Appearances:
    """Use cases of ``sealpact.seals``; fonts and the verified-name lookup are injectable for tests."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        verified_name: VerifiedName | None = None,
        handwriting_font: Path | None = None,
        seal_font: Path | None = None,
    ) -> None:
        self._rt = runtime
        self._verified = verified_name or _verified_from_identity(runtime)
        self._fonts = {FontRole.HANDWRITING: handwriting_font, FontRole.SEAL: seal_font}

    def _face(self, role: FontRole) -> FontFace:
        return find_face(role, self._fonts[role])

    # -- creating ---------------------------------------------------------------------------------

    def create_handwritten(
        self, principal: Principal, ctx: RequestContext, strokes: Any, *, name: str = "", pen_mm: float = 0.7
    ) -> AppearanceInfo:
        """A drawn signature: the strokes are validated, rendered, and kept as evidence beside the PNG."""
        parsed = parse_strokes(strokes)
        image, _ = render_strokes(parsed, pen_mm=pen_mm)
        spec = {"pen_mm": pen_mm, "strokes": len(parsed.strokes), "points": parsed.point_count}
        return self._store(
            principal,
            ctx,
            kind="handwritten",
            name=name or "handwritten signature",
            image=image,
            spec=spec,
            evidence=(evidence_json(parsed), "application/json"),
        )

    def create_generated(
        self, principal: Principal, ctx: RequestContext, *, height_mm: float = 12.0, name: str = ""
    ) -> AppearanceInfo:
        """The caller's verified real name in the handwriting font (``not_verified`` without one)."""
        verified = self._verified("individual", principal.user_id)
        if not verified:
            raise NotVerified("A generated signature needs a verified real name; verify your identity first.")
        face = self._face(FontRole.HANDWRITING)
        image = render_generated(verified, face, height_mm=height_mm)
        spec = {"font": face.family, "height_mm": height_mm}
        return self._store(
            principal,
            ctx,
            kind="generated",
            name=name or "generated signature",
            image=image,
            spec=spec,
            text_verified=True,
        )

    def create_seal(
        self,
        principal: Principal,
        ctx: RequestContext,
        organization_id: str | None,
        spec: SealSpec,
        *,
        name: str = "",
    ) -> AppearanceInfo:
        """A seal drawn from ``spec``: an organization's (owners and admins only) or a personal one.

        Organization: empty ``spec.text`` takes the verified enterprise name; a rim text differing
        from it is refused (square seals, e.g. a legal representative's, are not checked).
        Personal (``organization_id`` None, a 名章): needs the caller's verified name; the text is that
        name, optionally followed by 印 or 之印.
        """
        if organization_id is None:
            verified = self._verified("individual", principal.user_id)
            if not verified:
                raise NotVerified("A personal seal needs a verified real name; verify your identity first.")
            text = clean_text(spec.text, what="seal text", max_chars=40, allow_empty=True) or verified
            if text not in (verified, verified + "印", verified + "之印"):
                raise InvalidSealSpec(
                    "A personal seal shows your verified name (optionally with 印 or 之印)."
                )
            spec = replace(spec, text=text)
        else:
            with transaction(self._rt.sessions) as session:
                require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            verified = self._verified("enterprise", organization_id)
            text = spec.text.strip()
            if spec.shape != "square":
                if not text:
                    if not verified:
                        raise NotVerified("The organization has no verified name; give the seal text.")
                    spec = replace(spec, text=verified)
                elif verified and clean_text(text, what="seal text", max_chars=40) != verified:
                    raise InvalidSealSpec("The seal text must be the organization's verified name.")
        face = self._face(FontRole.SEAL)
        image, _ = render_seal(spec, face)
        normalised = spec.normalised()
        text_verified = bool(verified) and (organization_id is None or normalised.text == verified)
        label = name or normalised.name or normalised.text
        return self._store(
            principal,
            ctx,
            kind="seal",
            name=label,
            image=image,
            spec={**normalised.to_json(), "font": face.family},
            organization_id=organization_id,
            text_verified=text_verified,
        )

    def create_scan(
        self, principal: Principal, ctx: RequestContext, organization_id: str, data: bytes, *, name: str
    ) -> AppearanceInfo:
        """A scanned seal with its background removed; the original upload is kept as evidence."""
        with transaction(self._rt.sessions) as session:
            require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
        original_type = sniff_image(data[:16])
        image = remove_background(data)
        return self._store(
            principal,
            ctx,
            kind="scan",
            name=name or "scanned seal",
            image=image,
            spec={"original_type": original_type, "original_size": len(data)},
            organization_id=organization_id,
            evidence=(data, original_type),
        )

    def _store(
        self,
        principal: Principal,
        ctx: RequestContext,
        *,
        kind: str,
        name: str,
        image: RenderedImage,
        spec: dict[str, Any],
        organization_id: str | None = None,
        evidence: tuple[bytes, str] | None = None,
        text_verified: bool = False,
    ) -> AppearanceInfo:
        label = clean_text(name, what="appearance name", max_chars=MAX_NAME)
        with transaction(self._rt.sessions) as session:
            if organization_id is not None:  # checked again in the writing transaction (role may change)
                require_org_permission(session, principal, organization_id, Permission.ORG_MANAGE)
            blob = self._rt.blobs.put_in(session, image.png, content_type=PNG, max_size=16 << 20)
            evidence_id = None
            if evidence is not None:
                evidence_id = self._rt.blobs.put_in(
                    session, evidence[0], content_type=evidence[1], max_size=MAX_SCAN_BYTES
                ).id
            row = Appearance(
                id=new_id(),
                owner_user_id=None if organization_id else principal.user_id,
                organization_id=organization_id,
                kind=kind,
                name=label,
                blob_id=blob.id,
                evidence_blob_id=evidence_id,
                sha256=hashlib.sha256(image.png).hexdigest(),
                width_px=image.width_px,
                height_px=image.height_px,
                dpi=image.dpi,
                spec_json=json.dumps(spec, sort_keys=True, ensure_ascii=False),
                text_verified=text_verified,
                created_by=principal.user_id,
                created_at=self._rt.clock.now(),
            )
            session.add(row)
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="appearance.created",
                actor=principal.actor,
                object_type="appearance",
                object_id=row.id,
                organization_id=organization_id,
                details={"kind": kind, "sha256": row.sha256},
            )
            session.flush()
            return _info(row)

    # -- reading ----------------------------------------------------------------------------------

    def list(self, principal: Principal, *, organization_id: str | None = None) -> list[AppearanceInfo]:
        """The caller's own appearances, or an organization's seals (members may see them)."""
        with transaction(self._rt.sessions) as session:
            query = select(Appearance).where(Appearance.deleted_at.is_(None))
            if organization_id is not None:
                require_org_permission(session, principal, organization_id, Permission.ORG_VIEW)
                query = query.where(Appearance.organization_id == organization_id)
            else:
                query = query.where(Appearance.owner_user_id == principal.user_id)
            rows = session.scalars(query.order_by(Appearance.created_at.desc(), Appearance.id).limit(200))
            return [_info(row) for row in rows]

    def get(self, principal: Principal, appearance_id: str) -> AppearanceInfo:
        with transaction(self._rt.sessions) as session:
            return _info(self._visible(session, principal, appearance_id, Permission.ORG_VIEW))

    def png(self, principal: Principal, appearance_id: str) -> tuple[AppearanceInfo, bytes]:
        """The metadata and the decrypted, integrity-checked PNG."""
        with transaction(self._rt.sessions) as session:
            row = self._visible(session, principal, appearance_id, Permission.ORG_VIEW)
            return _info(row), self._rt.blobs.read_bytes(row.blob_id, session=session, limit=16 << 20)

    def evidence(self, principal: Principal, appearance_id: str) -> tuple[str, bytes]:
        """(content type, bytes) of the capture evidence: stroke JSON or the original scan."""
        with transaction(self._rt.sessions) as session:
            row = self._visible(session, principal, appearance_id, Permission.ORG_MANAGE)
            if row.evidence_blob_id is None:
                raise AppearanceNotFound("This appearance has no capture evidence.")
            ref = self._rt.blobs.stat(row.evidence_blob_id, session=session)
            return ref.content_type, self._rt.blobs.read_bytes(row.evidence_blob_id, session=session)

    def delete(self, principal: Principal, ctx: RequestContext, appearance_id: str) -> None:
        """Withdraw an appearance from use; its blobs stay (signed documents and evidence refer to them)."""
        with transaction(self._rt.sessions) as session:
            row = self._visible(session, principal, appearance_id, Permission.ORG_MANAGE)
            row.deleted_at = self._rt.clock.now()
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="appearance.deleted",
                actor=principal.actor,
                object_type="appearance",
                object_id=row.id,
                organization_id=row.organization_id,
                details={"kind": row.kind},
            )

    def _visible(
        self, session: Session, principal: Principal, appearance_id: str, org_permission: Permission
    ) -> Appearance:
        row = session.get(Appearance, appearance_id) if len(appearance_id) <= 36 else None
        if row is None or row.deleted_at is not None:
            raise AppearanceNotFound("Appearance not found.")
        if row.organization_id is not None:
            try:
                require_org_permission(session, principal, row.organization_id, Permission.ORG_VIEW)
            except SealpactError as exc:
                if exc.http_status == 404:
                    raise AppearanceNotFound("Appearance not found.") from exc
                raise
            require_org_permission(session, principal, row.organization_id, org_permission)
        elif row.owner_user_id != principal.user_id or principal.organization_id is not None:
            raise AppearanceNotFound("Appearance not found.")
        return row


def png_for_signing(
    session: Session,
    blobs: BlobService,
    appearance_id: str,
    *,
    user_id: str | None,
    organization_id: str | None,
) -> bytes:
    """For the contract flow (no principal; inside its transaction): the PNG of an appearance.

    With ``organization_id`` (a party signing for an enterprise, ``party.seal_id``) the appearance must
    be a live seal of that organization; otherwise a live personal appearance of ``user_id``. Anything
    else - another owner's, a deleted one, an unknown id - raises ``appearance_not_found``.
    """
    row = session.get(Appearance, appearance_id) if len(appearance_id) <= 36 else None
    if organization_id is not None:
        owned = row is not None and row.organization_id == organization_id
    else:
        owned = row is not None and user_id is not None and row.owner_user_id == user_id
    if row is None or not owned or row.deleted_at is not None:
        raise AppearanceNotFound("Appearance not found.")
    return blobs.read_bytes(row.blob_id, session=session, limit=16 << 20)
