"""/api/v1/files: stream an upload into encrypted storage, download it back, list, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

import anyio
import anyio.from_thread
import anyio.to_thread
from fastapi import APIRouter, Depends, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from sealpact.context import RequestContext
from sealpact.files.service import FileInfo, Files
from sealpact.runtime import Runtime
from sealpact.web.auth import ReadPrincipal, WritePrincipal
from sealpact.web.deps import get_context, get_runtime

router = APIRouter(prefix="/api/v1/files", tags=["files"])
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ContextDep = Annotated[RequestContext, Depends(get_context)]


class FileOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime

    @classmethod
    def of(cls, info: FileInfo) -> FileOut:
        return cls(**info.__dict__)


def _body_chunks(stream: AsyncIterator[bytes]) -> Iterator[bytes]:
    """The request body as a blocking iterator, for the storage code running in a worker thread."""

    async def next_chunk() -> bytes | None:
        try:
            return await stream.__anext__()
        except StopAsyncIteration:
            return None

    while (chunk := anyio.from_thread.run(next_chunk)) is not None:
        if chunk:
            yield chunk


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Upload a file (raw request body; Content-Type is the file's type)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_file(
    request: Request,
    principal: WritePrincipal,
    runtime: RuntimeDep,
    ctx: ContextDep,
    filename: Annotated[str, Query(min_length=1, max_length=255, description="Display name of the file")],
) -> FileOut:
    content_type = request.headers.get("content-type", "")
    stream = request.stream().__aiter__()

    def store() -> FileInfo:
        return Files(runtime).upload(
            principal, ctx, _body_chunks(stream), filename=filename, content_type=content_type
        )

    return FileOut.of(await anyio.to_thread.run_sync(store))


@router.get("", summary="List my files, newest first")
def list_files(
    principal: ReadPrincipal, runtime: RuntimeDep, limit: int = Query(50, ge=1, le=200)
) -> list[FileOut]:
    return [FileOut.of(info) for info in Files(runtime).list(principal, limit=limit)]


@router.get("/{file_id}", summary="A file's metadata")
def get_file(file_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> FileOut:
    return FileOut.of(Files(runtime).get(principal, file_id))


@router.get(
    "/{file_id}/content",
    summary="Download a file's content (decrypted and integrity-checked while streaming)",
    response_class=StreamingResponse,
)
def download_file(file_id: str, principal: ReadPrincipal, runtime: RuntimeDep) -> StreamingResponse:
    info, reader = Files(runtime).open(principal, file_id)

    def body() -> Iterator[bytes]:
        with reader:
            yield from reader.chunks()

    disposition = f"attachment; filename*=UTF-8''{quote(info.filename)}"
    return StreamingResponse(
        body(),
        media_type=info.content_type,
        headers={
            "content-length": str(info.size),
            "content-disposition": disposition,
            "x-content-sha256": info.sha256,
            "cache-control": "private, no-store",
        },
    )


@router.delete("/{file_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a file")
def delete_file(file_id: str, principal: WritePrincipal, runtime: RuntimeDep, ctx: ContextDep) -> None:
    Files(runtime).delete(principal, ctx, file_id)
