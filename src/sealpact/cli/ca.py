"""`sealpact ca ...`: the platform CA hierarchy, certificates, revocation, CRLs, external subordination."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from sealpact.cli.common import handle_errors, runtime_from
from sealpact.db import ensure_migrated
from sealpact.pki.builders import to_pem
from sealpact.pki.policy import SubjectIdentity, SubjectKind, VerificationLevel
from sealpact.pki.service import REVOCATION_REASONS, IssuedInfo
from sealpact.pki.signing_key import KeyAlgorithm
from sealpact.runtime import Runtime


@contextmanager
def _runtime(ctx: click.Context) -> Iterator[Runtime]:
    runtime = runtime_from(ctx)
    try:
        ensure_migrated(runtime.engine)
        yield runtime
    finally:
        runtime.close()


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        click.echo(data, nl=False)
    else:
        out.write_bytes(data)
        click.echo(f"wrote {out}", err=True)


@click.group("ca")
def ca_group() -> None:
    """The platform certificate authority."""


@ca_group.command("init")
@click.option(
    "--algorithm",
    type=click.Choice([a.value for a in KeyAlgorithm]),
    help="Key algorithm for new keys (default: SEALPACT_PKI_KEY_ALGORITHM, ec-p256).",
)
@click.pass_context
@handle_errors
def ca_init(ctx: click.Context, algorithm: str | None) -> None:
    """Create the root CA, issuing CA, TSA and OCSP responder (only what is missing)."""
    with _runtime(ctx) as runtime:
        created = runtime.pki.ensure_hierarchy(algorithm=KeyAlgorithm(algorithm) if algorithm else None)
    click.echo(f"created: {', '.join(created)}" if created else "CA hierarchy present")


@ca_group.command("export-root")
@click.pass_context
@handle_errors
def ca_export_root(ctx: click.Context) -> None:
    """Print the root certificate (PEM), to add to a trust store."""
    with _runtime(ctx) as runtime:
        _write(runtime.pki.export_root(), None)


@ca_group.command("export-chain")
@click.pass_context
@handle_errors
def ca_export_chain(ctx: click.Context) -> None:
    """Print the issuing CA certificate and its issuers up to the root (PEM)."""
    with _runtime(ctx) as runtime:
        _write(runtime.pki.export_chain(), None)


@ca_group.command("csr")
@click.option("--out", type=click.Path(path_type=Path), help="Write the CSR here (default: stdout).")
@click.pass_context
@handle_errors
def ca_csr(ctx: click.Context, out: Path | None) -> None:
    """Write a CSR for a new issuing CA key, for an external CA to sign (then `ca import`)."""
    with _runtime(ctx) as runtime:
        _write(runtime.pki.issuing_csr(), out)


@ca_group.command("import")
@click.argument("certificate", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--chain",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM bundle of the external CA's chain, nearest issuer first, its root last.",
)
@click.pass_context
@handle_errors
def ca_import(ctx: click.Context, certificate: Path, chain: Path) -> None:
    """Install the certificate an external CA signed for the pending issuing CA key."""
    with _runtime(ctx) as runtime:
        done = runtime.pki.import_issuing(certificate.read_bytes(), chain.read_bytes())
    click.echo(f"installed the external issuing CA certificate; re-issued: {', '.join(done[1:])}")


def _print_issued(info: IssuedInfo, out: Path | None) -> None:
    _write(to_pem("CERTIFICATE", info.der), out)
    click.echo(f"serial {info.serial}, valid until {info.not_after.isoformat()}", err=True)


@ca_group.command("issue")
@click.option(
    "--kind", type=click.Choice([k.value for k in SubjectKind]), default="individual", show_default=True
)
@click.option("--name", required=True, help="The verified legal name.")
@click.option("--pseudonym", help="An already derived pseudonym (individuals).")
@click.option("--id-type", help="ID document type, to derive the pseudonym (with --id-number).")
@click.option("--id-number", help="ID number; only its keyed hash goes into the certificate.")
@click.option("--uscc", help="Unified social credit code (enterprises).")
@click.option("--level", type=click.IntRange(1, 3), default=1, show_default=True, help="Verification level.")
@click.option("--sandbox", is_flag=True, help="The identity came from the sandbox authority.")
@click.option("--email")
@click.option("--csr", "csr_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--days", type=int, help="Validity in days (default SEALPACT_PKI_EE_VALIDITY_DAYS).")
@click.option("--out", type=click.Path(path_type=Path))
@click.pass_context
@handle_errors
def ca_issue(
    ctx: click.Context,
    kind: str,
    name: str,
    pseudonym: str | None,
    id_type: str | None,
    id_number: str | None,
    uscc: str | None,
    level: int,
    sandbox: bool,
    email: str | None,
    csr_path: Path | None,
    key_path: Path | None,
    days: int | None,
    out: Path | None,
) -> None:
    """Issue a signing certificate for an identity verified elsewhere (operators and tests)."""
    if (csr_path is None) == (key_path is None):
        raise click.UsageError("Give exactly one of --csr or --public-key (DER or PEM).")
    with _runtime(ctx) as runtime:
        if kind == SubjectKind.ENTERPRISE.value:
            if not uscc:
                raise click.UsageError("--uscc is required for enterprises")
            unique_id = uscc
        elif pseudonym:
            unique_id = pseudonym
        elif id_type and id_number:
            unique_id = runtime.pki.pseudonym(id_type, id_number)
        else:
            raise click.UsageError("individuals need --pseudonym or --id-type with --id-number")
        identity = SubjectIdentity(
            SubjectKind(kind), name, unique_id, VerificationLevel(level), sandbox, email
        )
        if csr_path is not None:
            info = runtime.pki.issue(identity, csr_der=_der(csr_path.read_bytes()), validity_days=days)
        else:
            assert key_path is not None
            info = runtime.pki.issue(identity, public_key_der=_der(key_path.read_bytes()), validity_days=days)
    _print_issued(info, out)


def _der(data: bytes) -> bytes:
    from asn1crypto import pem

    if pem.detect(data):
        _, _, der = pem.unarmor(data)
        result: bytes = der
        return result
    return data


@ca_group.command("revoke")
@click.argument("serial")
@click.option(
    "--reason", type=click.Choice(sorted(REVOCATION_REASONS)), default="unspecified", show_default=True
)
@click.pass_context
@handle_errors
def ca_revoke(ctx: click.Context, serial: str, reason: str) -> None:
    """Revoke a certificate (certificate_hold suspends it; see release-hold). The CRL is re-signed."""
    with _runtime(ctx) as runtime:
        record = runtime.pki.revoke(serial, reason)
    click.echo(f"{record.serial}: {record.status} ({record.reason})")


@ca_group.command("release-hold")
@click.argument("serial")
@click.pass_context
@handle_errors
def ca_release_hold(ctx: click.Context, serial: str) -> None:
    """Lift a certificate_hold (removeFromCRL): the certificate is valid again."""
    with _runtime(ctx) as runtime:
        record = runtime.pki.release_hold(serial)
    click.echo(f"{record.serial}: {record.status}")


def _reissue(action: Callable[[Runtime], IssuedInfo], ctx: click.Context, out: Path | None) -> None:
    with _runtime(ctx) as runtime:
        info = action(runtime)
    _print_issued(info, out)


@ca_group.command("renew")
@click.argument("serial")
@click.option("--days", type=int)
@click.option("--out", type=click.Path(path_type=Path))
@click.pass_context
@handle_errors
def ca_renew(ctx: click.Context, serial: str, days: int | None, out: Path | None) -> None:
    """Issue a new certificate for the same identity and key."""
    _reissue(lambda rt: rt.pki.renew(serial, validity_days=days), ctx, out)


@ca_group.command("rekey")
@click.argument("serial")
@click.option(
    "--csr", "csr_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True
)
@click.option("--days", type=int)
@click.option("--out", type=click.Path(path_type=Path))
@click.pass_context
@handle_errors
def ca_rekey(ctx: click.Context, serial: str, csr_path: Path, days: int | None, out: Path | None) -> None:
    """Issue a certificate for the same identity and a new key; the old one is revoked (superseded)."""
    csr = _der(csr_path.read_bytes())
    _reissue(lambda rt: rt.pki.rekey(serial, csr_der=csr, validity_days=days), ctx, out)


@ca_group.command("crl")
@click.option("--force", is_flag=True, help="Re-sign even CRLs that are still fresh.")
@click.pass_context
@handle_errors
def ca_crl(ctx: click.Context, force: bool) -> None:
    """Re-sign CRLs past half their validity and renew the OCSP responder certificate when due.

    The job workers do this every 30 minutes (task pki.maintain); this command is for cron or by hand.
    """
    with _runtime(ctx) as runtime:
        renewed = runtime.pki.maintain()
        refreshed = runtime.pki.refresh_crls(force=True) if force else []
    done = [*renewed, *(f"crl:{name}" for name in refreshed)]
    click.echo(f"done: {', '.join(done)}" if done else "CRLs fresh")


def init_pki(runtime: Runtime, admin_email: str | None, admin_password: str | None) -> None:
    """``sealpact init``: create the CA hierarchy unless it exists (URLs from SEALPACT_PUBLIC_URL)."""
    created = runtime.pki.ensure_hierarchy()
    if created:
        click.echo(f"CA hierarchy: created {', '.join(created)} (public URL {runtime.settings.public_url})")
    else:
        click.echo("CA hierarchy present")
