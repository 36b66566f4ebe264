"""Signature and seal appearances: handwriting strokes, generated signatures, enterprise seals, scans.

Pure renderers (:mod:`strokes`, :mod:`generated`, :mod:`seal`, :mod:`scan`; fonts in :mod:`fonts`)
turn inputs into a transparent RGBA PNG at print resolution
(:class:`~sealpact.seals.render.RenderedImage`); :mod:`service` stores them as encrypted blobs per user
or organization (table in :mod:`models`), and ``service.png_for_signing`` hands the contract flow a
party's seal or signature inside its transaction. The signing engine takes the PNG and its physical
size for a visible signature.
"""
