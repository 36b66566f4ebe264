"""Pure renderers of sealpact.seals: pixel checks on seals, CJK text, strokes and scans.

PNGs for humans to look at are written to ``test-artifacts/`` (gitignored).
"""

from __future__ import annotations

import io
import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from sealpact.seals import fonts
from sealpact.seals.errors import FontUnavailable, GlyphMissing, InvalidImage, InvalidSealSpec, InvalidStrokes
from sealpact.seals.fonts import FontRole, find_face, missing_glyphs
from sealpact.seals.generated import render_generated
from sealpact.seals.render import SEAL_RED, RenderedImage
from sealpact.seals.scan import remove_background
from sealpact.seals.seal import SealShape, SealSpec, render_seal
from sealpact.seals.strokes import parse_strokes, render_strokes

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ORG = "上海某某科技有限公司"
NAME = "张伟明"


def _keep(name: str, image: RenderedImage) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_bytes(image.png)


def _open(image: RenderedImage) -> Image.Image:
    decoded = Image.open(io.BytesIO(image.png))
    assert decoded.format == "PNG" and decoded.mode == "RGBA"
    assert decoded.size == (image.width_px, image.height_px)
    assert round(decoded.info["dpi"][0]) == image.dpi == 300
    return decoded


def _notdef(face: fonts.FontFace) -> bytes:
    return fonts._glyph_pixels(face.at(48), "\uffff")


@pytest.fixture(scope="module")
def seal_face() -> fonts.FontFace:
    return find_face(FontRole.SEAL)


@pytest.fixture(scope="module")
def hand_face() -> fonts.FontFace:
    return find_face(FontRole.HANDWRITING)


# -- enterprise seals -------------------------------------------------------------------------------


def test_round_enterprise_seal_pixels(seal_face: fonts.FontFace) -> None:
    spec = SealSpec(SealShape.ROUND, ORG, "合同专用章", "3101150012345")
    rendered, geo = render_seal(spec, seal_face)
    _keep("seal_round.png", rendered)
    image = _open(rendered)
    # 42 mm at 300 dpi.
    assert image.size == (496, 496) and abs(rendered.width_mm - 42.0) < 0.1
    px = image.load()
    assert px is not None
    cx, cy = geo.centre
    # The star's centre is solid seal red.
    assert px[round(cx), round(cy)] == (*SEAL_RED, 255)
    # The corners (outside the circle) are fully transparent.
    for corner in ((0, 0), (495, 0), (0, 495), (495, 495), (20, 20)):
        assert px[corner][3] == 0
    # The ring: opaque all round at the expected radius, transparent just outside it.
    outer = geo.ring_outer[0]
    assert abs(outer - 248 * 0.985) < 1
    for degrees in range(0, 360, 5):
        t = math.radians(degrees)
        on_ring = (
            cx + (outer - geo.ring_width / 2) * math.cos(t),
            cy - (outer - geo.ring_width / 2) * math.sin(t),
        )
        assert px[round(on_ring[0]), round(on_ring[1])][3] == 255, degrees
        outside = (cx + (outer + 3) * math.cos(t), cy - (outer + 3) * math.sin(t))
        assert px[round(outside[0]), round(outside[1])][3] == 0, degrees
    # Every visible pixel is seal red: one colour, coverage only in alpha.
    colours = {p[:3] for p in image.get_flattened_data() if p[3] > 0}
    assert colours == {SEAL_RED}
    # Anti-aliased edges: partial alpha exists.
    alphas = set(image.getchannel("A").get_flattened_data())
    assert len(alphas) > 50


def test_round_seal_ring_and_gap_at_the_bottom_without_code(seal_face: fonts.FontFace) -> None:
    rendered, geo = render_seal(SealSpec(SealShape.ROUND, ORG, "合同专用章"), seal_face)
    image = _open(rendered)
    cx, cy = geo.centre
    outer, ring = geo.ring_outer[1], geo.ring_width
    profile = [image.getpixel((round(cx), round(cy + r)))[3] for r in range(0, round(outer) + 3)]  # type: ignore[index]
    ring_pixels = [r for r, a in enumerate(profile) if a == 255 and r > outer - ring * 2]
    # The ring is where it should be and as thick as it should be (±1 px of anti-aliasing).
    assert min(ring_pixels) == pytest.approx(outer - ring, abs=1.5)
    assert max(ring_pixels) == pytest.approx(outer, abs=1.5)
    # Between the name and the ring (no code) there is only background.
    assert all(a == 0 for a in profile[round(outer - ring * 2.2) : round(outer - ring - 2)])


