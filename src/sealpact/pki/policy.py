"""Object identifiers and the verified identity a certificate is issued for.

Certificate policy arc: we have no registered enterprise arc, so ours is the UUID-derived OID
``2.25.152076119240893147902210950407467437072`` (ITU-T X.667 / RFC 4122 section 3: every UUID is an OID
under 2.25; UUID 7268cb91-63d1-45aa-ae01-1a45a38a0c10). Below it:

- ``<arc>.1.<level>.<origin>``: end-entity signing certificates; ``level`` is the identity
  verification level (:class:`VerificationLevel`), ``origin`` is 1 for a production identity
  authority and 2 for the sandbox authority (never trust those for real signatures);
- ``<arc>.2``: the time-stamp policy of the platform TSA (RFC 3161 section 2.4.2, ``TSAPolicyId``);
- ``<arc>.3``: CA and infrastructure certificates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from sealpact.pki.errors import InvalidRequest

POLICY_ARC = "2.25.152076119240893147902210950407467437072"
TSA_POLICY_OID = f"{POLICY_ARC}.2"
CA_POLICY_OID = f"{POLICY_ARC}.3"

# RFC 9336: id-kp-documentSigning.
EKU_DOCUMENT_SIGNING = "1.3.6.1.5.5.7.3.36"
# CA/B and ETSI EN 319 412-1 section 5.1.4: organizationIdentifier, semantics "NTR" + country + "-".
OID_ORGANIZATION_IDENTIFIER = "2.5.4.97"


class VerificationLevel(IntEnum):
    """How strongly the identity behind a certificate was verified (the identity issue assigns it)."""

    BASIC = 1  # name + ID number checked against an authority
    STANDARD = 2  # plus mobile number registered to the person / enterprise bank transfer
    ENHANCED = 3  # plus liveness and face comparison / legal representative verified


class SubjectKind(StrEnum):
    INDIVIDUAL = "individual"
    ENTERPRISE = "enterprise"


def end_entity_policy_oid(level: VerificationLevel, sandbox: bool) -> str:
    return f"{POLICY_ARC}.1.{int(level)}.{2 if sandbox else 1}"


def parse_end_entity_policy(oid: str) -> tuple[VerificationLevel, bool] | None:
    """The (level, sandbox) an end-entity policy OID encodes, or None for other OIDs."""
    prefix = POLICY_ARC + ".1."
    if not oid.startswith(prefix):
        return None
    parts = oid[len(prefix) :].split(".")
    if len(parts) != 2 or parts[1] not in ("1", "2"):
        return None
    try:
        return VerificationLevel(int(parts[0])), parts[1] == "2"
    except ValueError:
        return None


_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def uscc_is_valid(code: str) -> bool:
    """GB 32100-2015 unified social credit code: 18 characters, the last a mod-31 check character."""
    if len(code) != 18 or any(ch not in _USCC_ALPHABET for ch in code):
        return False
    total = sum(_USCC_ALPHABET.index(ch) * w for ch, w in zip(code[:17], _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31] == code[17]


_PSEUDONYM_RE = re.compile(r"^SP1-[A-Z2-7]{32}$")  # what derive_pseudonym returns


def derive_pseudonym(platform_key: bytes, id_type: str, id_number: str) -> str:
    """A stable pseudonymous subject serialNumber for an individual.

    ``HMAC-SHA256(platform key, "sealpact/pseudonym/v1" 0 id_type 0 normalised id_number)``, first 20
    bytes, base32 (no padding), prefixed ``SP1-``. The platform key never leaves the PKI key store; the
    raw ID number is never written to a certificate. The same person gets the same value across
    certificates, so relying parties can match renewals without learning the ID number.
    """
    normalised = unicodedata.normalize("NFKC", id_number).strip().upper()
    if not normalised or not id_type:
        raise InvalidRequest("an identity document type and number are needed for the pseudonym")
    message = b"sealpact/pseudonym/v1\x00" + id_type.encode() + b"\x00" + normalised.encode()
    digest = hmac.new(platform_key, message, hashlib.sha256).digest()[:20]

    return "SP1-" + base64.b32encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class SubjectIdentity:
    """The verified identity an end-entity certificate is issued for.

    ``unique_id`` is, for individuals, a pseudonym (:func:`derive_pseudonym`, or one the caller derived
    the same way) placed in the subject serialNumber; for enterprises, the unified social credit code,
    placed in organizationIdentifier as ``NTRCN-<code>``. Never pass a raw ID number here.
    """

    kind: SubjectKind
    name: str  # verified legal name (person or enterprise)
    unique_id: str
    level: VerificationLevel
    sandbox: bool
    email: str | None = None

    def __post_init__(self) -> None:
        name = self.name.strip()
        if not name or len(name) > 64 or any(unicodedata.category(ch).startswith("C") for ch in name):
            raise InvalidRequest("the verified name must be 1-64 printable characters")
        if self.kind is SubjectKind.ENTERPRISE:
            if not uscc_is_valid(self.unique_id):
                raise InvalidRequest("not a valid unified social credit code")
        elif not _PSEUDONYM_RE.match(self.unique_id):
            raise InvalidRequest("an individual's unique id must be a derived pseudonym, not an ID number")
        if self.email is not None and (len(self.email) > 128 or "@" not in self.email):
            raise InvalidRequest("invalid email address")

    @property
    def policy_oid(self) -> str:
        return end_entity_policy_oid(self.level, self.sandbox)

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "unique_id": self.unique_id,
            "level": int(self.level),
            "sandbox": self.sandbox,
            "email": self.email,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> SubjectIdentity:
        email = data.get("email")
        return cls(
            kind=SubjectKind(str(data["kind"])),
            name=str(data["name"]),
            unique_id=str(data["unique_id"]),
            level=VerificationLevel(int(str(data["level"]))),
            sandbox=bool(data["sandbox"]),
            email=str(email) if email is not None else None,
        )
