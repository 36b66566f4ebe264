"""External-signer mode: the signer's own PKCS#11 token (SoftHSM2) signs a PDF through the signing engine."""

from __future__ import annotations

import secrets

import pytest
from asn1crypto import x509

from sealpact.custody.errors import ExternalSignerError
from sealpact.custody.external import ExternalToken, certify_external, prove_possession
from sealpact.pki.policy import SubjectIdentity, SubjectKind, VerificationLevel
from sealpact.pki.signing_key import SoftwareSigningKey
from sealpact.runtime import Runtime
from sealpact.signing import Level, SigningEngine
from sealpact.signing.verify import verify_pdf
from tests.softhsm import SoftHSM, softhsm  # noqa: F401
from tests.test_signing_support import ID_NUMBERS, make_pdf


def _identity(runtime: Runtime) -> SubjectIdentity:
    return SubjectIdentity(
        SubjectKind.INDIVIDUAL,
        "王五",
        runtime.pki.pseudonym("resident_id", ID_NUMBERS[1]),
        VerificationLevel.ENHANCED,
        False,
    )


def test_token_refuses_wrong_token_and_pin(softhsm: SoftHSM) -> None:  # noqa: F811
    with pytest.raises(ExternalSignerError) as info:
        ExternalToken(softhsm.module, "no-such-token", softhsm.user_pin)
    assert info.value.code == "external_signer_unavailable"
    with pytest.raises(ExternalSignerError) as wrong:
        ExternalToken(softhsm.module, softhsm.spare_tokens[-1], "not-the-pin")
    assert "not-the-pin" not in wrong.value.message


def test_external_token_signs_a_pdf_through_the_engine(runtime: Runtime, softhsm: SoftHSM) -> None:  # noqa: F811
    runtime.pki.ensure_hierarchy()
    label = f"signer-{secrets.token_hex(4)}"
    with ExternalToken(softhsm.module, softhsm.token_label, softhsm.user_pin) as token:
        enrolled = token.generate(label)
        issued = certify_external(runtime, _identity(runtime), enrolled)
        chain = [issued.der, *(c.dump() for c in issued.chain)]

        credentials = token.credentials(label, chain)
        assert type(credentials.key).__name__ == "Pkcs11Key"  # the private key stays on the token
        pdf = make_pdf(1)
        signed = SigningEngine(runtime).sign(pdf, credentials, level=Level.B_T).output.read()
        assert signed.startswith(pdf)
        root = x509.Certificate.load(runtime.pki.certificate_der("root"))
        report = verify_pdf(signed, trust=[root])
        assert report.valid, report.failures()
        assert report.signatures[0].trusted and report.signatures[0].intact

        # A certificate for another key is refused for this token key (no silent mismatch).
        other = SoftwareSigningKey.generate("other")
        foreign = runtime.pki.issue(_identity(runtime), public_key_der=other.public_key_der())
        with pytest.raises(ExternalSignerError):
            token.credentials(label, [foreign.der, *(c.dump() for c in foreign.chain)])
        with pytest.raises(ExternalSignerError):
            token.credentials("missing-label", chain)


def test_proof_of_possession_rejects_a_key_that_cannot_sign_for_its_public_key() -> None:
    real, other = SoftwareSigningKey.generate("a"), SoftwareSigningKey.generate("b")

    class Impostor:
        key_id = "x"
        algorithm = real.algorithm

        def public_key_der(self) -> bytes:
            return real.public_key_der()

        def sign(self, data: bytes) -> bytes:
            return other.sign(data)

    prove_possession(real)
    with pytest.raises(ExternalSignerError):
        prove_possession(Impostor())