def test_cjk_glyphs_render_and_differ_from_notdef(
    seal_face: fonts.FontFace, hand_face: fonts.FontFace
) -> None:
    for face, text in ((seal_face, ORG + "合同专用章"), (hand_face, NAME + "欧阳娜娜")):
        notdef = _notdef(face)
        for ch in text:
            pixels = fonts._glyph_pixels(face.at(48), ch)
            assert pixels != notdef and any(pixels), (face.family, ch)
        assert missing_glyphs(face, text) == []


def test_rim_characters_are_really_drawn(seal_face: fonts.FontFace) -> None:
    """Changing one rim character changes pixels in the upper rim only (the text is on the image)."""
    a, geo = render_seal(SealSpec(SealShape.ROUND, ORG, "合同专用章", star=True), seal_face)
    b, _ = render_seal(SealSpec(SealShape.ROUND, "上海某某科技有限责任", "合同专用章", star=True), seal_face)
    ia, ib = _open(a).getchannel("A"), _open(b).getchannel("A")
    diff = [
        (x, y)
        for y in range(ia.height)
        for x in range(0, ia.width, 2)
        if abs(ia.getpixel((x, y)) - ib.getpixel((x, y))) > 128  # type: ignore[operator]
    ]
    assert len(diff) > 500
    # All of the difference is in the rim band (never in the star or the seal name).
    for x, y in diff:
        r = math.dist((x, y), geo.centre)
        assert r > geo.ring_outer[0] * 0.45


def test_missing_glyph_is_refused_never_tofu(seal_face: fonts.FontFace, hand_face: fonts.FontFace) -> None:
    hieroglyph = "\U00013000"  # EGYPTIAN HIEROGLYPH A001: in no CJK font
    assert missing_glyphs(seal_face, "合同" + hieroglyph) == [hieroglyph]
    with pytest.raises(GlyphMissing) as caught:
        render_seal(SealSpec(SealShape.ROUND, "某某" + hieroglyph + "公司"), seal_face)
    assert caught.value.code == "glyph_missing" and "U+13000" in str(caught.value)
    with pytest.raises(GlyphMissing):
        render_generated("张" + hieroglyph, hand_face)


def test_no_cjk_font_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(FontUnavailable) as caught:
        find_face(FontRole.SEAL, tmp_path / "missing.ttf")
    assert caught.value.code == "font_unavailable"
    monkeypatch.setitem(fonts._CANDIDATES, FontRole.HANDWRITING, ((tmp_path / "none.ttc", None),))
    with pytest.raises(FontUnavailable) as caught:
        find_face(FontRole.HANDWRITING)
    assert "fonts-noto-cjk" in str(caught.value)
    # A Latin-only font is not silently used for CJK: its glyphs are missing.
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if dejavu.is_file():
        with pytest.raises(GlyphMissing):
            render_generated(NAME, find_face(FontRole.HANDWRITING, dejavu))


