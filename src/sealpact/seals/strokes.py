"""Handwritten signatures captured as strokes, rendered to a transparent PNG at print resolution.

Input is what a signature pad or a browser's Pointer Events give: strokes of points with x, y (CSS
pixels of the capture canvas), an optional time offset ``t`` in milliseconds and an optional pressure
in [0, 1] (``PointerEvent.pressure``; 0.5 is what devices without pressure report). The validated
strokes are kept as evidence (canonical JSON, :func:`evidence_json`), the PNG is only their picture.

Rendering: each stroke is smoothed with a centripetal-free uniform Catmull-Rom spline through its
points (so fast, sparse samples do not draw polygons), its width follows the pressure (or, without
pressure, slows-thicker from the speed when timing is present), and it is drawn as round-capped
segments on a 4x supersampled mask that is box-filtered down: anti-aliased, deterministic.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from sealpact.seals.errors import InvalidStrokes
from sealpact.seals.render import (
    DPI,
    INK_BLACK,
    SUPERSAMPLE,
    RenderedImage,
    colourise,
    crop_to_content,
    downsample,
    encode_png,
)

MAX_STROKES = 200
MAX_POINTS_PER_STROKE = 5_000
MAX_POINTS = 20_000
MAX_COORD = 10_000.0  # capture canvas size bound (CSS px)
MAX_T_MS = 10 * 60 * 1000.0
CAPTURE_DPI = 96.0  # CSS pixels: 96 per inch
DEFAULT_PEN_MM = 0.7
_SEGMENTS_PER_SPAN = 8


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    t: float | None = None  # milliseconds since the first point of the signature
    pressure: float | None = None  # 0..1


@dataclass(frozen=True)
class Strokes:
    """Validated strokes (capture CSS pixels, origin top left)."""

    strokes: tuple[tuple[Point, ...], ...]

    @property
    def point_count(self) -> int:
        return sum(len(s) for s in self.strokes)


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidStrokes(f"{what} must be a number.")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise InvalidStrokes(f"{what} must be a finite number in [{low:g}, {high:g}].")
    return number


def parse_strokes(raw: Any) -> Strokes:
    """Validate a JSON value ``[[{"x":..,"y":..,"t"?:..,"p"?:..}, ...], ...]`` into :class:`Strokes`.

    Bounded: at most 200 strokes, 5,000 points per stroke, 20,000 in all; coordinates in
    [0, 10000]; time in [0, 10 min] and non-decreasing within a stroke; pressure in [0, 1].
    """
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        raise InvalidStrokes("Strokes are a list of lists of points.")
    if not raw:
        raise InvalidStrokes("A signature needs at least one stroke.")
    if len(raw) > MAX_STROKES:
        raise InvalidStrokes(f"At most {MAX_STROKES} strokes.")
    total = 0
    strokes: list[tuple[Point, ...]] = []
    for stroke in raw:
        if not isinstance(stroke, Sequence) or isinstance(stroke, str | bytes) or not stroke:
            raise InvalidStrokes("Each stroke is a non-empty list of points.")
        if len(stroke) > MAX_POINTS_PER_STROKE:
            raise InvalidStrokes(f"At most {MAX_POINTS_PER_STROKE} points per stroke.")
        total += len(stroke)
        if total > MAX_POINTS:
            raise InvalidStrokes(f"At most {MAX_POINTS} points in all.")
        points: list[Point] = []
        for item in stroke:
            if (
                not isinstance(item, Mapping)
                or not {"x", "y"} <= set(item)
                or set(item) - {"x", "y", "t", "p"}
            ):
                raise InvalidStrokes('A point is {"x", "y"} with optional "t" (ms) and "p" (pressure).')
            t = _number(item["t"], "t", 0.0, MAX_T_MS) if item.get("t") is not None else None
            p = _number(item["p"], "p", 0.0, 1.0) if item.get("p") is not None else None
            point = Point(
                _number(item["x"], "x", 0.0, MAX_COORD), _number(item["y"], "y", 0.0, MAX_COORD), t, p
            )
            if points and t is not None and points[-1].t is not None and t < points[-1].t:
                raise InvalidStrokes("Time goes backwards within a stroke.")
            points.append(point)
        strokes.append(tuple(points))
    return Strokes(tuple(strokes))


def evidence_json(strokes: Strokes) -> bytes:
    """The validated strokes as canonical JSON (sorted keys, no spaces): what is stored as evidence."""

    def point(p: Point) -> dict[str, float]:
        out = {"x": p.x, "y": p.y}
        if p.t is not None:
            out["t"] = p.t
        if p.pressure is not None:
            out["p"] = p.pressure
        return out

    body = {"version": 1, "unit": "css_px", "strokes": [[point(p) for p in s] for s in strokes.strokes]}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _width_factors(points: Sequence[Point]) -> list[float]:
    """Per-point width factor in about [0.45, 1.35]: pressure when the device reports it, else speed."""
    pressures = [p.pressure for p in points]
    has_pressure = all(p is not None for p in pressures) and len({p for p in pressures}) > 1
    if has_pressure:
        return [0.45 + 0.9 * float(p or 0.0) for p in pressures]
    times = [p.t for p in points]
    if len(points) > 1 and all(t is not None for t in times):
        factors = [1.0]
        for a, b in itertools.pairwise(points):
            dt = max(1.0, float(b.t or 0.0) - float(a.t or 0.0))
            speed = math.dist((a.x, a.y), (b.x, b.y)) / dt  # px per ms
            # Faster strokes are thinner, as with a real pen; 1 px/ms (a quick stroke) gives 0.7.
            factors.append(max(0.5, min(1.25, 1.25 - 0.55 * min(speed, 1.5) / 1.0)))
        # Light smoothing, so the width does not jitter with sampling noise.
        return [
            sum(factors[max(0, i - 2) : i + 3]) / len(factors[max(0, i - 2) : i + 3])
            for i in range(len(factors))
        ]
    return [1.0] * len(points)


def _smooth(points: Sequence[Point], factors: Sequence[float]) -> list[tuple[float, float, float]]:
    xs = [(p.x, p.y, f) for p, f in zip(points, factors, strict=True)]
    if len(xs) < 3:
        return xs
    out: list[tuple[float, float, float]] = []
    padded = [xs[0], *xs, xs[-1]]
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        for k in range(_SEGMENTS_PER_SPAN):
            s = k / _SEGMENTS_PER_SPAN
            s2, s3 = s * s, s * s * s
            x = 0.5 * (
                2 * p1[0]
                + (-p0[0] + p2[0]) * s
                + (2 * p0[0] - 5 * p1[0] + 4 * p2[0] - p3[0]) * s2
                + (-p0[0] + 3 * p1[0] - 3 * p2[0] + p3[0]) * s3
            )
            y = 0.5 * (
                2 * p1[1]
                + (-p0[1] + p2[1]) * s
                + (2 * p0[1] - 5 * p1[1] + 4 * p2[1] - p3[1]) * s2
                + (-p0[1] + 3 * p1[1] - 3 * p2[1] + p3[1]) * s3
            )
            out.append((x, y, p1[2] + (p2[2] - p1[2]) * s))
    out.append(xs[-1])
    return out


@dataclass(frozen=True)
class StrokeLayout:
    """How capture coordinates map to output pixels: ``px = (x - x0) * scale + pad``.

    Exact for ``crop=False``; cropping then moves the image by at most the pen's half width.
    """

    scale: float
    x0: float
    y0: float
    pad: int


def render_strokes(
    strokes: Strokes,
    *,
    pen_mm: float = DEFAULT_PEN_MM,
    colour: tuple[int, int, int] = INK_BLACK,
    dpi: int = DPI,
    crop: bool = True,
) -> tuple[RenderedImage, StrokeLayout]:
    """Draw ``strokes`` at ``dpi`` (capture px taken as 1/96 inch), cropped to the ink plus a margin."""
    if not (0.1 <= pen_mm <= 5.0) or not math.isfinite(pen_mm):
        raise InvalidStrokes("The pen width is 0.1 to 5 mm.")
    scale = dpi / CAPTURE_DPI
    pen_px = pen_mm * dpi / 25.4
    pad = math.ceil(pen_px * 1.4) + 4
    xs = [p.x for s in strokes.strokes for p in s]
    ys = [p.y for s in strokes.strokes for p in s]
    x0, y0 = min(xs), min(ys)
    width = math.ceil((max(xs) - x0) * scale) + 2 * pad
    height = math.ceil((max(ys) - y0) * scale) + 2 * pad
    if width * height > 40_000_000:
        raise InvalidStrokes("The signature is too large to render.")
    ss = SUPERSAMPLE
    mask = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(mask)
    for stroke in strokes.strokes:
        samples = _smooth(stroke, _width_factors(stroke))
        pts = [
            ((x - x0) * scale * ss + pad * ss, (y - y0) * scale * ss + pad * ss, f * pen_px * ss)
            for x, y, f in samples
        ]
        if len(pts) == 1:
            x, y, w = pts[0]
            draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)  # a dot
            continue
        for (ax, ay, aw), (bx, by, bw) in itertools.pairwise(pts):
            w = (aw + bw) / 2
            draw.line((ax, ay, bx, by), fill=255, width=max(1, round(w)))
            r = w / 2  # round joints and caps
            draw.ellipse((bx - r, by - r, bx + r, by + r), fill=255)
        x, y, w = pts[0]
        draw.ellipse((x - w / 2, y - w / 2, x + w / 2, y + w / 2), fill=255)
    image = colourise(downsample(mask, ss), colour)
    if crop:
        image = crop_to_content(image, pad)
    return encode_png(image, dpi), StrokeLayout(scale, x0, y0, pad)
