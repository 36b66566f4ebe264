"""Errors of the appearances package: one root, each with a stable code."""

from __future__ import annotations

from sealpact.errors import NotFound, SealpactError


class SealError(SealpactError):
    code = "seal_error"
    http_status = 422


class FontUnavailable(SealError):
    """No usable CJK font is installed (never fall back to a font that would draw tofu boxes)."""

    code = "font_unavailable"
    http_status = 503


class GlyphMissing(SealError):
    """The font has no glyph for a character of the text (it would render as a .notdef box)."""

    code = "glyph_missing"


class InvalidStrokes(SealError):
    code = "invalid_strokes"


class InvalidSealSpec(SealError):
    code = "invalid_seal_spec"


class InvalidImage(SealError):
    """An uploaded scan that is not a PNG/JPEG we accept, too large, or holds no seal ink."""

    code = "invalid_image"


class AppearanceNotFound(NotFound):
    code = "appearance_not_found"


class InvalidText(SealError):
    """Text for an appearance that is empty, too long or holds control characters."""

    code = "invalid_text"


class NotVerified(SealError):
    """A generated signature or seal text needs a verified real name, and there is none."""

    code = "not_verified"
    http_status = 409
