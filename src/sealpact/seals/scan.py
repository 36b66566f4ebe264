"""A scanned or photographed seal made transparent: keep the red ink, drop the light paper.

Per pixel, "redness" is how far red exceeds the larger of green and blue, and "lightness" is the
smallest channel (paper is light in all three). Ink alpha ramps from 0 at low redness to 255 at high
redness; light, unsaturated pixels (the paper, grey shadows, black printed text under the seal) become
fully transparent. The ink is then re-coloured with its own hue but full chroma so a faded scan still
prints as seal red, and the result is cropped to the seal.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageChops, ImageOps

from sealpact.seals.errors import InvalidImage
from sealpact.seals.render import DPI, RenderedImage, crop_to_content, encode_png

MAX_SCAN_BYTES = 8 << 20
MAX_SCAN_PIXELS = 25_000_000
MAX_SIDE = 2400  # larger scans are downscaled; 2400 px is 80 mm at 760 dpi
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"
REDNESS_LOW = 40  # r - max(g, b) below this: not ink
REDNESS_HIGH = 110  # above this: fully opaque ink
MIN_INK_FRACTION = 0.002


def sniff_image(data: bytes) -> str:
    """``image/png`` or ``image/jpeg`` from the magic bytes; anything else is :class:`InvalidImage`."""
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    raise InvalidImage("A seal scan is a PNG or JPEG image.")


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_SCAN_BYTES:
        raise InvalidImage(f"A seal scan is at most {MAX_SCAN_BYTES} bytes.")
    sniff_image(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            if opened.width * opened.height > MAX_SCAN_PIXELS:
                raise InvalidImage("The seal scan has too many pixels.")
            opened.load()
    except InvalidImage:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, Warning) as exc:
        raise InvalidImage("The seal scan cannot be decoded.") from exc
    image: Image.Image = ImageOps.exif_transpose(opened)
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    return image


def remove_background(data: bytes, *, dpi: int | None = None) -> RenderedImage:
    """The seal ink of a PNG/JPEG scan on a transparent background, cropped; ``invalid_image`` if none.

    ``dpi``: the scan's resolution, if known (else the file's own, else 300).
    """
    image = _open(data)
    file_dpi = image.info.get("dpi")
    resolution = dpi or (round(float(file_dpi[0])) if file_dpi and float(file_dpi[0]) >= 72 else DPI)
    r, g, b, a = image.split()
    redness = ImageChops.subtract(r, ImageChops.lighter(g, b))
    span = REDNESS_HIGH - REDNESS_LOW
    alpha = redness.point(lambda v: 0 if v <= REDNESS_LOW else min(255, (v - REDNESS_LOW) * 255 // span))
    alpha = ImageChops.multiply(alpha, a)  # already-transparent input stays transparent
    histogram = alpha.histogram()
    ink = sum(histogram[128:])
    if ink < MIN_INK_FRACTION * image.width * image.height:
        raise InvalidImage("No red seal ink was found in the scan.")
    # Full-strength ink: keep the hue, push the colour to the red of the ink (faded scans print red).
    red = r.point(lambda v: max(v, 200))
    green = g.point(lambda v: min(v, 40))
    blue = b.point(lambda v: min(v, 40))
    out = Image.merge("RGBA", (red, green, blue, alpha))
    out = _zero_transparent(out)
    return encode_png(crop_to_content(out, 4), resolution)


def _zero_transparent(image: Image.Image) -> Image.Image:
    """Fully transparent pixels get RGB 0 (no trace of the paper's colour left in the file)."""
    alpha = image.getchannel("A")
    keep = alpha.point(lambda v: 255 if v else 0)
    blank = Image.new("RGBA", image.size, (0, 0, 0, 0))
    return Image.composite(image, blank, keep)
