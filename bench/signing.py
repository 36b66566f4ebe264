"""Benchmark: PAdES signing time per signature, ours against stock pyHanko and against the floor.

Run from the repository root: ``python bench/signing.py`` (``--quick`` skips the 100 MB file). For a
1-page, a 100-page and a 100 MB PDF, at B-B and at B-LTA (in-process TSA, OCSP and CRLs for both
implementations), it prints the median time per signature over 5 timed runs after one warm-up of:

- ours: ``SigningEngine.sign`` (input read from disk, output to a temp file / memory as the engine picks);
- stock: ``pyhanko.sign.signers.sign_pdf`` with a ``SimpleSigner`` over the same key type (ECDSA P-256)
  and the same certificate chain, same input and output handling, no ``bytes_reserved`` (so it sizes
  the placeholder by a dry run, as stock pyHanko does); at B-LTA with the same in-process TSA adapter and
  a validation context holding the same OCSP response and CRLs;
- floor: SHA-256 over the file plus one raw ECDSA signature, timed alternately with ours in the same
  process so that both see the same machine load (the ratio is what the target is about).

Each (file, level, implementation) runs in its own process so that its peak RSS (which
includes the interpreter, the libraries and the platform CA setup) is its own (``VmHWM``).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.test_signing_support

RUNS = 5
MiB = 1 << 20


def _runtime(tmp: Path):  # type: ignore[no-untyped-def]
    from sealpact.config import Settings
    from sealpact.db import upgrade
    from sealpact.runtime import Runtime
    from sealpact.storage.keys.keyring import KeyringKeyProvider

    secret = "bench-master-secret-" + "x" * 24
    settings = Settings(
        data_dir=tmp,
        master_secret=secret,  # type: ignore[arg-type]
        database_url=f"sqlite:///{tmp / 'bench.db'}",
        public_url="http://bench.invalid",
    )
    KeyringKeyProvider.create(settings.keyring_path, secret.encode())
    runtime = Runtime(settings)
    upgrade(runtime.engine)
    runtime.pki.ensure_hierarchy()
    return runtime


def median_seconds(run: Callable[[], None], floor: Callable[[], None]) -> tuple[float, float]:
    """Medians of ``run`` and of ``floor``, timed alternately so both see the same machine load."""
    run()  # warm-up
    floor()
    times, floors = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        floor()
        floors.append(time.perf_counter() - start)
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(floors)


def child(pdf_path: Path, level_name: str, impl: str) -> dict[str, float]:
    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator import ValidationContext
    from pyhanko_certvalidator.registry import SimpleCertificateStore
    from tests.test_signing_support import credentials

    from sealpact.pki.tsa_service import pyhanko_time_stamper
    from sealpact.signing import Level, SigningEngine
    from sealpact.signing.revocation import PlatformRevocation

    level = Level(level_name)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        runtime = _runtime(tmp)
        creds, _ = credentials(runtime)
        out_dir = tmp / "out"
        out_dir.mkdir()

        key = creds.key

        def floor() -> None:
            digest = hashlib.sha256()
            with pdf_path.open("rb") as handle:
                while chunk := handle.read(MiB):
                    digest.update(chunk)
            key.sign(digest.digest())

        if impl == "ours":
            engine = SigningEngine(runtime)

            def run() -> None:
                with pdf_path.open("rb") as handle:
                    result = engine.sign(handle, creds, level=level)
                    result.output.close()

        else:
            pkcs8 = creds.key.private_key_pkcs8()  # type: ignore[attr-defined]
            signer = signers.SimpleSigner(
                signing_cert=x509.Certificate.load(creds.certificate.dump()),
                signing_key=asn1_keys.PrivateKeyInfo.load(pkcs8),
                cert_registry=SimpleCertificateStore.from_certs(list(creds.chain[1:])),
            )
            revocation = PlatformRevocation(runtime)
            timestamper = pyhanko_time_stamper(runtime.time_stamper)
            big = pdf_path.stat().st_size >= 8 * MiB

            def run() -> None:
                lta = level is Level.B_LTA
                context = None
                if lta:
                    context = ValidationContext(
                        trust_roots=revocation.trust_roots(),
                        allow_fetching=False,
                        ocsps=revocation.ocsp_responses(list(creds.chain)),
                        crls=revocation.crls(),
                    )
                meta = signers.PdfSignatureMetadata(
                    field_name="Signature1",
                    subfilter=fields.SigSeedSubFilter.PADES,
                    embed_validation_info=lta,
                    use_pades_lta=lta,
                    validation_context=context,
                )
                with pdf_path.open("rb") as handle:
                    writer = IncrementalPdfFileWriter(handle)
                    output: IO[bytes] = tempfile.TemporaryFile(dir=out_dir) if big else io.BytesIO()  # noqa: SIM115
                    with output:
                        signers.sign_pdf(
                            writer,
                            meta,
                            signer=signer,
                            timestamper=timestamper if lta else None,
                            output=output,
                        )

        seconds, floor_seconds = median_seconds(run, floor)
        runtime.close()
    return {"seconds": seconds, "floor_seconds": floor_seconds, "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    # VmHWM is this process's own high-water mark; ru_maxrss survives fork + exec on Linux, so a child
    # would report the parent's peak (the parent builds the 100 MB input).
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_inputs(directory: Path, quick: bool) -> list[tuple[str, Path]]:
    from tests.test_signing_support import make_pdf

    cases = [("1 page", 1, 0), ("100 pages", 100, 0)]
    if not quick:
        cases.append(("100 MB", 1, 100 * MiB))
    out = []
    for name, pages, payload in cases:
        path = directory / f"{name.replace(' ', '_')}.pdf"
        path.write_bytes(make_pdf(pages, payload_bytes=payload))
        out.append((name, path))
    return out


def run_child(pdf: Path, level: str, impl: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(pdf), level, impl],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if result.returncode != 0:
        raise SystemExit(f"{impl} {level} {pdf.name} failed:\n{result.stderr[-3000:]}")
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100 MB file")
    parser.add_argument("--child", nargs=3, metavar=("PDF", "LEVEL", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pdf, level, impl = args.child
        print(json.dumps(child(Path(pdf), level, impl)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        inputs = make_inputs(Path(tmp), args.quick)
        header = (
            f"{'file':<10} {'size':>9} {'level':<6} {'ours ms':>9} {'stock ms':>9} {'floor ms':>9} "
            f"{'stock/ours':>10} {'ours/floor':>10} {'ours RSS':>9} {'stock RSS':>9} {'RSS budget':>10}"
        )
        print(f"PAdES signing, median of {RUNS} runs after a warm-up (ECDSA P-256, in-process TSA/OCSP/CRL)")
        print(header)
        print("-" * len(header))
        for name, pdf in inputs:
            size = pdf.stat().st_size
            for level in ("B-B", "B-LTA"):
                ours = run_child(pdf, level, "ours")
                stock = run_child(pdf, level, "stock")
                budget = size / MiB + 200
                print(
                    f"{name:<10} {size / MiB:>7.2f}Mi {level:<6} {ours['seconds'] * 1e3:>9.1f} "
                    f"{stock['seconds'] * 1e3:>9.1f} {ours['floor_seconds'] * 1e3:>9.1f} "
                    f"{stock['seconds'] / ours['seconds']:>9.2f}x "
                    f"{ours['seconds'] / ours['floor_seconds']:>9.2f}x "
                    f"{ours['peak_rss_mib']:>7.0f}Mi {stock['peak_rss_mib']:>7.0f}Mi {budget:>8.0f}Mi",
                    flush=True,
                )
        print("(floor = SHA-256 of the file + one raw signature, timed alternately with ours in its process;")
        print(" RSS = peak resident set of the whole process: interpreter, libraries, CA setup and signing)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
