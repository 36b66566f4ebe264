# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""Cross-page seal (骑缝章): one seal image cut into vertical strips, strip *i* on the right edge of page
*i*, so the pages of a printed contract line up into the whole seal and a swapped page shows.

Each strip is a /Stamp annotation (ISO 32000-2 section 12.5.6.12) with flags Print and Locked, added in
the same revision as the signature, so the signature covers it. DocMDP P=2 allows no new annotations
after the certification signature, which is why only the first (certifying) signer can place one.
"""

from __future__ import annotations

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from sealpact.signing.appearance import slices

SEAL_HEIGHT_PT = 120.0  # a round enterprise seal is 40-45 mm across; 120 pt is 42 mm
FLAG_PRINT, FLAG_LOCKED = 4, 128


def add_cross_page_seal(writer: IncrementalPdfFileWriter, seal_png: bytes, field: str) -> int:
    """Add one strip per page; returns the number of pages stamped."""
    pages = int(writer.root["/Pages"]["/Count"])
    strips = slices(seal_png, pages)
    for index, strip in enumerate(strips):
        page_ref = writer.find_page_for_modification(index)[0]
        page = page_ref.get_object()
        _x1, y1, x2, y2 = (float(v) for v in page.get("/CropBox", page["/MediaBox"]))
        height = min(SEAL_HEIGHT_PT, y2 - y1)
        width = height * strip.width / strip.height
        bottom = y1 + (y2 - y1 - height) / 2
        rect = (x2 - width, bottom, x2, bottom + height)
        image = PdfImage(strip, writer=writer)
        appearance = generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Form"),
                pdf_name("/BBox"): generic.ArrayObject(
                    [
                        generic.FloatObject(0),
                        generic.FloatObject(0),
                        generic.FloatObject(width),
                        generic.FloatObject(height),
                    ]
                ),
                pdf_name("/Resources"): generic.DictionaryObject(
                    {pdf_name("/XObject"): generic.DictionaryObject({pdf_name("/Seal"): image.image_ref})}
                ),
            },
            stream_data=f"q {width:.3f} 0 0 {height:.3f} 0 0 cm /Seal Do Q".encode(),
        )
        annot = generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/Stamp"),
                pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in rect),
                pdf_name("/F"): generic.NumberObject(FLAG_PRINT | FLAG_LOCKED),
                pdf_name("/NM"): pdf_string(f"{field}.crosspage.{index + 1}"),
                pdf_name("/Contents"): pdf_string(f"cross-page seal {index + 1}/{pages} of {field}"),
                pdf_name("/P"): page_ref,
                pdf_name("/AP"): generic.DictionaryObject({pdf_name("/N"): writer.add_object(appearance)}),
            }
        )
        ref = writer.add_object(annot)
        annots = page.get("/Annots")
        if annots is None:
            page[pdf_name("/Annots")] = generic.ArrayObject([ref])
        else:
            annots.get_object().append(ref)
            if isinstance(page.raw_get("/Annots"), generic.IndirectObject):
                writer.mark_update(page.raw_get("/Annots"))
        writer.update_container(page)
    return pages
