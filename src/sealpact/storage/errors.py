"""Errors of the storage domain. Key-provider errors live in :mod:`sealpact.storage.keys`."""

from __future__ import annotations

from sealpact.errors import SealpactError


class StorageError(SealpactError):
    """Root of the storage errors: the blob store or its metadata cannot serve a request."""

    code = "storage_error"
    http_status = 500


class BlobNotFound(StorageError):
    code = "blob_not_found"
    http_status = 404


class BlobIntegrityError(StorageError):
    """Stored ciphertext or its metadata does not authenticate: tampered, truncated, reordered, swapped."""

    code = "blob_integrity"
    http_status = 500


class BlobTooLarge(StorageError):
    code = "blob_too_large"
    http_status = 413


class BackendError(StorageError):
    """The object store (filesystem or S3) failed; the message never carries credentials."""

    code = "storage_backend_error"
    http_status = 503


class InvalidStorageUrl(StorageError):
    code = "invalid_storage_url"
    http_status = 500


class FieldCipherError(StorageError):
    """A field token could not be decrypted: malformed, wrong purpose, or tampered."""

    code = "field_decrypt_failed"
    http_status = 500


class InvalidPurpose(StorageError):
    code = "invalid_purpose"
    http_status = 500
