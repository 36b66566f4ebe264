"""Helpers for the signing tests and bench: generated PDFs, signer credentials from the platform CA, and
the external validators (pdfsig, openssl cms, qpdf)."""

from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

from sealpact.pki.policy import SubjectIdentity, SubjectKind, VerificationLevel
from sealpact.pki.signing_key import KeyAlgorithm, SoftwareSigningKey
from sealpact.runtime import Runtime
from sealpact.signing import SignerCredentials

ID_NUMBERS = ("11010519491231002X", "110105194912310037", "440524188001010014")


def make_pdf(
    pages: int = 1, *, payload_bytes: int = 0, extra_catalog: dict[str, object] | None = None
) -> bytes:
    """A plain PDF with ``pages`` text pages; ``payload_bytes`` of incompressible image data on page 1."""
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    for index in range(pages):
        text = f"BT /F1 14 Tf 72 760 Td (Contract page {index + 1} of {pages}) Tj ET\n"
        body = text + "".join(
            f"BT /F1 10 Tf 72 {700 - 14 * i} Td (Clause {i + 1}.) Tj ET\n" for i in range(30)
        )
        resources = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
        )
        if index == 0 and payload_bytes:
            side = max(1, int((payload_bytes / 3) ** 0.5))
            image = generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Image"),
                    pdf_name("/Width"): generic.NumberObject(side),
                    pdf_name("/Height"): generic.NumberObject(side),
                    pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"),
                    pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                },
                stream_data=os.urandom(side * side * 3),
            )
            resources[pdf_name("/XObject")] = generic.DictionaryObject(
                {pdf_name("/Im1"): writer.add_object(image)}
            )
            body += "q 200 0 0 200 300 100 cm /Im1 Do Q\n"
        stream = generic.StreamObject(stream_data=body.encode())
        media_box = generic.ArrayObject(generic.NumberObject(v) for v in (0, 0, 595, 842))
        writer.insert_page(
            PageObject(contents=writer.add_object(stream), media_box=media_box, resources=resources)
        )
    if extra_catalog:
        for key, value in extra_catalog.items():
            writer.root[pdf_name(key)] = value  # type: ignore[assignment]
        writer.update_root()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def credentials(
    runtime: Runtime, name: str = "张三", index: int = 0, algorithm: KeyAlgorithm = KeyAlgorithm.EC_P256
) -> tuple[SignerCredentials, str]:
    """A fresh key and a certificate for it from the platform CA; returns (credentials, serial)."""
    key = SoftwareSigningKey.generate(f"signer-{index}", algorithm)
    identity = SubjectIdentity(
        SubjectKind.INDIVIDUAL,
        name,
        runtime.pki.pseudonym("resident_id", ID_NUMBERS[index % len(ID_NUMBERS)]),
        VerificationLevel.ENHANCED,
        False,
    )
    info = runtime.pki.issue(identity, public_key_der=key.public_key_der())
    chain = [info.der, *(c.dump() for c in info.chain)]
    return SignerCredentials.of(key, chain), info.serial


@dataclass(frozen=True)
class PdfsigResult:
    text: str
    signature_lines: list[str]


def pdfsig(path: Path) -> PdfsigResult:
    result = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=120)
    text = result.stdout + result.stderr
    return PdfsigResult(text, re.findall(r"Signature Validation: (.*)", text))


def byte_ranges(data: bytes) -> list[tuple[list[int], bytes]]:
    """Every /ByteRange in the file with the DER in its /Contents (trailing zero padding removed)."""
    found = []
    for match in re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data):
        a, b, c, d = (int(x) for x in match.groups())
        hex_contents = data[a + b + 1 : c - 1]
        der = bytes.fromhex(hex_contents.decode())
        der = _der_prefix(der)
        found.append(([a, b, c, d], der))
    return found


def _der_prefix(der: bytes) -> bytes:
    # A DER SEQUENCE with a definite length: cut the placeholder's zero padding.
    length = der[1]
    if length < 0x80:
        return der[: 2 + length]
    count = length & 0x7F
    body = int.from_bytes(der[2 : 2 + count], "big")
    return der[: 2 + count + body]


def openssl_cms_verify(tmp: Path, data: bytes, ranges: list[int], der: bytes, root_pem: Path) -> str:
    a, b, c, d = ranges
    content = tmp / "content.bin"
    content.write_bytes(data[a : a + b] + data[c : c + d])
    sig = tmp / "sig.der"
    sig.write_bytes(der)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            str(sig),
            "-content",
            str(content),
            "-CAfile",
            str(root_pem),
            "-purpose",
            "any",
            "-out",
            os.devnull,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return f"rc={result.returncode} {result.stderr.strip()}"
