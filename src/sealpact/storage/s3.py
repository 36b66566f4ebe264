"""Blob store on an S3-compatible object store (AWS S3, SeaweedFS, MinIO, Ceph RGW) through boto3.

Writes stream through a multipart upload (one part buffered at a time) that is completed only after
the last chunk, and aborted on any error, so an object is either whole or absent. Reads stream the
response body, optionally a byte range. Error messages carry the S3 error code, never credentials.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from sealpact.storage.errors import BackendError, BlobNotFound
from sealpact.storage.store import Chunk, S3Location, StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger("sealpact.storage.s3")

MIN_PART_SIZE = 5 << 20  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 << 20
_MISSING = {"NoSuchKey", "404", "NotFound", "NoSuchBucket"}


def _error(exc: Exception, doing: str) -> BackendError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "unknown")
        return BackendError(f"S3 {doing} failed ({code}).")
    return BackendError(f"S3 {doing} failed: the object store is unreachable or misbehaving.")


def _is_missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code", "") in _MISSING


class _BodyReader:
    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int) -> bytes:
        try:
            data: bytes = self._body.read(size)
        except (BotoCoreError, OSError, ValueError) as exc:
            raise BackendError("S3 download was interrupted.") from exc
        return data

    def close(self) -> None:
        self._body.close()


class _EmptyReader:
    def read(self, size: int) -> bytes:
        return b""

    def close(self) -> None:
        return None


class S3BlobStore:
    def __init__(
        self,
        location: S3Location,
        *,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError("S3 multipart parts must be at least 5 MiB")
        self.location = location
        self.part_size = part_size
        self.region = region
        config = Config(
            # Path-style addressing for self-hosted endpoints (no wildcard DNS for bucket subdomains).
            s3={"addressing_style": "path" if location.endpoint else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
            connect_timeout=10,
            read_timeout=120,
            signature_version="s3v4",
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key, aws_secret_access_key=secret_key, region_name=region
        )
        self._client: S3Client = session.client("s3", endpoint_url=location.endpoint, config=config)

    @property
    def description(self) -> str:
        where = f" at {self.location.endpoint}" if self.location.endpoint else ""
        return f"s3://{self.location.bucket}/{self.location.prefix}{where}"

    def _key(self, key: str) -> str:
        return self.location.prefix + key

    # -- BlobStore ------------------------------------------------------------------------------

    def put(self, key: str, chunks: Iterable[Chunk]) -> int:
        # One part uploads in a helper thread while the next is filled (network I/O releases the
        # GIL): at most two parts in memory. The upload completes only after the last chunk.
        bucket, name = self.location.bucket, self._key(key)
        buffer = bytearray()
        parts: list[dict[str, Any]] = []
        upload_id: str | None = None
        in_flight: Future[dict[str, Any]] | None = None
        pool = ThreadPoolExecutor(1, thread_name_prefix="sealpact-s3-upload")
        total = 0

        def send(upload_id: str, data: bytes) -> None:
            nonlocal in_flight
            if in_flight is not None:
                parts.append(in_flight.result())
            number = len(parts) + 1  # parts are appended in order, so this is the next number
            in_flight = pool.submit(self._upload_part, name, upload_id, number, data)

        try:
            for chunk in chunks:
                buffer += chunk
                total += len(chunk)
                if len(buffer) >= self.part_size:
                    if upload_id is None:
                        upload_id = self._client.create_multipart_upload(Bucket=bucket, Key=name)["UploadId"]
                    send(upload_id, bytes(buffer))
                    buffer.clear()
            if upload_id is None:
                self._client.put_object(Bucket=bucket, Key=name, Body=bytes(buffer))
            else:
                if buffer:
                    send(upload_id, bytes(buffer))
                if in_flight is not None:
                    parts.append(in_flight.result())
                    in_flight = None
                self._client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=name,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
        except BaseException as exc:
            if in_flight is not None:
                with contextlib.suppress(BaseException):
                    in_flight.result()
            if upload_id is not None:
                with contextlib.suppress(Exception):
                    self._client.abort_multipart_upload(Bucket=bucket, Key=name, UploadId=upload_id)
            if isinstance(exc, (ClientError, BotoCoreError)):
                raise _error(exc, "upload") from exc
            raise
        finally:
            pool.shutdown(wait=True)
        return total

    def _upload_part(self, name: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = self._client.upload_part(
            Bucket=self.location.bucket, Key=name, UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"ETag": response["ETag"], "PartNumber": number}

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> _BodyReader | _EmptyReader:
        if end is not None and end <= start:
            return _EmptyReader()
        extra: dict[str, Any] = {}
        if start or end is not None:
            extra["Range"] = f"bytes={start}-{'' if end is None else end - 1}"  # RFC 9110 §14.1.2
        try:
            response = self._client.get_object(Bucket=self.location.bucket, Key=self._key(key), **extra)
        except ClientError as exc:
            if _is_missing(exc):
                raise BlobNotFound("The stored object is missing.") from None
            raise _error(exc, "download") from exc
        except BotoCoreError as exc:
            raise _error(exc, "download") from exc
        return _BodyReader(response["Body"])

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.location.bucket, Key=self._key(key))
        except ClientError as exc:
            if not _is_missing(exc):
                raise _error(exc, "delete") from exc
        except BotoCoreError as exc:
            raise _error(exc, "delete") from exc

    def list(self) -> Iterator[StoredObject]:
        paginator = self._client.get_paginator("list_objects_v2")
        prefix = self.location.prefix
        try:
            for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield StoredObject(
                        key=item["Key"][len(prefix) :], size=item["Size"], modified=item["LastModified"]
                    )
        except (ClientError, BotoCoreError) as exc:
            raise _error(exc, "listing") from exc

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            if _is_missing(exc):
                raise BackendError(
                    "The S3 bucket does not exist; create it or run `sealpact storage init --create-bucket`."
                ) from None
            raise _error(exc, "bucket check") from exc
        except BotoCoreError as exc:
            raise _error(exc, "bucket check") from exc

    def ensure_bucket(self, *, create: bool) -> bool:
        """Check the bucket; create it when missing only if ``create``. Returns True if it was created."""
        try:
            self.check()
            return False
        except BackendError:
            if not create:
                raise
        try:
            if self.region and self.region != "us-east-1":  # AWS wants the region named explicitly
                self._client.create_bucket(
                    Bucket=self.location.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.region},  # type: ignore[typeddict-item]
                )
            else:
                self._client.create_bucket(Bucket=self.location.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise _error(exc, "bucket creation") from exc
            return False
        except BotoCoreError as exc:
            raise _error(exc, "bucket creation") from exc
        log.info("created S3 bucket %s", self.location.bucket)
        return True
