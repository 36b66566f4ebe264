"""Finding CJK fonts and proving every character has a real glyph (no tofu boxes).

Choices (Debian packages, installed by ``scripts/system-deps.sh``):

- handwriting-style signatures: AR PL UKai (``fonts-arphic-ukai``), a free Kaiti (楷体) font - Kaiti is
  the brush-written regular script people expect of a generated Chinese signature. Fallback: AR PL
  KaitiM GB, LXGW WenKai, then Noto Sans CJK SC (legible but not handwriting-like; chosen over failing
  because a generated signature is a convenience, and its look is not evidence).
- seals: Noto Serif CJK SC Bold (``fonts-noto-cjk``): official seals use a heavy Song/FangSong-like
  face; Noto Sans CJK SC Bold as fallback.

Missing glyph detection: FreeType maps an unmapped code point to glyph 0 (``.notdef``). We render each
character alone and compare it with the rendering of U+FFFF (a noncharacter no font maps); equal pixels,
or an empty rendering of a non-space character, mean the font cannot draw it.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sealpact.seals.errors import FontUnavailable, GlyphMissing, InvalidText

NOTO = Path("/usr/share/fonts/opentype/noto")
ARPHIC = Path("/usr/share/fonts/truetype/arphic")


class FontRole(StrEnum):
    HANDWRITING = "handwriting"
    SEAL = "seal"


# (file, family name of the face to pick in a collection; None = the first face)
_CANDIDATES: dict[FontRole, tuple[tuple[Path, str | None], ...]] = {
    FontRole.HANDWRITING: (
        (ARPHIC / "ukai.ttc", "AR PL UKai CN"),
        (ARPHIC / "gkai00mp.ttf", None),
        (Path("/usr/share/fonts/truetype/lxgw/LXGWWenKai-Regular.ttf"), None),
        (NOTO / "NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ),
    FontRole.SEAL: (
        (NOTO / "NotoSerifCJK-Bold.ttc", "Noto Serif CJK SC"),
        (NOTO / "NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
        (ARPHIC / "ukai.ttc", "AR PL UKai CN"),
    ),
}
_INSTALL_HINT = "install fonts-noto-cjk and fonts-arphic-ukai (scripts/system-deps.sh)"


@dataclass(frozen=True)
class FontFace:
    path: Path
    index: int
    family: str

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        return _load(self.path, self.index, max(4, int(size)))


@functools.lru_cache(maxsize=64)
def _load(path: Path, index: int, size: int) -> ImageFont.FreeTypeFont:
    # BASIC layout: no dependence on the libraqm version, so the same input renders the same pixels.
    return ImageFont.truetype(str(path), size, index=index, layout_engine=ImageFont.Layout.BASIC)


@functools.lru_cache(maxsize=32)
def _face_in(path: Path, family: str | None) -> FontFace | None:
    # Cached per process: probing a collection opens every face. A font installed later is seen after
    # a restart.
    if not path.is_file():
        return None
    for index in range(16):
        try:
            font = ImageFont.truetype(str(path), 16, index=index)
        except OSError:
            return None  # past the last face of a collection, or not a font at all
        name = font.getname()[0] or ""
        if family is None or name == family:
            return FontFace(path, index, name)
    return None


def find_face(role: FontRole, override: Path | None = None) -> FontFace:
    """The font for ``role``: ``override`` when configured, else the first installed candidate."""
    if override is not None:
        face = _face_in(override, None)
        if face is None:
            raise FontUnavailable(f"The configured {role.value} font {override} cannot be loaded.")
        return face
    for path, family in _CANDIDATES[role]:
        face = _face_in(path, family)
        if face is not None:
            return face
    raise FontUnavailable(f"No CJK font for {role.value} appearances is installed; {_INSTALL_HINT}.")


def clean_text(text: str, *, what: str, max_chars: int, allow_empty: bool = False) -> str:
    """NFC-normalised, trimmed text without control or format characters."""
    text = unicodedata.normalize("NFC", text).strip()
    if not text and not allow_empty:
        raise InvalidText(f"The {what} is empty.")
    if len(text) > max_chars:
        raise InvalidText(f"The {what} is longer than {max_chars} characters.")
    if any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidText(f"The {what} contains control characters.")
    return text


def _glyph_pixels(font: ImageFont.FreeTypeFont, text: str) -> bytes:
    size = int(font.size)
    canvas = Image.new("L", (size * 3, size * 3), 0)
    ImageDraw.Draw(canvas).text((size, size), text, font=font, fill=255)
    return canvas.tobytes()


def missing_glyphs(face: FontFace, text: str) -> list[str]:
    """Characters of ``text`` that ``face`` would draw as .notdef (or not at all)."""
    font = face.at(48)
    notdef = _glyph_pixels(font, "\uffff")
    missing = []
    for ch in dict.fromkeys(text):
        if ch.isspace():
            continue
        pixels = _glyph_pixels(font, ch)
        if pixels == notdef or not any(pixels):
            missing.append(ch)
    return missing


def require_glyphs(face: FontFace, text: str) -> None:
    missing = missing_glyphs(face, text)
    if missing:
        shown = " ".join(f"U+{ord(ch):04X}" for ch in missing[:8])
        raise GlyphMissing(f"The font {face.family} has no glyph for {shown}.")
