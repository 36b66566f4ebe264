"""Signature and seal appearances: handwriting strokes, generated signatures, enterprise seals, scans.

Pure renderers (:mod:`strokes`, :mod:`generated`, :mod:`seal`, :mod:`scan`) turn inputs into a transparent
RGBA PNG at print resolution (:class:`~sealpact.seals.render.RenderedImage`); :mod:`service` stores them
as encrypted blobs per user or organization. The signing engine takes ``RenderedImage.png`` and its
physical size for a visible signature.
"""
