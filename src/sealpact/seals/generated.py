"""A signature generated from the signer's verified name, set in a handwriting-style (Kaiti) font.

Every character is checked for a real glyph first (:func:`~sealpact.seals.fonts.require_glyphs`), so a
name the font cannot draw fails with ``glyph_missing`` instead of rendering tofu boxes.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from sealpact.seals.errors import InvalidText
from sealpact.seals.fonts import FontFace, clean_text, require_glyphs
from sealpact.seals.render import (
    DPI,
    INK_BLACK,
    SUPERSAMPLE,
    RenderedImage,
    colourise,
    crop_to_content,
    downsample,
    encode_png,
    mm_to_px,
)

MAX_NAME_CHARS = 40
DEFAULT_HEIGHT_MM = 12.0  # cap height of a handwritten name on a contract line


def render_generated(
    name: str,
    face: FontFace,
    *,
    height_mm: float = DEFAULT_HEIGHT_MM,
    colour: tuple[int, int, int] = INK_BLACK,
    dpi: int = DPI,
) -> RenderedImage:
    """``name`` (NFC, trimmed, no control characters) in ``face``, cropped, on a transparent background."""
    name = clean_text(name, what="name", max_chars=MAX_NAME_CHARS)
    if not (4.0 <= height_mm <= 40.0) or not math.isfinite(height_mm):
        raise InvalidText("A generated signature is 4 to 40 mm high.")
    require_glyphs(face, name)
    ss = SUPERSAMPLE
    size = round(mm_to_px(height_mm, dpi)) * ss
    font = face.at(size)
    left, top, right, bottom = (round(v) for v in font.getbbox(name))
    pad = size // 4
    mask = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
    ImageDraw.Draw(mask).text((pad - left, pad - top), name, font=font, fill=255)
    image = colourise(downsample(mask, ss), colour)
    return encode_png(crop_to_content(image, max(4, pad // ss // 2)), dpi)
