"""Document intake: size limits while streaming, content sniffing, office -> PDF conversion, page geometry.

Uploads stream into encrypted storage through :meth:`BlobService.put_in` with ``max_size`` set to the
smaller of the per-file limit and what is left of the per-contract budget, so an oversized upload fails
after at most that many bytes (the web layer refuses a too-large ``Content-Length`` before reading at
all). A copy is spooled to a temporary file under the data directory for parsing and conversion, and
removed afterwards.

DOCX/ODT/DOC are converted with LibreOffice headless (``soffice --headless --convert-to pdf``) behind
the :class:`DocumentConverter` Protocol; when LibreOffice is not installed the upload fails with
``converter_unavailable`` naming the package to install.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from pyhanko.pdf_utils import generic, misc

from sealpact.contracts.errors import (
    ConversionFailed,
    ConverterUnavailable,
    DocumentTooLarge,
    TooManyPages,
    UnsupportedDocument,
)
from sealpact.files.sniff import UnsupportedContent, checked, normalise_type
from sealpact.signing.errors import SigningError
from sealpact.signing.precheck import open_pdf

PDF = "application/pdf"
OFFICE_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/msword": ".doc",
}
ACCEPTED = frozenset({PDF, *OFFICE_TYPES})


def accepted_type(content_type: str | None) -> str:
    try:
        media_type = normalise_type(content_type)
    except UnsupportedContent:
        media_type = ""
    if media_type not in ACCEPTED:
        raise UnsupportedDocument("Contract documents are PDF, DOCX, ODT or DOC.")
    return media_type


def sniffed(chunks: Iterable[bytes], media_type: str) -> Iterator[bytes]:
    try:
        yield from checked(chunks, media_type)
    except UnsupportedContent as exc:
        raise UnsupportedDocument(exc.message) from None


def teed(chunks: Iterable[bytes], spool: IO[bytes], limit: int) -> Iterator[bytes]:
    """Pass chunks through while copying them to ``spool``; stop at ``limit`` bytes."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(f"The document exceeds the limit of {limit} bytes.")
        spool.write(chunk)
        yield chunk


@dataclass(frozen=True)
class PdfGeometry:
    page_sizes: list[list[float]]  # [width, height] in points, per page

    @property
    def page_count(self) -> int:
        return len(self.page_sizes)


def pdf_geometry(stream: IO[bytes], max_pages: int) -> PdfGeometry:
    """Open strictly (typed errors for non-PDF, encrypted, damaged) and read each page's visible box."""
    try:
        reader = open_pdf(stream)
        count = int(reader.root["/Pages"]["/Count"])
        if count < 1:
            raise UnsupportedDocument("The PDF has no pages.")
        if count > max_pages:
            raise TooManyPages(f"The document has {count} pages; the limit is {max_pages}.")
        sizes: list[list[float]] = []
        for index in range(count):
            page_ref, _ = reader.find_page_for_modification(index)  # type: ignore[no-untyped-call]
            page = page_ref.get_object()
            box = _inherited(page, "/CropBox") or _inherited(page, "/MediaBox")
            if box is None:
                raise UnsupportedDocument("A page of the PDF has no size.")
            x1, y1, x2, y2 = (float(v) for v in box)
            sizes.append([round(abs(x2 - x1), 2), round(abs(y2 - y1), 2)])
        return PdfGeometry(sizes)
    except SigningError as exc:
        raise UnsupportedDocument(exc.message, code=exc.code) from None
    except (misc.PdfError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise UnsupportedDocument(f"The PDF structure is damaged ({type(exc).__name__}).") from None


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    """A page attribute, looked up through /Parent (ISO 32000-2 section 7.7.3.4, inheritable entries)."""
    node: Any = page
    for _ in range(64):
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent.get_object()
    return None


class DocumentConverter(Protocol):
    def to_pdf(self, source: Path, workdir: Path) -> Path: ...


class LibreOfficeConverter:
    """``soffice --headless --convert-to pdf`` with its own throw-away user profile and a timeout."""

    def __init__(self, binary: str = "soffice", timeout: float = 120.0) -> None:
        self._binary = binary
        self._timeout = timeout

    def to_pdf(self, source: Path, workdir: Path) -> Path:
        executable = shutil.which(self._binary)
        if executable is None:
            raise ConverterUnavailable(
                "DOCX/ODT/DOC need LibreOffice headless, which is not installed "
                "(apt-get install libreoffice-writer-nogui); upload a PDF instead."
            )
        profile = workdir / "lo-profile"
        try:
            subprocess.run(  # noqa: S603 (fixed argv, no shell)
                [
                    executable,
                    f"-env:UserInstallation={profile.as_uri()}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(workdir / "out"),
                    str(source),
                ],
                check=True,
                capture_output=True,
                timeout=self._timeout,
            )
        except subprocess.TimeoutExpired:
            raise ConversionFailed("The document took too long to convert.") from None
        except subprocess.CalledProcessError:
            raise ConversionFailed("LibreOffice could not convert the document.") from None
        result = workdir / "out" / (source.stem + ".pdf")
        if not result.is_file():
            raise ConversionFailed("LibreOffice produced no PDF for the document.")
        return result


def temp_dir(data_dir: Path) -> tempfile.TemporaryDirectory[str]:
    base = data_dir / "tmp"
    base.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=base, prefix="contract-")