def test_oval_and_square_variants(seal_face: fonts.FontFace) -> None:
    oval, geo = render_seal(SealSpec(SealShape.OVAL, ORG, "发票专用章", "91310115MA1K4ABC12"), seal_face)
    _keep("seal_oval.png", oval)
    image = _open(oval)
    assert image.width > image.height and geo.star_radius == 0
    a, b = geo.ring_outer
    cx, cy = geo.centre
    for degrees in range(0, 360, 10):
        t = math.radians(degrees)
        # On the ellipse ring (half a ring width inside its outer edge, along the normal-ish radius).
        x = cx + (a - geo.ring_width / 2) * math.cos(t)
        y = cy - (b - geo.ring_width / 2) * math.sin(t)
        assert image.getpixel((round(x), round(y)))[3] > 200, degrees  # type: ignore[index]
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]

    square, sgeo = render_seal(SealSpec(SealShape.SQUARE, "张三印"), seal_face)
    _keep("seal_square.png", square)
    simg = _open(square)
    assert simg.width == simg.height == 236
    border_mid = round(sgeo.ring_width / 2 + simg.width * 0.015)
    for point in ((simg.width // 2, border_mid), (border_mid, simg.height // 2)):
        assert simg.getpixel(point) == (*SEAL_RED, 255)  # type: ignore[arg-type]
    with pytest.raises(InvalidSealSpec):
        render_seal(SealSpec(SealShape.SQUARE, "张三", name="章"), seal_face)


def test_seal_spec_validation(seal_face: fonts.FontFace) -> None:
    bad = [
        SealSpec(SealShape.ROUND, ORG, code="有中文"),
        SealSpec(SealShape.ROUND, ORG, width_mm=5),
        SealSpec(SealShape.ROUND, ORG, width_mm=float("nan")),
        SealSpec(SealShape.OVAL, ORG, width_mm=30, height_mm=40),
        SealSpec(SealShape.ROUND, ORG, colour="red"),
    ]
    for spec in bad:
        with pytest.raises(InvalidSealSpec):
            spec.normalised()
    with pytest.raises(Exception) as caught:
        SealSpec(SealShape.ROUND, "").normalised()
    assert getattr(caught.value, "code", None) == "invalid_text"


def test_seals_are_deterministic(seal_face: fonts.FontFace) -> None:
    spec = SealSpec(SealShape.ROUND, ORG, "合同专用章", "3101150012345")
    assert render_seal(spec, seal_face)[0].png == render_seal(spec, seal_face)[0].png


# -- generated signature ----------------------------------------------------------------------------


def test_generated_cjk_name(hand_face: fonts.FontFace) -> None:
    rendered = render_generated(NAME, hand_face)
    _keep("generated_signature.png", rendered)
    image = _open(rendered)
    # About 12 mm high text (cropped): more than 8 mm, less than 20 mm; three glyphs wide.
    assert 8 < rendered.height_mm < 20 and rendered.width_px > 2 * rendered.height_px
    alpha = image.getchannel("A")
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    # Three separate glyphs: the ink columns fall into three runs.
    columns = [any(alpha.getpixel((x, y)) for y in range(alpha.height)) for x in range(alpha.width)]
    runs = sum(1 for i, c in enumerate(columns) if c and (i == 0 or not columns[i - 1]))
    assert runs >= 3
    assert render_generated(NAME, hand_face).png == rendered.png


# -- strokes ----------------------------------------------------------------------------------------


def _wave(pressure: float | None = None) -> list[dict[str, float]]:
    points = []
    for i in range(60):
        point = {"x": 20 + i * 4.0, "y": 60 + 25 * math.sin(i / 6), "t": i * 12.0}
        if pressure is not None:
            point["p"] = pressure
        points.append(point)
    return points


def test_strokes_render_where_drawn() -> None:
    raw = [_wave(), [{"x": 100.0, "y": 10.0, "t": 900.0}, {"x": 100.0, "y": 120.0, "t": 1100.0}]]
    strokes = parse_strokes(raw)
    rendered, layout = render_strokes(strokes, crop=False)
    image = _open(rendered)

    def at(x: float, y: float) -> tuple[int, int]:
        return round((x - layout.x0) * layout.scale + layout.pad), round(
            (y - layout.y0) * layout.scale + layout.pad
        )

    for point in raw[0][::5] + raw[1]:
        pixel = image.getpixel(at(point["x"], point["y"]))
        assert pixel[3] > 200, point  # type: ignore[index]
    # Far from any stroke: transparent.
    for x, y in ((250.0, 10.0), (20.0, 120.0), (180.0, 120.0)):
        assert image.getpixel(at(x, y))[3] == 0  # type: ignore[index]
    # Anti-aliased.
    assert any(0 < a < 255 for a in image.getchannel("A").get_flattened_data())

    cropped, _ = render_strokes(strokes)
    _keep("handwritten_signature.png", cropped)
    cimg = _open(cropped)
    bbox = cimg.getchannel("A").getbbox()
    assert bbox is not None and bbox[0] > 0 and bbox[1] > 0
    assert bbox[2] < cimg.width and bbox[3] < cimg.height
    # Cropping removes nothing but margin: the ink area is the same.
    assert sum(1 for a in cimg.getchannel("A").get_flattened_data() if a > 128) == sum(
        1 for a in image.getchannel("A").get_flattened_data() if a > 128
    )


def test_pressure_varies_width() -> None:
    varying = [{**p, "p": 0.1 if i < 30 else 1.0} for i, p in enumerate(_wave())]
    rendered, layout = render_strokes(parse_strokes([varying]), crop=False)
    alpha = _open(rendered).getchannel("A")

    def thickness(point: dict[str, float]) -> int:
        x = round((point["x"] - layout.x0) * layout.scale + layout.pad)
        return sum(1 for y in range(alpha.height) if alpha.getpixel((x, y)) > 128)  # type: ignore[operator]

    thin = thickness(varying[12])
    thick = thickness(varying[48])
    assert thick > thin * 1.8, (thin, thick)
    # A constant pressure (what a mouse reports: 0.5) is no pressure: the width follows the speed.
    flat, _ = render_strokes(parse_strokes([_wave(0.5)]), crop=False)
    assert flat.png == render_strokes(parse_strokes([_wave()]), crop=False)[0].png


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "abc",
        [[]],
        [[{"x": float("nan"), "y": 1}]],
        [[{"x": float("inf"), "y": 1}]],
        [[{"x": 1, "y": -1}]],
        [[{"x": True, "y": 1}]],
        [[{"x": "1", "y": 1}]],
        [[{"x": 1}]],
        [[{"x": 1, "y": 1, "z": 2}]],
        [[{"x": 1, "y": 1, "p": 1.5}]],
        [[{"x": 1, "y": 1, "t": 50}, {"x": 2, "y": 2, "t": 10}]],
        [[{"x": 1, "y": 1}]] * 201,
        [[{"x": 1, "y": 1}] * 5001],
        [[{"x": 1, "y": 1}] * 4000] * 6,
    ],
)
def test_invalid_strokes(raw: object) -> None:
    with pytest.raises(InvalidStrokes) as caught:
        parse_strokes(raw)
    assert caught.value.code == "invalid_strokes"


