"""/api/v1/seals: appearances stored encrypted per user or organization, ownership, audit (SQLite + PG)."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from sealpact.audit.models import AuditEvent
from sealpact.runtime import Runtime
from sealpact.seals import fonts
from sealpact.seals import service as seal_service
from sealpact.seals.errors import AppearanceNotFound
from sealpact.seals.fonts import FontRole
from sealpact.seals.models import Appearance
from sealpact.seals.render import SEAL_RED
from sealpact.signing.appearance import load_png
from sealpact.storage.models import Blob
from tests.test_accounts_support import setup_accounts, user_client
from tests.test_apikeys_support import error_code, make_org

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ORG_NAME = "上海某某科技有限公司"
STROKES = [
    [
        {"x": 10 + i * 3.0, "y": 40 + 20 * math.sin(i / 5), "t": i * 10.0, "p": 0.3 + i / 100}
        for i in range(50)
    ],
    [{"x": 60.0, "y": 5.0 + i * 3, "t": 700.0 + i * 9} for i in range(30)],
]


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[str, str], str]:
    """Verified names the service sees, instead of running real-name verification in every test."""
    names: dict[tuple[str, str], str] = {}

    def lookup(_runtime: Runtime) -> Callable[[str, str], str | None]:
        return lambda subject_type, subject_id: names.get((subject_type, subject_id))

    monkeypatch.setattr(seal_service, "_verified_from_identity", lookup)
    return names


def _png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA"
    return image


def _counts(runtime: Runtime) -> tuple[int, int]:
    with runtime.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Appearance)) or 0,
            session.scalar(select(func.count()).select_from(Blob)) or 0,
        )


def test_handwritten_signature_stored_encrypted_with_stroke_evidence(runtime: Runtime) -> None:
    setup_accounts(runtime)
    alice, alice_id, _ = user_client(runtime, "alice@example.com")
    created = alice.post("/api/v1/seals/handwritten", json={"strokes": STROKES, "name": "我的签名"})
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["kind"] == "handwritten" and info["owner_user_id"] == alice_id and info["has_evidence"]
    assert info["organization_id"] is None and info["dpi"] == 300 and info["name"] == "我的签名"

    png = alice.get(f"/api/v1/seals/{info['id']}/png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.headers["x-content-sha256"] == info["sha256"]
    image = _png(png.content)
    assert image.size == (info["width_px"], info["height_px"])
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert image.getchannel("A").getextrema()[1] == 255

    evidence = alice.get(f"/api/v1/seals/{info['id']}/evidence")
    assert evidence.status_code == 200 and evidence.headers["content-type"].startswith("application/json")
    body = json.loads(evidence.content)
    assert body["version"] == 1 and body["unit"] == "css_px"
    assert body["strokes"][0][3] == STROKES[0][3] and len(body["strokes"][1]) == 30

    assert [a["id"] for a in alice.get("/api/v1/seals").json()] == [info["id"]]
    # Both blobs are ciphertext on disk.
    stored = b"".join(p.read_bytes() for p in (runtime.settings.data_dir / "blobs").rglob("*") if p.is_file())
    assert png.content[:64] not in stored and evidence.content[:64] not in stored
    with runtime.sessions() as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "appearance.created")).one()
        assert event.object_id == info["id"] and event.actor_user_id == alice_id


def test_others_get_404_and_deleted_ones_disappear(runtime: Runtime) -> None:
    setup_accounts(runtime)
    alice, _, _ = user_client(runtime, "alice@example.com")
    bob, _, _ = user_client(runtime, "bob@example.com")
    appearance_id = alice.post("/api/v1/seals/handwritten", json={"strokes": STROKES}).json()["id"]
    for path in ("", "/png", "/evidence"):
        response = bob.get(f"/api/v1/seals/{appearance_id}{path}")
        assert response.status_code == 404 and error_code(response) == "appearance_not_found"
    assert bob.delete(f"/api/v1/seals/{appearance_id}").status_code == 404
    assert bob.get("/api/v1/seals").json() == []
    assert bob.get("/api/v1/seals/not-an-id/png").status_code == 404

    assert alice.delete(f"/api/v1/seals/{appearance_id}").status_code == 204
    assert alice.get(f"/api/v1/seals/{appearance_id}/png").status_code == 404
    assert alice.get("/api/v1/seals").json() == []
    with runtime.sessions() as session:
        actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.object_id == appearance_id)))
    assert actions == {"appearance.created", "appearance.deleted"}


@pytest.mark.parametrize(
    "body",
    [
        {"strokes": []},
        {"strokes": [[{"x": 1, "y": 1e9}]]},
        {"strokes": [[{"x": 1, "y": 1, "p": 2}]]},
        {"strokes": [[{"x": 1, "y": 1}] * 5001]},
        {"strokes": STROKES, "pen_mm": 50},
    ],
)
def test_invalid_strokes_store_nothing(runtime: Runtime, body: dict[str, object]) -> None:
    setup_accounts(runtime)
    alice, _, _ = user_client(runtime, "alice@example.com")
    response = alice.post("/api/v1/seals/handwritten", json=body)
    assert response.status_code == 422, response.text
    assert _counts(runtime) == (0, 0)


def test_generated_signature_uses_the_verified_name(
    runtime: Runtime, verified: dict[tuple[str, str], str]
) -> None:
    setup_accounts(runtime)
    alice, alice_id, _ = user_client(runtime, "alice@example.com")
    refused = alice.post("/api/v1/seals/generated", json={})
    assert refused.status_code == 409 and error_code(refused) == "not_verified"
    verified[("individual", alice_id)] = "张伟明"
    created = alice.post("/api/v1/seals/generated", json={"height_mm": 10})
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["kind"] == "generated" and info["text_verified"] and not info["has_evidence"]
    assert info["spec"]["font"].startswith(("AR PL", "Noto"))
    image = _png(alice.get(f"/api/v1/seals/{info['id']}/png").content)
    assert image.width > 2 * image.height
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / "api_generated.png")


def test_organization_seals_for_owners_and_admins(runtime: Runtime) -> None:
    setup_accounts(runtime)
    org = make_org(runtime, "owner@example.cn", "Acme")
    member, _, _ = user_client(runtime, "member@example.cn")
    admin, _, _ = user_client(runtime, "admin@example.cn")
    for email, role in (("member@example.cn", "member"), ("admin@example.cn", "admin")):
        added = org.owner.post(f"/api/v1/orgs/{org.org_id}/members", json={"identifier": email, "role": role})
        assert added.status_code == 201, added.text
    rival = make_org(runtime, "rival@example.cn", "Rival")

    spec = {
        "organization_id": org.org_id,
        "text": ORG_NAME,
        "seal_name": "合同专用章",
        "code": "3101150012345",
    }
    created = org.owner.post("/api/v1/seals/seal", json=spec)
    assert created.status_code == 201, created.text
    seal = created.json()
    assert seal["kind"] == "seal" and seal["organization_id"] == org.org_id and seal["owner_user_id"] is None
    assert seal["name"] == "合同专用章" and not seal["text_verified"]
    assert seal["spec"]["shape"] == "round" and seal["spec"]["star"] is True
    assert abs(seal["width_mm"] - 42) < 0.2

    image = _png(org.owner.get(f"/api/v1/seals/{seal['id']}/png").content)
    ARTIFACTS.mkdir(exist_ok=True)
    image.save(ARTIFACTS / "api_seal_round.png")
    assert image.getpixel((image.width // 2, image.height // 2)) == (*SEAL_RED, 255)
    assert image.getpixel((0, 0))[3] == 0  # type: ignore[index]

    # Admins create too; members only see (list, PNG) and cannot create or delete.
    oval = admin.post("/api/v1/seals/seal", json={**spec, "shape": "oval", "seal_name": "发票专用章"})
    assert oval.status_code == 201, oval.text
    denied = member.post("/api/v1/seals/seal", json=spec)
    assert denied.status_code == 403 and error_code(denied) == "permission_denied"
    listed = member.get("/api/v1/seals", params={"organization_id": org.org_id}).json()
    assert {a["id"] for a in listed} == {seal["id"], oval.json()["id"]}
    assert member.get(f"/api/v1/seals/{seal['id']}/png").status_code == 200
    assert member.get(f"/api/v1/seals/{seal['id']}/evidence").status_code == 403
    assert member.delete(f"/api/v1/seals/{seal['id']}").status_code == 403
    assert member.get("/api/v1/seals").json() == []  # personal list: the org's seals are not personal

    # Another organization's owner: 404 for everything, including creating in this org.
    for response in (
        rival.owner.get(f"/api/v1/seals/{seal['id']}/png"),
        rival.owner.get(f"/api/v1/seals/{seal['id']}"),
        rival.owner.delete(f"/api/v1/seals/{seal['id']}"),
        rival.owner.get("/api/v1/seals", params={"organization_id": org.org_id}),
        rival.owner.post("/api/v1/seals/seal", json=spec),
    ):
        assert response.status_code == 404, response.text
    with runtime.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Appearance)) == 2


def test_seal_text_must_be_the_verified_enterprise_name(
    runtime: Runtime, verified: dict[tuple[str, str], str]
) -> None:
    setup_accounts(runtime)
    org = make_org(runtime, "owner@example.cn", "Acme")
    verified[("enterprise", org.org_id)] = ORG_NAME
    wrong = org.owner.post(
        "/api/v1/seals/seal", json={"organization_id": org.org_id, "text": "北京另一家有限公司"}
    )
    assert wrong.status_code == 422 and error_code(wrong) == "invalid_seal_spec"
    created = org.owner.post(
        "/api/v1/seals/seal",
        json={"organization_id": org.org_id, "seal_name": "合同专用章", "shape": "round"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["spec"]["text"] == ORG_NAME and created.json()["text_verified"]


def test_bad_seal_specs_and_missing_glyphs(runtime: Runtime) -> None:
    setup_accounts(runtime)
    org = make_org(runtime)
    url = "/api/v1/seals/seal"
    for body, code in (
        ({"text": "某某\U00013000公司"}, "glyph_missing"),
        ({"text": ORG_NAME, "code": "中文编码"}, "invalid_seal_spec"),
        ({"text": ORG_NAME, "shape": "oval", "width_mm": 30, "height_mm": 40}, "invalid_seal_spec"),
        ({"text": "张三", "shape": "square", "seal_name": "章"}, "invalid_seal_spec"),
        ({"text": "a\x00b"}, "invalid_text"),
    ):
        response = org.owner.post(url, json={"organization_id": org.org_id, **body})
        assert response.status_code == 422 and error_code(response) == code, (body, response.text)
    assert _counts(runtime) == (0, 0)


def test_no_cjk_font_answers_font_unavailable(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_accounts(runtime)
    org = make_org(runtime)
    monkeypatch.setitem(fonts._CANDIDATES, FontRole.SEAL, ())
    response = org.owner.post("/api/v1/seals/seal", json={"organization_id": org.org_id, "text": ORG_NAME})
    assert response.status_code == 503 and error_code(response) == "font_unavailable"
    assert "fonts-noto-cjk" in response.json()["error"]["message"]


def test_scanned_seal_upload(runtime: Runtime) -> None:
    setup_accounts(runtime)
    org = make_org(runtime)
    # A "scan": the seal drawn in red on light paper.
    drawn = org.owner.post("/api/v1/seals/seal", json={"organization_id": org.org_id, "text": ORG_NAME})
    stamp = _png(org.owner.get(f"/api/v1/seals/{drawn.json()['id']}/png").content)
    paper = Image.new("RGB", (stamp.width + 120, stamp.height + 80), (244, 241, 232))
    paper.paste(stamp, (60, 40), stamp)
    scan = io.BytesIO()
    paper.save(scan, format="JPEG", quality=90)

    url = f"/api/v1/seals/scans?organization_id={org.org_id}&name=扫描章"
    created = org.owner.post(url, content=scan.getvalue(), headers={"content-type": "image/jpeg"})
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["kind"] == "scan" and info["name"] == "扫描章" and info["has_evidence"]
    image = _png(org.owner.get(f"/api/v1/seals/{info['id']}/png").content)
    assert abs(image.width - stamp.width) < 16 and image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert image.getpixel((image.width // 2, image.height // 2))[3] == 255  # type: ignore[index]
    original = org.owner.get(f"/api/v1/seals/{info['id']}/evidence")
    assert original.content == scan.getvalue() and original.headers["content-type"] == "image/jpeg"

    not_image = org.owner.post(url, content=b"%PDF-1.7 nope", headers={"content-type": "image/png"})
    assert not_image.status_code == 422 and error_code(not_image) == "invalid_image"
    member, _, _ = user_client(runtime, "stranger@example.cn")
    assert member.post(url, content=scan.getvalue()).status_code == 404


def test_png_for_signing_only_for_its_owner(runtime: Runtime) -> None:
    """What the contract flow calls for ``party.seal_id`` (org) or a signer's own appearance (user)."""
    setup_accounts(runtime)
    org = make_org(runtime)
    rival = make_org(runtime, "rival@example.cn", "Rival")
    alice, alice_id, _ = user_client(runtime, "alice@example.com")
    seal_id = org.owner.post(
        "/api/v1/seals/seal", json={"organization_id": org.org_id, "text": ORG_NAME}
    ).json()["id"]
    mine = alice.post("/api/v1/seals/handwritten", json={"strokes": STROKES}).json()["id"]
    with runtime.sessions() as session:
        png = seal_service.png_for_signing(
            session, runtime.blobs, seal_id, user_id=org.owner_id, organization_id=org.org_id
        )
        assert load_png(png).size == (496, 496)  # the signing engine accepts it
        assert load_png(
            seal_service.png_for_signing(session, runtime.blobs, mine, user_id=alice_id, organization_id=None)
        )
        for appearance_id, user_id, organization_id in (
            (seal_id, org.owner_id, rival.org_id),
            (seal_id, org.owner_id, None),
            (mine, org.owner_id, None),
            (mine, alice_id, org.org_id),
            ("0" * 36, alice_id, None),
        ):
            with pytest.raises(AppearanceNotFound):
                seal_service.png_for_signing(
                    session, runtime.blobs, appearance_id, user_id=user_id, organization_id=organization_id
                )
    assert org.owner.delete(f"/api/v1/seals/{seal_id}").status_code == 204
    with runtime.sessions() as session, pytest.raises(AppearanceNotFound):
        seal_service.png_for_signing(
            session, runtime.blobs, seal_id, user_id=None, organization_id=org.org_id
        )


def test_personal_name_seal_needs_the_verified_name(
    runtime: Runtime, verified: dict[tuple[str, str], str]
) -> None:
    setup_accounts(runtime)
    alice, alice_id, _ = user_client(runtime, "alice@example.com")
    body = {"shape": "square", "text": "张伟明印"}
    refused = alice.post("/api/v1/seals/seal", json=body)
    assert refused.status_code == 409 and error_code(refused) == "not_verified"
    verified[("individual", alice_id)] = "张伟明"
    other_name = alice.post("/api/v1/seals/seal", json={"shape": "square", "text": "李四印"})
    assert other_name.status_code == 422 and error_code(other_name) == "invalid_seal_spec"
    created = alice.post("/api/v1/seals/seal", json=body)
    assert created.status_code == 201, created.text
    info = created.json()
    assert info["owner_user_id"] == alice_id and info["organization_id"] is None and info["text_verified"]
    image = _png(alice.get(f"/api/v1/seals/{info['id']}/png").content)
    assert image.size == (236, 236) and image.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert [a["id"] for a in alice.get("/api/v1/seals").json()] == [info["id"]]
