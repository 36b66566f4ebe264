"""Enterprise seals (印章) rendered to transparent PNG: round, oval and square.

Layout follows the common PRC official-seal style (GA 241 family of public-security seal standards and
the usual engraving practice): a red ring; the organization's name along the upper rim, each character
rotated to the tangent and reading clockwise; a five-pointed star in the centre; the seal's name (e.g.
合同专用章) horizontal below the star; an optional code (e.g. the 13-digit seal code) along the lower
rim reading left to right with tops toward the centre. Oval seals (发票专用章-style) put the code
horizontally through the middle; square seals (personal/name seals) fill a grid read in columns from the
right.

Pure: no I/O besides reading the font. Everything is drawn as one coverage mask at 4x and box-filtered
down, then coloured with a single red, so the output is deterministic for the same inputs and font.
"""

from __future__ import annotations

import itertools
import math
import re
from bisect import bisect_left
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageDraw, ImageFont

from sealpact.seals.errors import InvalidSealSpec
from sealpact.seals.fonts import FontFace, clean_text, require_glyphs
from sealpact.seals.render import (
    DPI,
    SUPERSAMPLE,
    RenderedImage,
    colourise,
    downsample,
    encode_png,
    mm_to_px,
)


class SealShape(StrEnum):
    ROUND = "round"
    OVAL = "oval"
    SQUARE = "square"


_DEFAULT_SIZE_MM = {
    SealShape.ROUND: (42.0, 42.0),
    SealShape.OVAL: (45.0, 30.0),
    SealShape.SQUARE: (20.0, 20.0),
}
_CODE_RE = re.compile(r"^[0-9A-Za-z\-]{0,24}$")
_COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


@dataclass(frozen=True)
class SealSpec:
    """What a seal says and how big it is. ``text`` is the rim text (round/oval) or the grid (square)."""

    shape: SealShape
    text: str  # organization name along the upper rim; for square seals, the characters of the grid
    name: str = ""  # seal name below the star, e.g. 合同专用章 (round/oval)
    code: str = ""  # optional code: lower rim (round), middle line (oval)
    star: bool | None = None  # default: round yes, oval and square no
    width_mm: float | None = None
    height_mm: float | None = None
    colour: str = "#E60000"

    def normalised(self) -> SealSpec:
        """Validated and with defaults filled in; raises :class:`InvalidSealSpec` / ``invalid_text``."""
        shape = SealShape(self.shape)
        limit = 9 if shape is SealShape.SQUARE else 40
        text = clean_text(self.text, what="seal text", max_chars=limit)
        name = clean_text(self.name, what="seal name", max_chars=12, allow_empty=True)
        code = self.code.strip()
        if not _CODE_RE.match(code):
            raise InvalidSealSpec("A seal code is at most 24 letters, digits or hyphens.")
        if shape is SealShape.SQUARE and (name or code):
            raise InvalidSealSpec("A square seal holds only its grid text.")
        default_w, default_h = _DEFAULT_SIZE_MM[shape]
        width = float(self.width_mm or default_w)
        height = float(self.height_mm or (width if shape is not SealShape.OVAL else default_h))
        if shape is not SealShape.OVAL:
            height = width
        if not (10.0 <= width <= 80.0 and 10.0 <= height <= 80.0) or not math.isfinite(width * height):
            raise InvalidSealSpec("A seal is 10 to 80 mm wide and high.")
        if shape is SealShape.OVAL and not height < width:
            raise InvalidSealSpec("An oval seal is wider than it is high.")
        if not _COLOUR_RE.match(self.colour):
            raise InvalidSealSpec("The seal colour is #RRGGBB.")
        star = self.star if self.star is not None else shape is SealShape.ROUND
        if star and shape is SealShape.SQUARE:
            raise InvalidSealSpec("A square seal has no star.")
        return SealSpec(shape, text, name, code, star, width, height, self.colour.upper())

    @property
    def rgb(self) -> tuple[int, int, int]:
        value = int(self.colour[1:], 16)
        return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF

    def to_json(self) -> dict[str, object]:
        return {
            "shape": self.shape.value,
            "text": self.text,
            "name": self.name,
            "code": self.code,
            "star": self.star,
            "width_mm": self.width_mm,
            "height_mm": self.height_mm,
            "colour": self.colour,
        }


@dataclass(frozen=True)
class SealGeometry:
    """Where things are in the output image (pixels), for callers and tests that check the drawing."""

    width_px: int
    height_px: int
    centre: tuple[float, float]
    ring_outer: tuple[float, float]  # semi-axes of the ring's outer edge (x, y)
    ring_width: float
    star_radius: float


