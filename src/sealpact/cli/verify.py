"""`sealpact verify FILE.pdf`: check every signature offline and print a report (or JSON).

Exit codes: 0 when every signature is intact and trusted and nothing changed beyond what the signatures
allow; 1 when verification fails; 2 when the input is not a readable PDF. The platform root is trusted
when a data directory with an initialised CA is configured; other roots only with ``--trust``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime
from pathlib import Path

import click
from asn1crypto import pem, x509

from sealpact.cli.common import settings_from
from sealpact.errors import SealpactError
from sealpact.signing.errors import DamagedPdf, EncryptedPdf, NotAPdf
from sealpact.signing.verify import Report, SignatureReport, verify_pdf

EXIT_INVALID = 1
EXIT_UNREADABLE = 2


def load_roots(paths: tuple[Path, ...]) -> list[x509.Certificate]:
    roots: list[x509.Certificate] = []
    for path in paths:
        data = path.read_bytes()
        try:
            if pem.detect(data):
                roots.extend(x509.Certificate.load(der) for _, _, der in pem.unarmor(data, multiple=True))
            else:
                roots.append(x509.Certificate.load(data))
            for root in roots:
                _ = root.subject  # force parsing now, not deep inside validation
        except (ValueError, TypeError) as exc:
            raise click.BadParameter(f"{path} is not a PEM or DER certificate", param_hint="--trust") from exc
    return roots


def platform_root(ctx: click.Context) -> x509.Certificate | None:
    """The platform root, if a data directory with a database and a CA is configured; else None."""
    try:
        settings = settings_from(ctx)
    except Exception:  # a broken configuration must not stop offline verification
        return None
    url = settings.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # do not create an empty database as a side effect of verifying
    from sqlalchemy.exc import SQLAlchemyError

    from sealpact.runtime import Runtime

    runtime = Runtime(settings)
    try:
        return x509.Certificate.load(runtime.pki.certificate_der("root"))
    except (SealpactError, SQLAlchemyError, OSError):
        return None
    finally:
        runtime.close()


def _yes(value: bool) -> str:
    return "yes" if value else "NO"


def render(path: Path, report: Report) -> str:
    lines = [f"{path}: {'VALID' if report.valid else 'INVALID'}"]
    lines += [f"  problem: {p}" for p in report.problems]
    lines += [f"  warning: the document contains {f}" for f in report.findings]
    for index, sig in enumerate(report.signatures, 1):
        lines += _render_signature(index, sig)
    return "\n".join(lines)


def _render_signature(index: int, sig: SignatureReport) -> list[str]:
    kind = "document time-stamp" if sig.kind == "document-timestamp" else "signature"
    if sig.certification:
        kind = f"certification signature (DocMDP {sig.certification})"
    when = sig.signing_time.isoformat() if sig.signing_time else "unknown"
    lines = [
        f"#{index} {sig.field}: {kind}",
        f"    signer:        {sig.signer_subject}",
        f"    intact:        {_yes(sig.intact)}",
        f"    trusted:       {_yes(sig.trusted)} ({sig.chain_status})",
        f"    revocation:    {sig.revocation_status}",
        f"    signing time:  {when} ({sig.signing_time_source})",
        f"    coverage:      {sig.coverage}",
        f"    modifications: {sig.modification_level}",
    ]
    if sig.kind == "signature":
        lines.append(f"    PAdES level:   {sig.level or 'none'}; LTV: {_yes(sig.ltv)}")
    lines += [f"    changed:       {change}" for change in sig.unexplained_changes]
    lines += [f"    FAILED:        {problem}" for problem in sig.problems]
    return lines


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--trust",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A trusted root certificate (PEM or DER); repeatable. The platform root is trusted by default.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--at", "at_text", help="Validate at this ISO 8601 time instead of the time-stamp's/now.")
@click.option("--no-platform-root", is_flag=True, help="Trust only the --trust roots.")
@click.pass_context
def verify_cmd(
    ctx: click.Context,
    file: Path,
    trust: tuple[Path, ...],
    as_json: bool,
    at_text: str | None,
    no_platform_root: bool,
) -> None:
    """Verify the signatures of FILE.pdf (offline; revocation data comes from the document)."""
    # pyHanko logs every failed path build with a traceback; the report already says what failed.
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    roots = load_roots(trust)
    if not no_platform_root:
        root = platform_root(ctx)
        if root is not None:
            roots.append(root)
    at = None
    if at_text:
        try:
            at = datetime.fromisoformat(at_text)
        except ValueError as exc:
            raise click.BadParameter("not an ISO 8601 time", param_hint="--at") from exc
        if at.tzinfo is None:
            raise click.BadParameter("give a time zone (e.g. +08:00 or Z)", param_hint="--at")
    try:
        with file.open("rb") as handle:
            report = verify_pdf(handle, trust=roots, at=at)
    except (NotAPdf, EncryptedPdf, DamagedPdf) as exc:
        click.echo(f"error: {exc.message} [{exc.code}]", err=True)
        sys.exit(EXIT_UNREADABLE)
    except OSError as exc:
        click.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        sys.exit(EXIT_UNREADABLE)
    if as_json:
        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(render(file, report))
    sys.exit(0 if report.valid else EXIT_INVALID)
