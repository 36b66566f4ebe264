# pyHanko's PDF object model (generic.*, writer methods) is only partly annotated.
# mypy: disable-error-code="no-untyped-call"
"""Signature and date fields created before anyone signs, each signature field carrying a FieldMDP lock.

ISO 32000-2 section 12.8.2.4: a signature field's /Lock dictionary names the fields its signature
locks; a later change to a locked field invalidates that signature for validators that honour FieldMDP
(pyHanko's difference analysis does). Signer *i*'s lock names its own signature and date fields and
every earlier signature field, so a later signer can fill and sign only its own. Earlier signers' date
fields are not in later locks: each is locked by its own signer's signature already, and listing it
again trips pyHanko 0.38's check of in-place appearance updates (it reports an unchanged, older
appearance stream as updated). The fields are added in one unsigned incremental update before the
certification signature, so every signature covers them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields as pyhanko_fields

from sealpact.signing.appearance import Placement
from sealpact.signing.errors import FieldError

DATE_SUFFIX = "_date"
_HELVETICA = "/SealpactHelv"


@dataclass(frozen=True)
class FieldSpec:
    """A signer's slot: the signature field, where it shows (None: invisible), and an optional date field."""

    name: str
    placement: Placement | None = None
    date_placement: Placement | None = None

    def __post_init__(self) -> None:
        if not self.name or "." in self.name or len(self.name) > 64 or not self.name.isprintable():
            raise FieldError("a field name is 1-64 printable characters without '.'")

    @property
    def date_field(self) -> str | None:
        return self.name + DATE_SUFFIX if self.date_placement is not None else None


def add_fields(writer: IncrementalPdfFileWriter, specs: Sequence[FieldSpec]) -> None:
    """Append the fields of ``specs`` (signing order) to the writer, with cumulative FieldMDP locks."""
    names = [s.name for s in specs] + [s.date_field for s in specs if s.date_field]
    if len(set(names)) != len(names):
        raise FieldError("field names must be unique")
    existing = {name for name, _, _ in pyhanko_fields.enumerate_sig_fields(writer.prev, filled_status=None)}
    if existing & set(names):
        raise FieldError(f"fields already exist: {', '.join(sorted(existing & set(names)))}")
    page_count = int(writer.root["/Pages"]["/Count"])
    locked: list[str] = []
    for spec in specs:
        for placement in (spec.placement, spec.date_placement):
            if placement is not None and placement.page >= page_count:
                raise FieldError(f"field {spec.name}: page {placement.page + 1} does not exist")
        own = [spec.name]
        if spec.date_field is not None and spec.date_placement is not None:
            _add_text_field(writer, spec.date_field, spec.date_placement)
            own.append(spec.date_field)
        locked.append(spec.name)
        pyhanko_fields.append_signature_field(
            writer,
            pyhanko_fields.SigFieldSpec(
                sig_field_name=spec.name,
                on_page=spec.placement.page if spec.placement else 0,
                box=spec.placement.box if spec.placement else None,
                field_mdp_spec=pyhanko_fields.FieldMDPSpec(
                    pyhanko_fields.FieldMDPAction.INCLUDE, fields=sorted({*locked, *own})
                ),
            ),
        )


def _acroform(writer: IncrementalPdfFileWriter) -> generic.DictionaryObject:
    root = writer.root
    try:
        form = root["/AcroForm"]
    except KeyError:
        form = generic.DictionaryObject({pdf_name("/Fields"): generic.ArrayObject()})
        root[pdf_name("/AcroForm")] = writer.add_object(form)
        writer.update_root()
        return form
    assert isinstance(form, generic.DictionaryObject)
    writer.update_container(form)
    return form


def _helvetica(writer: IncrementalPdfFileWriter, form: generic.DictionaryObject) -> None:
    resources = form.setdefault(pdf_name("/DR"), generic.DictionaryObject())
    fonts = resources.get_object().setdefault(pdf_name("/Font"), generic.DictionaryObject())
    fonts = fonts.get_object()
    if _HELVETICA not in fonts:
        fonts[pdf_name(_HELVETICA)] = writer.add_object(
            generic.DictionaryObject(
                {
                    pdf_name("/Type"): pdf_name("/Font"),
                    pdf_name("/Subtype"): pdf_name("/Type1"),
                    pdf_name("/BaseFont"): pdf_name("/Helvetica"),
                    pdf_name("/Encoding"): pdf_name("/WinAnsiEncoding"),
                }
            )
        )


def _add_text_field(writer: IncrementalPdfFileWriter, name: str, placement: Placement) -> None:
    form = _acroform(writer)
    _helvetica(writer, form)
    page_ref_obj = writer.find_page_for_modification(placement.page)[0]
    field = generic.DictionaryObject(
        {
            pdf_name("/FT"): pdf_name("/Tx"),
            pdf_name("/T"): pdf_string(name),
            pdf_name("/Type"): pdf_name("/Annot"),
            pdf_name("/Subtype"): pdf_name("/Widget"),
            pdf_name("/Rect"): generic.ArrayObject(generic.FloatObject(v) for v in placement.box),
            pdf_name("/F"): generic.NumberObject(4),  # print
            pdf_name("/Ff"): generic.NumberObject(1),  # read-only for viewers: the engine fills it
            pdf_name("/DA"): pdf_string(f"{_HELVETICA} 9 Tf 0 g"),
            pdf_name("/P"): page_ref_obj,
        }
    )
    ref = writer.add_object(field)
    form["/Fields"].append(ref)
    page = page_ref_obj.get_object()
    annots = page.get("/Annots")
    if annots is None:
        page[pdf_name("/Annots")] = generic.ArrayObject([ref])
    else:
        annots.get_object().append(ref)
        if isinstance(annots, generic.IndirectObject):
            writer.mark_update(annots)
    writer.update_container(page)


def fill_date_field(writer: IncrementalPdfFileWriter, name: str, text: str) -> bool:
    """Put ``text`` into the empty text field ``name`` with an appearance stream; False if there is none."""
    try:
        fields = writer.root["/AcroForm"]["/Fields"]
    except KeyError:
        return False
    for ref in fields:
        field = ref.get_object()
        if field.get("/FT") != "/Tx" or field.get("/T") != name:
            continue
        if field.get("/V"):
            raise FieldError(f"the date field {name} is already filled")
        x1, y1, x2, y2 = (float(v) for v in field["/Rect"])
        width, height = x2 - x1, y2 - y1
        size = max(6.0, min(10.0, height - 4))
        baseline = (height - size) / 2 + 1
        content = f"/Tx BMC q BT {_HELVETICA} {size:.1f} Tf 0 g 2 {baseline:.1f} Td ({text}) Tj ET Q EMC"
        form = writer.root["/AcroForm"]
        resources = generic.DictionaryObject({pdf_name("/Font"): form["/DR"]["/Font"]})
        stream = generic.StreamObject(
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
                pdf_name("/Resources"): resources,
            },
            stream_data=content.encode("latin-1"),
        )
        field[pdf_name("/V")] = pdf_string(text)
        field[pdf_name("/AP")] = generic.DictionaryObject({pdf_name("/N"): writer.add_object(stream)})
        writer.mark_update(ref)
        return True
    return False
