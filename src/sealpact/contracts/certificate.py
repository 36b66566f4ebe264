# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""The certificate of completion: a PDF summarising who signed what, when, from where, and how verified.

Content (issue section 6): contract id and title; each document's SHA-256 as sent and as finally signed;
each party's masked identity, verification method and level, certificate serial; and every event (sent,
link opened, authenticated, viewed, intent confirmed, signed/approved/declined) with time, IP address and
user agent. Pages are rendered with Pillow (Noto CJK, so Chinese names print) into an image PDF, then the
platform time-stamps the whole file with a PDF document time-stamp (ISO 32000-2 section 12.8.5) from its
own TSA: the platform's signature over the certificate, verifiable with the platform root.
"""

from __future__ import annotations

import asyncio
import io
import textwrap
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import signers
from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact.contracts import core
from sealpact.contracts.errors import InvalidTransition
from sealpact.contracts.models import Contract, ContractEventRow
from sealpact.contracts.state import ContractStatus
from sealpact.db import transaction
from sealpact.identity.masking import mask_name

if TYPE_CHECKING:
    from sealpact.runtime import Runtime
    from sealpact.signing import SigningEngine

FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
CST = timezone(timedelta(hours=8), "CST")
PAGE = (1240, 1754)  # A4 at 150 dpi
MARGIN = 90
LINE = 30
_EVENT_NAMES = {
    "created": "created 创建",
    "document_uploaded": "document uploaded 上传文件",
    "sent": "sent 发送",
    "party_activated": "notified 通知",
    "link_opened": "link opened 打开链接",
    "party_authenticated": "authenticated 身份认证",
    "party_viewed": "viewed 查看",
    "party_intent_confirmed": "intent confirmed 意愿确认",
    "party_signed": "signed 签署",
    "party_approved": "approved 审批",
    "party_declined": "declined 拒签",
    "party_reminded": "reminded 提醒",
    "party_contact_corrected": "contact corrected 更正联系方式",
    "completed": "completed 完成",
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()


def _time(value: datetime) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S CST")


def certificate_lines(session: Session, contract: Contract) -> list[tuple[str, int]]:
    """(text, font size) lines of the certificate, in order."""
    lines: list[tuple[str, int]] = [("Certificate of Completion 签署完成证书", 40), ("", 20)]
    lines += [
        (f"Contract 合同: {contract.id}", 22),
        (f"Title 标题: {contract.title}", 22),
        (f"Status 状态: {contract.status}", 22),
        (f"Sent 发送: {_time(contract.sent_at) if contract.sent_at else '-'}", 22),
        (f"Completed 完成: {_time(contract.finished_at) if contract.finished_at else '-'}", 22),
        ("", 16),
        ("Documents 文件", 28),
    ]
    for doc in core.documents_of(session, contract.id):
        lines += [
            (f"{doc.position + 1}. {doc.filename} ({doc.page_count} pages)", 20),
            (f"   SHA-256 as sent 签署前: {doc.original_sha256}", 18),
            (f"   SHA-256 signed 签署后: {doc.sha256}", 18),
        ]
    events = list(
        session.scalars(
            select(ContractEventRow)
            .where(ContractEventRow.contract_id == contract.id)
            .order_by(ContractEventRow.occurred_at, ContractEventRow.id)
        )
    )
    lines += [("", 16), ("Parties 签署方", 28)]
    for party in core.parties_of(session, contract.id):
        contact = ", ".join(core.masked_contact(party).values())
        who = mask_name(party.name)
        if party.organization_name:
            who = f"{party.organization_name} / {who}"
        lines += [
            (f"{party.position + 1}. {who} — {party.role}, order {party.routing_order}, {party.status}", 20),
            (f"   contact 联系方式: {contact}", 18),
            (
                f"   verification 实名认证: {party.verification_method or party.auth_method}, "
                f"level {party.verified_level if party.verified_level is not None else '-'}",
                18,
            ),
            (f"   certificate serial 证书序列号: {party.certificate_serial or '-'}", 18),
        ]
        for event in events:
            if event.party_id != party.id or event.kind not in _EVENT_NAMES:
                continue
            lines.append((f"   {_time(event.occurred_at)}  {_EVENT_NAMES[event.kind]}", 18))
            lines.append((f"      IP {event.ip or '-'}  UA {(event.user_agent or '-')[:90]}", 16))
    lines += [("", 16), ("Contract events 合同事件", 28)]
    for event in events:
        if event.party_id is None and event.kind in _EVENT_NAMES:
            lines.append(
                (f"{_time(event.occurred_at)}  {_EVENT_NAMES[event.kind]}  IP {event.ip or '-'}", 18)
            )
    return lines


def render_pdf(lines: list[tuple[str, int]]) -> bytes:
    """Lay the lines out on A4 pages (wrapping long ones) and save them as one PDF."""
    pages: list[Image.Image] = []
    page = Image.new("RGB", PAGE, "white")
    draw = ImageDraw.Draw(page)
    y = MARGIN
    for text, size in lines:
        font = _font(size)
        width = max(20, int((PAGE[0] - 2 * MARGIN) / (size * 0.62)))
        for part in textwrap.wrap(text, width=width) or [""]:
            height = int(size * 1.45)
            if y + height > PAGE[1] - MARGIN:
                pages.append(page)
                page = Image.new("RGB", PAGE, "white")
                draw = ImageDraw.Draw(page)
                y = MARGIN
            draw.text((MARGIN, y), part, fill="black", font=font)
            y += height
    pages.append(page)
    return _pdf_of(pages)


def _pdf_of(pages: list[Image.Image]) -> bytes:
    """One A4 page per image (grayscale, Flate-compressed), written by pyHanko's writer (a clean xref)."""
    writer = PdfFileWriter()
    width_pt, height_pt = 595, 842
    for image in pages:
        gray = image.convert("L")
        xobject = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): generic.NumberObject(gray.width),
                pdf_name("/Height"): generic.NumberObject(gray.height),
                pdf_name("/ColorSpace"): pdf_name("/DeviceGray"),
                pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            },
            encoded_data=zlib.compress(gray.tobytes(), 9),
        )
        resources = generic.DictionaryObject(
            {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Im0"): writer.add_object(xobject)})}
        )
        content = generic.StreamObject(stream_data=f"q {width_pt} 0 0 {height_pt} 0 0 cm /Im0 Do Q".encode())
        box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, width_pt, height_pt))
        writer.insert_page(
            PageObject(contents=writer.add_object(content), media_box=box, resources=resources)
        )
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def timestamp_pdf(engine: SigningEngine, pdf: bytes) -> bytes:
    """Add the platform's document time-stamp (its TSA signs the whole file)."""
    stamper = signers.PdfTimeStamper(engine.pyhanko_timestamper())
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    out = io.BytesIO()
    asyncio.run(stamper.async_timestamp_pdf(writer, md_algorithm="sha256", output=out))
    return out.getvalue()


def build(session: Session, contract: Contract, engine: SigningEngine) -> bytes:
    return timestamp_pdf(engine, render_pdf(certificate_lines(session, contract)))


def ensure(runtime: Runtime, contract_id: str) -> str:
    """The certificate's blob id, made (once, under the contract row lock) for a completed contract.

    Callers check access first.
    """
    with transaction(runtime.sessions) as session:
        contract = session.scalars(select(Contract).where(Contract.id == contract_id).with_for_update()).one()
        if contract.status != ContractStatus.COMPLETED:
            raise InvalidTransition("The certificate of completion exists once the contract is completed.")
        if contract.certificate_blob_id is None:
            pdf = build(session, contract, runtime.signing_flow.step.engine)
            ref = runtime.blobs.put_in(session, pdf, content_type="application/pdf")
            contract.certificate_blob_id = ref.id
        return contract.certificate_blob_id