def render_seal(spec: SealSpec, face: FontFace, *, dpi: int = DPI) -> tuple[RenderedImage, SealGeometry]:
    """Draw ``spec`` (normalised first) in ``face``; every character is checked for a real glyph."""
    spec = spec.normalised()
    require_glyphs(face, spec.text + spec.name + spec.code)
    assert spec.width_mm is not None and spec.height_mm is not None
    width = round(mm_to_px(spec.width_mm, dpi))
    height = round(mm_to_px(spec.height_mm, dpi))
    ss = SUPERSAMPLE
    mask = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(mask)
    if spec.shape is SealShape.SQUARE:
        geometry = _square(mask, draw, spec, face, ss)
    else:
        geometry = _round_or_oval(mask, draw, spec, face, ss)
    image = colourise(downsample(mask, ss), spec.rgb)
    return encode_png(image, dpi), geometry


# -- glyph tiles ------------------------------------------------------------------------------------------


def _tile(face: FontFace, ch: str, width: float, height: float) -> Image.Image:
    """The glyph of ``ch`` filling a ``width`` x ``height`` box (its em box, squeezed horizontally)."""
    size = max(8, round(height))
    font: ImageFont.FreeTypeFont = face.at(size)
    advance = max(1, math.ceil(font.getlength(ch)))
    canvas = Image.new("L", (advance + size, size * 2), 0)
    ImageDraw.Draw(canvas).text((canvas.width / 2, canvas.height / 2), ch, font=font, fill=255, anchor="mm")
    left = (canvas.width - advance) / 2
    top = (canvas.height - size) / 2
    em = canvas.crop((round(left), round(top), round(left) + advance, round(top) + size))
    return em.resize((max(1, round(width)), max(1, round(height))), Image.Resampling.LANCZOS)


def _stamp(mask: Image.Image, tile: Image.Image, centre: tuple[float, float], angle: float) -> None:
    """Paste ``tile`` rotated counter-clockwise by ``angle`` degrees, centred at ``centre``."""
    rotated = tile.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True) if angle else tile
    x = round(centre[0] - rotated.width / 2)
    y = round(centre[1] - rotated.height / 2)
    mask.paste(255, (x, y, x + rotated.width, y + rotated.height), rotated)


def _text_on_ellipse(
    mask: Image.Image,
    face: FontFace,
    text: str,
    centre: tuple[float, float],
    axes: tuple[float, float],
    *,
    char_height: float,
    char_width: float,
    max_span_deg: float,
    lower: bool,
) -> None:
    """Characters evenly spaced by arc length along an ellipse arc centred on the top (or bottom).

    Upper text reads clockwise with tops outward (rotation = normal angle - 90 degrees); lower text reads
    left to right with tops toward the centre (rotation = normal angle + 90 degrees).
    """
    a, b = axes
    count = len(text)
    # Natural arc length per character (a little spacing); squeeze widths if the span would overflow.
    mean_radius = (a + b) / 2
    span = min(math.radians(max_span_deg), count * char_width * 1.12 / mean_radius)
    mid = math.pi * (1.5 if lower else 0.5)
    start, end = (mid - span / 2, mid + span / 2) if lower else (mid + span / 2, mid - span / 2)
    steps = 2048
    params = [start + (end - start) * i / steps for i in range(steps + 1)]
    points = [(centre[0] + a * math.cos(t), centre[1] - b * math.sin(t)) for t in params]
    lengths = [0.0]
    for p, q in itertools.pairwise(points):
        lengths.append(lengths[-1] + math.dist(p, q))
    total = lengths[-1]
    width = min(char_width, total / count * 0.92)
    for i, ch in enumerate(text):
        if ch.isspace():
            continue
        k = min(steps, bisect_left(lengths, total * (i + 0.5) / count))
        t = params[k]
        normal = math.degrees(math.atan2(a * math.sin(t), b * math.cos(t)))
        angle = normal + 90 if lower else normal - 90
        _stamp(mask, _tile(face, ch, width, char_height), points[k], angle)


def _horizontal(
    mask: Image.Image, face: FontFace, text: str, centre: tuple[float, float], height: float, max_width: float
) -> None:
    count = len(text)
    width = min(height * 0.95, max_width / count)
    step = width * 1.05 if width >= height * 0.9 else max_width / count
    x0 = centre[0] - step * (count - 1) / 2
    for i, ch in enumerate(text):
        if not ch.isspace():
            _stamp(mask, _tile(face, ch, width, height), (x0 + i * step, centre[1]), 0.0)


