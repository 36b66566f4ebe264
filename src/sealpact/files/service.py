"""Upload, read, list and delete a user's files. Ownership is checked here, not in the web layer."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from sealpact import audit
from sealpact.accounts.principal import Principal
from sealpact.context import RequestContext
from sealpact.db import new_id, transaction
from sealpact.errors import InvalidInput, NotFound
from sealpact.files.models import StoredFile
from sealpact.files.sniff import checked, normalise_type
from sealpact.runtime import Runtime
from sealpact.storage.service import BlobReader

MAX_FILENAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f/\\]")


class FileNotFound(NotFound):
    code = "file_not_found"


@dataclass(frozen=True)
class FileInfo:
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime


def _info(row: StoredFile) -> FileInfo:
    return FileInfo(row.id, row.filename, row.content_type, row.size, row.sha256, row.created_at)


def clean_filename(name: str) -> str:
    """A display name safe to echo in headers and pages: no paths, no control characters."""
    name = unicodedata.normalize("NFC", name).strip()
    name = _CONTROL.sub("_", name)[:MAX_FILENAME]
    if not name or name in {".", ".."}:
        raise InvalidInput("A file name is required.", code="invalid_filename")
    return name


class Files:
    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def upload(
        self,
        principal: Principal,
        ctx: RequestContext,
        chunks: Iterable[bytes],
        *,
        filename: str,
        content_type: str,
    ) -> FileInfo:
        """Store the streamed content encrypted, owned by the caller; audited in the same transaction.

        The content must match its declared type (sniffed from the first bytes) and stay under the
        upload limit; either failure leaves nothing stored.
        """
        name = clean_filename(filename)
        content_type = normalise_type(content_type)
        chunks = checked(chunks, content_type)
        with transaction(self._rt.sessions) as session:
            ref = self._rt.blobs.put_in(
                session, chunks, content_type=content_type, max_size=self._rt.settings.max_upload_bytes
            )
            row = StoredFile(
                id=new_id(),
                owner_user_id=principal.user_id,
                blob_id=ref.id,
                filename=name,
                content_type=content_type,
                size=ref.size,
                sha256=ref.sha256,
                created_at=self._rt.clock.now(),
            )
            session.add(row)
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="file.uploaded",
                actor=principal.actor,
                object_type="file",
                object_id=row.id,
                details={"size": ref.size, "sha256": ref.sha256},
            )
            return _info(row)

    def get(self, principal: Principal, file_id: str) -> FileInfo:
        with transaction(self._rt.sessions) as session:
            return _info(self._owned(session, principal, file_id))

    def open(self, principal: Principal, file_id: str) -> tuple[FileInfo, BlobReader]:
        """The file's metadata and a streaming, integrity-checked reader of its content."""
        with transaction(self._rt.sessions) as session:
            row = self._owned(session, principal, file_id)
            return _info(row), self._rt.blobs.open(row.blob_id, session=session)

    def list(self, principal: Principal, *, limit: int = 50) -> list[FileInfo]:
        with transaction(self._rt.sessions) as session:
            rows = session.scalars(
                select(StoredFile)
                .where(StoredFile.owner_user_id == principal.user_id)
                .order_by(StoredFile.created_at.desc(), StoredFile.id)
                .limit(max(1, min(limit, 200)))
            )
            return [_info(row) for row in rows]

    def delete(self, principal: Principal, ctx: RequestContext, file_id: str) -> None:
        with transaction(self._rt.sessions) as session:
            row = self._owned(session, principal, file_id)
            blob_id = row.blob_id
            session.delete(row)
            session.flush()
            self._rt.blobs.delete_in(session, blob_id)
            audit.record(
                session,
                ctx,
                self._rt.clock,
                action="file.deleted",
                actor=principal.actor,
                object_type="file",
                object_id=file_id,
            )

    @staticmethod
    def _owned(session: Session, principal: Principal, file_id: str) -> StoredFile:
        row = session.get(StoredFile, file_id)
        # Someone else's file and a file that does not exist look the same: 404.
        if row is None or row.owner_user_id != principal.user_id:
            raise FileNotFound("No such file.")
        return row
