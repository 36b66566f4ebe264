"""Shared rendering helpers: physical units, supersampled masks, deterministic PNG encoding."""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

DPI = 300  # print resolution of every appearance
SUPERSAMPLE = 4  # draw at 4x and downsample: anti-aliased edges without a vector renderer
SEAL_RED = (0xE6, 0x00, 0x00)  # the usual official-seal red (印泥红)
INK_BLACK = (0x14, 0x14, 0x1E)
MM_PER_INCH = 25.4


@dataclass(frozen=True)
class RenderedImage:
    """A transparent RGBA PNG and its size; ``width_mm``/``height_mm`` size the box on the page."""

    png: bytes
    width_px: int
    height_px: int
    dpi: int = DPI

    @property
    def width_mm(self) -> float:
        return self.width_px * MM_PER_INCH / self.dpi

    @property
    def height_mm(self) -> float:
        return self.height_px * MM_PER_INCH / self.dpi


def mm_to_px(mm: float, dpi: int = DPI) -> float:
    return mm * dpi / MM_PER_INCH


def downsample(mask: Image.Image, factor: int) -> Image.Image:
    """Box-filter a supersampled coverage mask: each output pixel is the mean of factor x factor samples."""
    width, height = mask.size
    return mask.resize((max(1, width // factor), max(1, height // factor)), Image.Resampling.BOX)


def colourise(mask: Image.Image, colour: tuple[int, int, int]) -> Image.Image:
    """One ink colour everywhere, coverage as alpha: the background stays fully transparent."""
    image = Image.new("RGBA", mask.size, (*colour, 0))
    image.putalpha(mask)
    return image


def encode_png(image: Image.Image, dpi: int = DPI) -> RenderedImage:
    """PNG with a pHYs chunk and nothing time-dependent, so equal inputs give equal bytes."""
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=False, compress_level=9)
    return RenderedImage(out.getvalue(), image.width, image.height, dpi)


def crop_to_content(image: Image.Image, padding: int) -> Image.Image:
    """The non-transparent part of an RGBA image with ``padding`` transparent pixels on every side."""
    bbox = image.getchannel("A").getbbox()
    if bbox is None:
        return image
    content = image.crop(bbox)
    framed = Image.new("RGBA", (content.width + 2 * padding, content.height + 2 * padding), (0, 0, 0, 0))
    framed.paste(content, (padding, padding))
    return framed
