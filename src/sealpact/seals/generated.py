"""A signature generated from the verified name in a handwriting-style (Kaiti) font."""

from __future__ import annotations

from PIL import Image, ImageDraw

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

MAX_NAME_CHARS = 32


def render_name(
    name: str,
    face: FontFace,
    *,
    height_mm: float = 12.0,
    ink: tuple[int, int, int] = INK_BLACK,
    dpi: int = DPI,
) -> RenderedImage:
    """``name`` written in ``face``, ``height_mm`` em height, transparent, cropped with 2 mm padding.

    Raises ``glyph_missing`` rather than draw a character the font does not have.
    """
    name = clean_text(name, what="name", max_chars=MAX_NAME_CHARS)
    require_glyphs(face, name)
    size = round(mm_to_px(height_mm, dpi)) * SUPERSAMPLE
    font = face.at(size)
    length = font.getlength(name)
    # CJK names get a little letter-spacing, as people space characters when they sign.
    spacing = size * 0.08 if all(ord(ch) > 0x2E80 for ch in name if not ch.isspace()) else 0.0
    canvas = Image.new("L", (int(length + spacing * len(name) + size), size * 2), 0)
    draw = ImageDraw.Draw(canvas)
    x = size / 2
    for ch in name:
        draw.text((x, size), ch, font=font, fill=255, anchor="ls")
        x += font.getlength(ch) + spacing
    image = colourise(downsample(canvas, SUPERSAMPLE), ink)
    return encode_png(crop_to_content(image, round(mm_to_px(2.0, dpi))), dpi)
