"""Errors of the contracts domain: each a stable ``code`` the API returns."""

from __future__ import annotations

from sealpact.errors import Conflict, InvalidInput, NotFound, PermissionDenied, SealpactError


class ContractError(SealpactError):
    code = "contract_error"


class ContractNotFound(ContractError, NotFound):
    code = "contract_not_found"


class TemplateNotFound(ContractError, NotFound):
    code = "template_not_found"


class InvalidContract(ContractError, InvalidInput):
    code = "invalid_contract"


class InvalidParty(ContractError, InvalidInput):
    code = "invalid_party"


class InvalidField(ContractError, InvalidInput):
    """A field off the page, of the wrong kind for its party, or overlapping another party's field."""

    code = "invalid_field"


class ContractNotEditable(ContractError, Conflict):
    """The contract was sent: documents, parties and fields are frozen."""

    code = "contract_not_editable"


class InvalidTransition(ContractError, Conflict):
    """The action does not apply to the contract (or party) in its current status."""

    code = "invalid_transition"


class NotYourTurn(ContractError, Conflict):
    code = "not_your_turn"


class DocumentTooLarge(ContractError):
    code = "document_too_large"
    http_status = 413


class TooManyPages(ContractError, InvalidInput):
    code = "too_many_pages"


class UnsupportedDocument(ContractError):
    code = "unsupported_document"
    http_status = 415


class ConverterUnavailable(ContractError):
    """DOCX/ODT/DOC need LibreOffice headless (``apt-get install libreoffice-writer-nogui``)."""

    code = "converter_unavailable"
    http_status = 503


class ConversionFailed(ContractError, InvalidInput):
    code = "conversion_failed"


class LinkInvalid(ContractError):
    """A signing link or signer session that is unknown, used, revoked, expired or someone else's.

    One error for all of these, so a token cannot be probed for which case applies.
    """

    code = "signing_link_invalid"
    http_status = 401


class SignerNotAuthenticated(ContractError):
    code = "signer_not_authenticated"
    http_status = 401


class CodeInvalid(ContractError, InvalidInput):
    code = "code_invalid"


class CodeAttemptsExceeded(ContractError):
    code = "code_attempts_exceeded"
    http_status = 429


class IntentRequired(ContractError, Conflict):
    code = "intent_not_confirmed"


class WrongSigner(ContractError, PermissionDenied):
    """The logged-in account is not the party this link was sent to."""

    code = "wrong_signer"


class IdempotencyConflict(ContractError, Conflict):
    """The idempotency key was used before with a different request."""

    code = "idempotency_key_reused"


class InvalidCursor(ContractError, InvalidInput):
    code = "invalid_cursor"