def _star(draw: ImageDraw.ImageDraw, centre: tuple[float, float], radius: float) -> None:
    # A regular five-pointed star: outer points every 72 degrees from the top, inner radius R*0.382
    # (sin 18 / sin 126, the ratio that makes the edges collinear).
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else inner
        theta = math.radians(90 + 36 * k)
        points.append((centre[0] + r * math.cos(theta), centre[1] - r * math.sin(theta)))
    draw.polygon(points, fill=255)


# -- shapes ----------------------------------------------------------------------------------------------


def _round_or_oval(
    mask: Image.Image, draw: ImageDraw.ImageDraw, spec: SealSpec, face: FontFace, ss: int
) -> SealGeometry:
    w, h = mask.size
    cx, cy = w / 2, h / 2
    a, b = w / 2 * 0.985, h / 2 * 0.985  # leave a hair of margin so the anti-aliased ring is not clipped
    small = min(a, b)
    ring = small * 0.055
    draw.ellipse((cx - a, cy - b, cx + a, cy + b), outline=255, width=max(1, round(ring)))
    oval = spec.shape is SealShape.OVAL
    text_h = small * (0.30 if oval else 0.26)
    gap = small * 0.05
    inset = ring + gap + text_h / 2
    _text_on_ellipse(
        mask,
        face,
        spec.text,
        (cx, cy),
        (a - inset, b - inset),
        char_height=text_h,
        char_width=text_h * 0.95,
        max_span_deg=220 if oval else 250,
        lower=False,
    )
    star_r = small * (0.24 if oval else 0.30) if spec.star else 0.0
    if spec.star:
        star_centre = (cx, cy - (small * 0.12 if oval and spec.code else 0.0))
        _star(draw, star_centre, star_r)
    name_h = small * (0.22 if oval else 0.20)
    if oval:
        if spec.code:
            code_h = small * 0.20
            _horizontal(mask, face, spec.code, (cx, cy + small * 0.12), code_h, a * 1.15)
        if spec.name:
            _horizontal(mask, face, spec.name, (cx, cy + small * 0.52), name_h, a * 0.9)
    else:
        if spec.name:
            name_y = cy + small * (0.55 if spec.star else 0.15)
            _horizontal(mask, face, spec.name, (cx, name_y), name_h, small * 0.85)
        if spec.code:
            code_h = small * 0.11
            code_inset = ring + gap * 0.8 + code_h / 2
            _text_on_ellipse(
                mask,
                face,
                spec.code,
                (cx, cy),
                (a - code_inset, b - code_inset),
                char_height=code_h,
                char_width=code_h * 0.6,
                max_span_deg=100,
                lower=True,
            )
    return SealGeometry(w // ss, h // ss, (cx / ss, cy / ss), (a / ss, b / ss), ring / ss, star_r / ss)


def _square(
    mask: Image.Image, draw: ImageDraw.ImageDraw, spec: SealSpec, face: FontFace, ss: int
) -> SealGeometry:
    side = mask.width
    border = side * 0.06
    margin = side * 0.015
    draw.rectangle((margin, margin, side - margin, side - margin), outline=255, width=max(1, round(border)))
    chars = [ch for ch in spec.text if not ch.isspace()]
    rows = math.ceil(math.sqrt(len(chars)))
    cols = math.ceil(len(chars) / rows)
    # Columns read from the right (traditional order); earlier columns take fewer characters when the
    # count does not divide evenly, so e.g. 3 characters give a full-height surname beside two.
    per_col = [len(chars) // cols] * cols
    for i in range(len(chars) % cols):
        per_col[cols - 1 - i] += 1
    inner = side - 2 * (margin + border) - 2 * side * 0.04
    origin = margin + border + side * 0.04
    col_w = inner / cols
    index = 0
    for col, count in enumerate(per_col):
        cell_h = inner / count
        x = origin + inner - col_w * (col + 0.5)
        for row in range(count):
            y = origin + cell_h * (row + 0.5)
            _stamp(mask, _tile(face, chars[index], col_w * 0.94, cell_h * 0.94), (x, y), 0.0)
            index += 1
    c = side / 2 / ss
    return SealGeometry(side // ss, side // ss, (c, c), ((side / 2 - margin) / ss,) * 2, border / ss, 0.0)