def test_single_point_is_a_dot() -> None:
    rendered, _ = render_strokes(parse_strokes([[{"x": 5, "y": 5}]]))
    image = _open(rendered)
    assert image.getpixel((image.width // 2, image.height // 2))[3] == 255  # type: ignore[index]


# -- scans ------------------------------------------------------------------------------------------


def _fake_scan(seal_face: fonts.FontFace, fmt: str) -> tuple[bytes, tuple[int, int, int, int]]:
    """A seal stamped in faded red on off-white noisy paper, over black printed text."""
    seal, _ = render_seal(SealSpec(SealShape.ROUND, ORG, "合同专用章"), seal_face)
    stamp = Image.open(io.BytesIO(seal.png)).convert("RGBA")
    rng = random.Random(7)
    paper = Image.new("RGB", (700, 650), (246, 243, 236))
    noise = Image.effect_noise((700, 650), 6).convert("L")
    paper = Image.composite(
        paper, Image.new("RGB", paper.size, (232, 229, 220)), noise.point(lambda v: 255 if v > 100 else 0)
    )
    draw = ImageDraw.Draw(paper)
    for row in range(6):
        draw.rectangle((40, 60 + row * 90, 40 + rng.randint(400, 620), 72 + row * 90), fill=(25, 25, 25))
    faded = Image.new("RGBA", stamp.size, (205, 45, 50, 0))
    faded.putalpha(stamp.getchannel("A").point(lambda v: v * 220 // 255))
    paper.paste(faded, (100, 80), faded)
    out = io.BytesIO()
    paper.save(out, format=fmt, dpi=(300, 300), **({"quality": 92} if fmt == "JPEG" else {}))
    return out.getvalue(), (100, 80, 100 + stamp.width, 80 + stamp.height)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_scan_background_removed_red_ink_kept(seal_face: fonts.FontFace, fmt: str) -> None:
    data, box = _fake_scan(seal_face, fmt)
    rendered = remove_background(data)
    _keep(f"seal_scan_{fmt.lower()}.png", rendered)
    image = _open(rendered)
    # Cropped to the seal (± a few pixels of margin and JPEG fringe).
    assert abs(image.width - (box[2] - box[0])) < 16 and abs(image.height - (box[3] - box[1])) < 16
    alpha = image.getchannel("A")
    # The paper and the black text are gone: corners and a spot of text outside the ring transparent.
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((image.width - 1, image.height - 1)) == 0
    opaque = [p for p in image.get_flattened_data() if p[3] == 255]
    assert len(opaque) > 10_000
    assert all(p[0] >= 200 and p[1] <= 40 and p[2] <= 40 for p in opaque)
    # The star centre is ink.
    centre = image.getpixel((image.width // 2, image.height // 2))
    assert centre[3] == 255  # type: ignore[index]
    # Transparent pixels carry no paper colour.
    assert all(p[:3] == (0, 0, 0) for p in image.get_flattened_data() if p[3] == 0)


def test_scan_rejects_non_images_and_blank_paper() -> None:
    for data in (b"GIF89a....", b"%PDF-1.7", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40):
        with pytest.raises(InvalidImage):
            remove_background(data)
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), (250, 250, 250)).save(blank, format="PNG")
    with pytest.raises(InvalidImage, match="No red seal ink"):
        remove_background(blank.getvalue())


_VALUE = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
)
_POINT = st.dictionaries(st.sampled_from(["x", "y", "t", "p", "q"]), _VALUE, max_size=5)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_POINT, max_size=6), max_size=4))
def test_parse_strokes_accepts_or_raises_invalid_strokes(raw: list[list[dict[str, object]]]) -> None:
    """Any JSON-shaped input either parses to finite, bounded points or raises ``invalid_strokes``."""
    try:
        strokes = parse_strokes(raw)
    except InvalidStrokes:
        return
    for stroke in strokes.strokes:
        for point in stroke:
            assert 0 <= point.x <= 10_000 and 0 <= point.y <= 10_000
            assert point.pressure is None or 0 <= point.pressure <= 1
    rendered, _ = render_strokes(strokes)
    assert rendered.png.startswith(b"\x89PNG")
