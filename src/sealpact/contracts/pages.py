"""Document pages rendered to PNG for the signer's view, watermarked with the viewer's masked identity.

Rendering is pdfium (``pypdfium2``) on the server, so the browser never parses the PDF; the watermark
(masked name, masked contact, contract id, time) is drawn diagonally across the whole page, so a
screenshot or a leaked image names who viewed it. Scale is bounded, so one request cannot ask for a
gigapixel image.
"""

from __future__ import annotations

import io
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pypdfium2  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

from sealpact.contracts.errors import ContractError, InvalidContract

FONTS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
MIN_SCALE, MAX_SCALE = 0.5, 3.0
MAX_PIXELS = 12_000_000
CST = timezone(timedelta(hours=8), "CST")
# pdfium is not thread-safe: one render at a time per process.
_PDFIUM = threading.Lock()


class RenderFailed(ContractError):
    code = "render_failed"
    http_status = 422


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONTS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()


def watermark_text(name: str, contact: str, contract_id: str, at: datetime) -> str:
    return f"{name} {contact} · {contract_id[:8]} · {at.astimezone(CST).strftime('%Y-%m-%d %H:%M')}"


def render_page(pdf: bytes, page: int, *, scale: float, watermark: str) -> bytes:
    """PNG of 1-based ``page`` at ``scale`` (1.0 = 72 dpi) with ``watermark`` tiled diagonally."""
    if not MIN_SCALE <= scale <= MAX_SCALE:
        raise InvalidContract(f"scale is between {MIN_SCALE} and {MAX_SCALE}.")
    with _PDFIUM:
        try:
            document = pypdfium2.PdfDocument(pdf)
            document.init_forms()  # draw the signature and seal widgets already applied
        except pypdfium2.PdfiumError:
            raise RenderFailed("The document cannot be rendered.") from None
        try:
            if not 1 <= page <= len(document):
                raise InvalidContract(
                    f"No page {page}; the document has {len(document)}.",
                    code="page_not_found",
                    http_status=404,
                )
            pdf_page = document[page - 1]
            width, height = pdf_page.get_size()
            if width * height * scale * scale > MAX_PIXELS:
                scale = (MAX_PIXELS / (width * height)) ** 0.5
            image = pdf_page.render(scale=scale).to_pil().convert("RGBA")
        finally:
            document.close()
    overlay = Image.new("RGBA", (image.width * 2, image.height * 2), (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = _font(max(12, int(14 * scale)))
    step_y = max(60, int(110 * scale))
    step_x = max(200, int(draw.textlength(watermark, font=font)) + int(60 * scale))
    for row, y in enumerate(range(0, overlay.height, step_y)):
        offset = (row % 2) * step_x // 2
        for x in range(-step_x + offset, overlay.width, step_x):
            draw.text((x, y), watermark, fill=(120, 120, 120, 70), font=font)
    rotated = overlay.rotate(30, resample=Image.Resampling.BICUBIC)
    left, top = (rotated.width - image.width) // 2, (rotated.height - image.height) // 2
    image.alpha_composite(rotated.crop((left, top, left + image.width, top + image.height)))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG", optimize=False)
    return out.getvalue()
