"""``sealpact demo``: one complete contract on the embedded default, in a throw-away data directory.

An enterprise (its agent verified by ID check, the enterprise by the sandbox authority's registry and a
micro-deposit; round seal) and an individual (verified; a drawn signature) sign in sequence. Everything
goes through the real HTTP API of a platform served on loopback, with the embedded sandbox authority;
links and one-time codes are read from the SMS/email outbox, as the parties would read their phones.

Signer keys: real custody keys (``sealpact.custody``), created for each verified signer with the demo PIN
(the enterprise's key is certified for the enterprise and controlled by its agent's account); signing
unlocks them through the production key source like any other signing.
"""

from __future__ import annotations

import base64
import io
import re
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, ImageDraw
from sqlalchemy import select

from sealpact.contracts.errors import ContractError
from sealpact.notify.models import EmailMessage
from sealpact.notify.sms import SmsMessage
from sealpact.runtime import Runtime

DEMO_PIN = "135790"
PASSWORD = "demo password " + "x" * 8
_LINK = re.compile(r"/sign#(spl_[A-Za-z0-9_-]+)")
_CODE = re.compile(r"(?<!\d)(\d{6})(?!\d)")


class DemoFailed(ContractError):
    code = "demo_failed"
    http_status = 500


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server:
    def __init__(self, runtime: Runtime, port: int) -> None:
        import uvicorn

        from sealpact.web.app import create_app

        config = uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sealpact-demo", daemon=True)

    def __enter__(self) -> _Server:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise DemoFailed("the demo server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@dataclass(frozen=True)
class DemoResult:
    contract_id: str
    status: str
    signatures: int
    signed_pdf: Path
    certificate_pdf: Path
    root_pem: Path


def _ok(response: httpx.Response, expected: int = 200) -> Any:
    if response.status_code != expected:
        code = ""
        if response.headers.get("content-type", "").startswith("application/json"):
            code = str(response.json().get("error", {}).get("code", ""))
        path = response.request.url.path
        raise DemoFailed(f"{response.request.method} {path}: HTTP {response.status_code} {code}".strip())
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return None


def drawn_signature(name: str) -> bytes:
    """A handwriting-like stroke signature (PNG), as a signature pad would produce."""
    image = Image.new("RGBA", (480, 160), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    seed = sum(ord(c) for c in name)
    points = [(20 + i * 11, 80 + int(40 * ((i * seed) % 7 - 3) / 3)) for i in range(40)]
    draw.line(points, fill=(20, 20, 90, 255), width=5, joint="curve")
    draw.line([(40, 130), (440, 118)], fill=(20, 20, 90, 255), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def round_seal(name: str) -> bytes:
    from sealpact.seals.fonts import FontRole, find_face
    from sealpact.seals.seal import SealShape, SealSpec, render_seal

    rendered, _ = render_seal(SealSpec(SealShape.ROUND, name, name="合同专用章"), find_face(FontRole.SEAL))
    return rendered.png


class Demo:
    def __init__(self, runtime: Runtime, base_url: str) -> None:
        self._rt = runtime
        self._url = base_url

    def _client(self, email: str, *, register: bool = True) -> httpx.Client:
        client = httpx.Client(base_url=self._url, timeout=60, headers={"user-agent": "sealpact-demo"})
        if register:
            _ok(client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD}), 201)
        login = _ok(client.post("/api/v1/auth/login", json={"identifier": email, "password": PASSWORD}))
        client.headers["X-CSRF-Token"] = login["csrf_token"]
        return client

    def _texts(self, mobile: str) -> list[str]:
        with self._rt.sessions() as session:
            rows = session.scalars(
                select(SmsMessage).where(SmsMessage.recipient == mobile).order_by(SmsMessage.created_at)
            )
            return [row.text for row in rows]

    def _email_code(self, address: str) -> str:
        with self._rt.sessions() as session:
            rows = list(session.scalars(select(EmailMessage).order_by(EmailMessage.created_at)))
        for row in reversed(rows):
            if any(address in r for r in row.recipients):
                match = _CODE.search(row.text_body)
                if match:
                    return match.group(1)
        raise DemoFailed("no code in the email outbox")

    def _link(self, mobile: str) -> str:
        for text in reversed(self._texts(mobile)):
            if match := _LINK.search(text):
                return match.group(1)
        raise DemoFailed("no signing link in the SMS outbox")

    def _sms_code(self, mobile: str) -> str:
        for text in reversed(self._texts(mobile)):
            if "/sign#" not in text and (match := _CODE.search(text)):
                return match.group(1)
        raise DemoFailed("no code in the SMS outbox")

    def run(self, out: Path) -> DemoResult:
        from sealpact.identity.sandbox import default_registry

        registry = default_registry()
        agent_person, person = registry.persons[0], registry.persons[1]
        enterprise, account = registry.enterprises[0], registry.accounts[0]
        sandbox = f"{self._url}/sandbox-authority"

        # The enterprise: its agent verifies, creates the organization, verifies it (registry + deposit).
        agent = self._client("agent@demo.sealpact")
        _ok(
            agent.post(
                "/api/v1/identity/individual/id2",
                json={"name": agent_person.name, "id_number": agent_person.id_number},
            )
        )
        org_id = _ok(agent.post("/api/v1/orgs", json={"name": enterprise.name}), 201)["id"]
        v = _ok(
            agent.post(
                f"/api/v1/identity/organizations/{org_id}/enterprise",
                json={
                    "name": enterprise.name,
                    "credit_code": enterprise.credit_code,
                    "legal_rep_name": enterprise.legal_rep_name,
                },
            )
        )
        d = _ok(
            agent.post(
                f"/api/v1/identity/verifications/{v['id']}/deposit",
                json={"account_number": account.account_number, "bank_name": account.bank_name},
            )
        )
        transfers = _ok(
            httpx.get(f"{sandbox}/sandbox/transfers", params={"account_number": account.account_number})
        )
        amount = next(t["amount_fen"] for t in transfers["transfers"] if t["remark"] == d["deposit_remark"])
        _ok(
            agent.post(
                f"/api/v1/identity/verifications/{v['id']}/deposit/confirm",
                json={"amount": f"0.{amount:02d}"},
            )
        )
        # The individual verifies too.
        individual = self._client("person@demo.sealpact")
        _ok(
            individual.post(
                "/api/v1/identity/individual/id2", json={"name": person.name, "id_number": person.id_number}
            )
        )

        # Each signer sets a signing PIN: custody generates their key and certificate.
        from sealpact.accounts.models import User
        from sealpact.custody.service import Subject

        with self._rt.sessions() as session:
            ids = {
                email: session.scalar(select(User.id).where(User.email == email))
                for email in ("agent@demo.sealpact", "person@demo.sealpact")
            }
        agent_id, person_id = ids["agent@demo.sealpact"], ids["person@demo.sealpact"]
        if agent_id is None or person_id is None:
            raise DemoFailed("the demo accounts were not created")
        self._rt.custody.create_key(user_id=agent_id, pin=DEMO_PIN, subject=Subject.enterprise(org_id))
        self._rt.custody.create_key(user_id=person_id, pin=DEMO_PIN)

        # The contract: the agent sends for the enterprise; enterprise first, then the individual.
        from sealpact.contracts.demo_pdf import demo_contract_pdf

        mobiles = ("13800000101", "13800000102")
        parties = [
            {
                "kind": "enterprise",
                "name": agent_person.name,
                "email": "agent@demo.sealpact",
                "mobile": mobiles[0],
                "organization_id": org_id,
                "organization_name": enterprise.name,
                "seal_id": "round-seal",
                "min_level": 1,
                "order": 1,
            },
            {
                "name": person.name,
                "email": "person@demo.sealpact",
                "mobile": mobiles[1],
                "min_level": 1,
                "order": 2,
            },
        ]
        contract = _ok(
            agent.post(
                "/api/v1/contracts",
                json={
                    "title": "采购合同（演示）",
                    "message": "sealpact demo",
                    "organization_id": org_id,
                    "parties": parties,
                },
                headers={"Idempotency-Key": "demo-create"},
            ),
            201,
        )
        cid = contract["id"]
        _ok(
            agent.post(
                f"/api/v1/contract-documents/{cid}",
                params={"filename": "contract.pdf"},
                content=demo_contract_pdf(),
                headers={"content-type": "application/pdf"},
            ),
            201,
        )
        _ok(
            agent.put(
                f"/api/v1/contracts/{cid}/fields",
                json={
                    "fields": [
                        {
                            "document": 0,
                            "party": 0,
                            "kind": "seal",
                            "page": 1,
                            "rect": {"x1": 80, "y1": 90, "x2": 230, "y2": 240},
                        },
                        {
                            "document": 0,
                            "party": 0,
                            "kind": "cross_page_seal",
                            "page": 1,
                            "rect": {"x1": 500, "y1": 400, "x2": 580, "y2": 480},
                        },
                        {
                            "document": 0,
                            "party": 0,
                            "kind": "date_signed",
                            "page": 1,
                            "rect": {"x1": 80, "y1": 60, "x2": 230, "y2": 85},
                        },
                        {
                            "document": 0,
                            "party": 1,
                            "kind": "signature",
                            "page": 1,
                            "rect": {"x1": 330, "y1": 120, "x2": 510, "y2": 180},
                        },
                        {
                            "document": 0,
                            "party": 1,
                            "kind": "date_signed",
                            "page": 1,
                            "rect": {"x1": 330, "y1": 60, "x2": 510, "y2": 85},
                        },
                    ]
                },
            )
        )
        _ok(agent.post(f"/api/v1/contracts/{cid}/send", headers={"Idempotency-Key": "demo-send"}))

        images = (round_seal(enterprise.name), drawn_signature(person.name))
        for index, mobile in enumerate(mobiles):
            signer = httpx.Client(
                base_url=self._url, timeout=120, headers={"user-agent": "sealpact-demo-signer"}
            )
            grant = _ok(signer.post("/api/v1/signing/open", json={"token": self._link(mobile)}), 201)
            signer.headers["X-Signing-Session"] = grant["session_token"]
            _ok(signer.post("/api/v1/signing/authenticate", json={"code": self._sms_code(mobile)}), 204)
            view = _ok(signer.get("/api/v1/signing/contract"))
            _ok(signer.get(f"/api/v1/signing/documents/{view['documents'][0]['id']}/pages/1"))
            _ok(signer.post("/api/v1/signing/intent/code"))
            _ok(signer.post("/api/v1/signing/intent/confirm", json={"code": self._sms_code(mobile)}), 204)
            _ok(
                signer.post(
                    "/api/v1/signing/sign",
                    json={"pin": DEMO_PIN, "signature_png": base64.b64encode(images[index]).decode()},
                )
            )

        state = _ok(agent.get(f"/api/v1/contracts/{cid}"))
        out.mkdir(parents=True, exist_ok=True)
        doc = state["documents"][0]
        signed = agent.get(f"/api/v1/contracts/{cid}/documents/{doc['id']}/content")
        certificate = agent.get(f"/api/v1/contracts/{cid}/certificate")
        if signed.status_code != 200 or certificate.status_code != 200:
            raise DemoFailed("could not download the results")
        paths = (out / "contract-signed.pdf", out / "certificate-of-completion.pdf", out / "root.pem")
        paths[0].write_bytes(signed.content)
        paths[1].write_bytes(certificate.content)
        paths[2].write_bytes(self._rt.pki.export_root())
        from pyhanko.pdf_utils.reader import PdfFileReader

        count = len(PdfFileReader(io.BytesIO(signed.content)).embedded_regular_signatures)
        return DemoResult(cid, state["status"], count, *paths)


def run_demo(runtime: Runtime, out: Path) -> DemoResult:
    """Run the demo against ``runtime`` (fresh, migrated, with ``public_url`` on a free loopback port)."""
    runtime.pki.ensure_hierarchy()
    port = int(runtime.settings.public_url.rsplit(":", 1)[1])
    with _Server(runtime, port):
        return Demo(runtime, runtime.settings.public_url).run(out)
