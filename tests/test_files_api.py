"""/api/v1/files: streamed encrypted upload, download, ownership (404 for others), sniffing, limits."""

from __future__ import annotations

import hashlib
import os

import pytest
from sqlalchemy import func, select

from sealpact.files.models import StoredFile
from sealpact.runtime import Runtime
from sealpact.storage.models import Blob
from tests.test_accounts_support import setup_accounts, user_client

PDF = b"%PDF-1.7\n" + os.urandom(300_000) + b"\n%%EOF\n"


def _counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        files = session.scalar(select(func.count()).select_from(StoredFile)) or 0
        blobs = session.scalar(select(func.count()).select_from(Blob)) or 0
    return files, blobs


def test_upload_download_round_trip(runtime: Runtime) -> None:
    setup_accounts(runtime)
    client, _, _ = user_client(runtime, "alice@example.com")
    response = client.post(
        "/api/v1/files",
        params={"filename": "合同 v1.pdf"},
        content=PDF,
        headers={"content-type": "application/pdf"},
    )
    assert response.status_code == 201, response.text
    info = response.json()
    assert info["size"] == len(PDF)
    assert info["sha256"] == hashlib.sha256(PDF).hexdigest()
    assert info["filename"] == "合同 v1.pdf"

    download = client.get(f"/api/v1/files/{info['id']}/content")
    assert download.status_code == 200
    assert download.content == PDF
    assert download.headers["content-type"] == "application/pdf"
    assert download.headers["x-content-sha256"] == info["sha256"]
    assert [f["id"] for f in client.get("/api/v1/files").json()] == [info["id"]]

    # The stored object is ciphertext: the plaintext appears nowhere in the blob directory.
    blob_dir = runtime.settings.data_dir / "blobs"
    stored = b"".join(p.read_bytes() for p in blob_dir.rglob("*") if p.is_file())
    assert PDF[:4096] not in stored and len(stored) > len(PDF)


def test_other_users_get_404_and_cannot_delete(runtime: Runtime) -> None:
    setup_accounts(runtime)
    alice, _, _ = user_client(runtime, "alice@example.com")
    bob, _, _ = user_client(runtime, "bob@example.com")
    file_id = alice.post(
        "/api/v1/files",
        params={"filename": "a.pdf"},
        content=PDF,
        headers={"content-type": "application/pdf"},
    ).json()["id"]
    for path in (f"/api/v1/files/{file_id}", f"/api/v1/files/{file_id}/content"):
        response = bob.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "file_not_found"
    assert bob.delete(f"/api/v1/files/{file_id}").status_code == 404
    assert bob.get("/api/v1/files").json() == []
    # The owner still has it, then deletes it (allowed case).
    assert alice.get(f"/api/v1/files/{file_id}").status_code == 200
    assert alice.delete(f"/api/v1/files/{file_id}").status_code == 204
    assert alice.get(f"/api/v1/files/{file_id}").status_code == 404
    assert _counts(runtime) == (0, 0)


def test_anonymous_upload_refused(runtime: Runtime) -> None:
    setup_accounts(runtime)
    client, _, _ = user_client(runtime, "alice@example.com")
    client.cookies.clear()
    response = client.post(
        "/api/v1/files",
        params={"filename": "a.pdf"},
        content=PDF,
        headers={"content-type": "application/pdf"},
    )
    assert response.status_code == 401
    assert _counts(runtime) == (0, 0)


@pytest.mark.parametrize(
    ("content_type", "body", "code"),
    [
        ("application/pdf", b"MZ\x90\x00 not a pdf at all", "unsupported_media_type"),
        ("application/x-msdownload", b"MZ\x90\x00", "unsupported_media_type"),
        ("application/pdf", b"", "unsupported_media_type"),
    ],
)
def test_sniffing_rejects_mismatched_content(
    runtime: Runtime, content_type: str, body: bytes, code: str
) -> None:
    setup_accounts(runtime)
    client, _, _ = user_client(runtime, "alice@example.com")
    response = client.post(
        "/api/v1/files", params={"filename": "x.pdf"}, content=body, headers={"content-type": content_type}
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == code
    assert _counts(runtime) == (0, 0)


def test_oversize_upload_rejected_and_nothing_stored(runtime: Runtime) -> None:
    runtime.settings = runtime.settings.model_copy(update={"max_upload_bytes": 100_000})
    setup_accounts(runtime)
    client, _, _ = user_client(runtime, "alice@example.com")

    def body() -> object:  # streamed without Content-Length, so the limit is enforced while reading
        yield PDF[:65536]
        yield PDF[65536:]

    response = client.post(
        "/api/v1/files",
        params={"filename": "big.pdf"},
        content=body(),
        headers={"content-type": "application/pdf"},
    )
    assert response.status_code == 413
    assert _counts(runtime) == (0, 0)
    assert not [p for p in (runtime.settings.data_dir / "blobs").rglob("*") if p.is_file()]
