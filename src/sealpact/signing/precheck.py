# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""Input checks before signing or verifying: is it a readable, unencrypted PDF, and what active content
does it carry.

Parsing is pyHanko's strict reader, which refuses broken cross-reference tables instead of repairing them
(a repaired file would be a different document from the one the sender saw). Active content is looked
for where ISO 32000-2 puts it: the catalog's /OpenAction and /AA (section 12.6.3), the /JavaScript and
/EmbeddedFiles name trees (section 7.7.4), page /AA and annotation actions (section 12.5), and
FileAttachment annotations (section 12.5.6.15). It is reported, not executed or removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from sealpact.signing.errors import DamagedPdf, EncryptedPdf, NotAPdf

HEADER_WINDOW = 1024  # ISO 32000-2 section 7.5.2; readers accept the header within the first 1 KiB
_DANGEROUS_ACTIONS = {"/JavaScript": "JavaScript action", "/Launch": "launch action"}
_MAX_PAGES_SCANNED = 10_000


@dataclass(frozen=True)
class Inspection:
    """What the pre-check found: the open reader and findings to show the sender."""

    reader: PdfFileReader
    findings: tuple[str, ...]
    page_count: int


def open_pdf(stream: IO[bytes]) -> PdfFileReader:
    """Open ``stream`` strictly; raise a typed error for non-PDFs, encrypted files and broken xrefs."""
    stream.seek(0)
    head = stream.read(HEADER_WINDOW)
    if b"%PDF-" not in head:
        raise NotAPdf("the file is not a PDF (no %PDF- header)")
    stream.seek(0)
    try:
        reader = PdfFileReader(stream, strict=True)
        encrypted = reader.encrypted
        root = reader.root
        _ = root["/Pages"]
    except Exception as exc:  # hostile input: any parser failure (filters, zlib, DER) is "damaged"
        raise DamagedPdf(f"the PDF structure is damaged: {_short(exc)}") from exc
    if encrypted:
        raise EncryptedPdf("the PDF is encrypted or password-protected; remove the protection first")
    return reader


def inspect(stream: IO[bytes]) -> Inspection:
    """Open and scan for active content (findings are sentences naming where it was found)."""
    reader = open_pdf(stream)
    try:
        findings, pages = _scan(reader)
    except DamagedPdf:
        raise
    except Exception as exc:  # as in open_pdf
        raise DamagedPdf(f"the PDF structure is damaged: {_short(exc)}") from exc
    return Inspection(reader=reader, findings=tuple(findings), page_count=pages)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _get(obj: Any, key: str) -> Any:
    if not isinstance(obj, generic.DictionaryObject):
        return None
    value = obj.get(key)
    return value.get_object() if isinstance(value, generic.PdfObject) else value


def _action_findings(action: Any, where: str, out: list[str], depth: int = 0) -> None:
    if depth > 8 or not isinstance(action, generic.DictionaryObject):
        return
    kind = _get(action, "/S")
    if kind in _DANGEROUS_ACTIONS:
        out.append(f"{_DANGEROUS_ACTIONS[str(kind)]} in {where}")
    following = _get(action, "/Next")  # section 12.6.2: /Next chains further actions
    if isinstance(following, generic.ArrayObject):
        for item in following:
            _action_findings(item.get_object(), where, out, depth + 1)
    else:
        _action_findings(following, where, out, depth + 1)


def _aa_findings(holder: Any, where: str, out: list[str]) -> None:
    triggers = _get(holder, "/AA")
    if isinstance(triggers, generic.DictionaryObject):
        for trigger in triggers:
            _action_findings(_get(triggers, trigger), f"{where} additional action {trigger}", out)


def iter_pages(reader: PdfFileReader) -> Any:
    """Page dictionaries in order (ISO 32000-2 section 7.7.3.2), refusing cycles in the page tree."""
    stack: list[Any] = [reader.root["/Pages"]]
    seen: set[int] = set()
    yielded = 0
    while stack and yielded < _MAX_PAGES_SCANNED:
        ref = stack.pop()
        node = ref.get_object()
        if id(node) in seen:
            raise DamagedPdf("the page tree has a cycle")
        seen.add(id(node))
        if _get(node, "/Type") == "/Pages" or "/Kids" in node:
            stack.extend(reversed(list(_get(node, "/Kids") or [])))
        else:
            yielded += 1
            yield node


def _scan(reader: PdfFileReader) -> tuple[list[str], int]:
    out: list[str] = []
    root = reader.root
    _action_findings(_get(root, "/OpenAction"), "the document open action", out)
    _aa_findings(root, "the document", out)
    names = _get(root, "/Names")
    if isinstance(names, generic.DictionaryObject):
        if names.get("/JavaScript") is not None:
            out.append("document-level JavaScript (/Names /JavaScript)")
        if names.get("/EmbeddedFiles") is not None:
            out.append("embedded files (/Names /EmbeddedFiles)")
    acroform = _get(root, "/AcroForm")
    if isinstance(acroform, generic.DictionaryObject) and acroform.get("/XFA") is not None:
        out.append("an XFA form (scriptable)")
    count = 0
    for index, page in enumerate(iter_pages(reader)):
        count += 1
        where = f"page {index + 1}"
        _aa_findings(page, where, out)
        annots = _get(page, "/Annots")
        if not isinstance(annots, generic.ArrayObject):
            continue
        for annot_ref in annots:
            annot = annot_ref.get_object()
            if _get(annot, "/Subtype") == "/FileAttachment":
                out.append(f"a file attachment annotation on {where}")
            _action_findings(_get(annot, "/A"), f"an annotation on {where}", out)
            _aa_findings(annot, f"an annotation on {where}", out)
    return out, count
