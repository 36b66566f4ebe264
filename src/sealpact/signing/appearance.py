"""The visible part of a signature: the seal or handwriting image with the signer's name, the time and a
short verification code, rendered once into one image (Pillow, Noto CJK for Chinese names).

A raster appearance keeps the widget independent of font embedding; the text is also in the signature
dictionary (/Name, /M) and in the certificate, which is what verification reads (ISO 32000-2 section
12.7.5.5: the appearance is presentation only).
"""

from __future__ import annotations

import base64
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sealpact.signing.errors import SigningError

CJK_FONT_CANDIDATES = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"),
)
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")
PIXELS_PER_POINT = 3  # 216 dpi: sharp on screen and in print, small in the file
MAX_IMAGE_BYTES = 8 << 20


@dataclass(frozen=True)
class Placement:
    """Where a widget goes: 0-based page index and (x1, y1, x2, y2) in PDF points, origin bottom left."""

    page: int
    box: tuple[int, int, int, int]

    def __post_init__(self) -> None:
        x1, y1, x2, y2 = self.box
        if self.page < 0 or x2 <= x1 or y2 <= y1:
            raise SigningError("a placement needs a page index >= 0 and a box with x2 > x1, y2 > y1")

    @property
    def size(self) -> tuple[int, int]:
        return self.box[2] - self.box[0], self.box[3] - self.box[1]


@dataclass(frozen=True)
class Appearance:
    """A visible signature: an optional PNG (seal or handwriting, from ``sealpact.seals``) and where."""

    placement: Placement
    image_png: bytes | None = None
    show_text: bool = True
    cross_page_seal_png: bytes | None = None  # 骑缝章: sliced along the right edge of every page


def verification_code(cert_der: bytes, signing_time: datetime, field: str) -> str:
    """Eight characters identifying this signature, printed on it (not a secret; a lookup handle)."""
    digest = hashlib.sha256(cert_der + signing_time.isoformat().encode() + field.encode()).digest()
    code = base64.b32encode(digest).decode()[:8]
    return f"{code[:4]}-{code[4:]}"


def load_png(data: bytes) -> Image.Image:
    if len(data) > MAX_IMAGE_BYTES or not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise SigningError("the appearance image must be a PNG of at most 8 MiB")
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise SigningError("the appearance image cannot be decoded") from exc
    return image.convert("RGBA")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in CJK_FONT_CANDIDATES:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default()


def render(appearance: Appearance, *, signer_name: str, signing_time: datetime, code: str) -> Image.Image:
    """The widget image: the PNG scaled into the upper part, three lines of text below it."""
    width_pt, height_pt = appearance.placement.size
    width, height = width_pt * PIXELS_PER_POINT, height_pt * PIXELS_PER_POINT
    canvas = Image.new("RGBA", (width, height), (255, 255, 255, 0))
    lines = []
    if appearance.show_text:
        local = signing_time.astimezone(CHINA_STANDARD_TIME)
        lines = [signer_name, local.strftime("%Y-%m-%d %H:%M:%S +08:00"), f"验证码 {code}"]
    text_height = int(height * 0.36) if lines else 0
    if appearance.image_png is not None:
        image = load_png(appearance.image_png)
        room = (width, max(1, height - text_height))
        image.thumbnail(room, Image.Resampling.LANCZOS)
        canvas.alpha_composite(image, ((width - image.width) // 2, (room[1] - image.height) // 2))
    if lines:
        size = max(8, text_height // 3 - 6)
        font = _font(size)
        draw = ImageDraw.Draw(canvas)
        top = height - text_height
        for index, line in enumerate(lines):
            draw.text((4, top + index * (size + 2)), line, fill=(20, 20, 20, 255), font=font)
    return canvas


def slices(image_png: bytes, count: int) -> list[Image.Image]:
    """The cross-page seal cut into ``count`` vertical strips, left to right (page 1 gets the first)."""
    image = load_png(image_png)
    width = image.width
    edges = [round(i * width / count) for i in range(count + 1)]
    return [image.crop((edges[i], 0, max(edges[i] + 1, edges[i + 1]), image.height)) for i in range(count)]
