"""The pre-check: what counts as active content, found where ISO 32000-2 puts it; typed errors."""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from sealpact.signing import precheck
from sealpact.signing.errors import DamagedPdf, NotAPdf
from tests.test_signing_support import make_pdf


def _with(update: object) -> bytes:
    writer = IncrementalPdfFileWriter(io.BytesIO(make_pdf(2)))
    update(writer)  # type: ignore[operator]
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _d(**items: object) -> generic.DictionaryObject:
    return generic.DictionaryObject({pdf_name("/" + k): v for k, v in items.items()})  # type: ignore[misc]


def launch_on_page_2(writer: IncrementalPdfFileWriter) -> None:
    page = writer.find_page_for_modification(1)[0].get_object()
    action = _d(S=pdf_name("/Launch"), F=pdf_string("calc.exe"))
    link = _d(Type=pdf_name("/Annot"), Subtype=pdf_name("/Link"), Rect=generic.ArrayObject(), A=action)
    page[pdf_name("/Annots")] = generic.ArrayObject([writer.add_object(link)])
    writer.update_container(page)


def embedded_file(writer: IncrementalPdfFileWriter) -> None:
    tree = _d(
        Names=generic.ArrayObject([pdf_string("a.exe"), writer.add_object(_d(Type=pdf_name("/Filespec")))])
    )
    writer.root[pdf_name("/Names")] = _d(EmbeddedFiles=tree)
    writer.update_root()


def chained_javascript(writer: IncrementalPdfFileWriter) -> None:
    script = _d(S=pdf_name("/JavaScript"), JS=pdf_string("this.print()"))
    writer.root[pdf_name("/AA")] = _d(WC=_d(S=pdf_name("/GoTo"), D=generic.ArrayObject(), Next=script))
    writer.update_root()


@pytest.mark.parametrize(
    ("update", "finding"),
    [
        (launch_on_page_2, "launch action in an annotation on page 2"),
        (embedded_file, "embedded files (/Names /EmbeddedFiles)"),
        (chained_javascript, "JavaScript action in the document additional action /WC"),
    ],
)
def test_active_content_is_found(update: object, finding: str) -> None:
    inspection = precheck.inspect(io.BytesIO(_with(update)))
    assert inspection.findings == (finding,)
    assert inspection.page_count == 2


def test_clean_document_and_typed_errors() -> None:
    assert precheck.inspect(io.BytesIO(make_pdf(3))).findings == ()
    with pytest.raises(NotAPdf):
        precheck.inspect(io.BytesIO(b"GIF89a" + b"\0" * 100))
    truncated = make_pdf(1)[:-200]
    with pytest.raises(DamagedPdf):
        precheck.inspect(io.BytesIO(truncated))
