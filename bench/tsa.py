"""Benchmark: RFC 3161 tokens per second, in-process and over HTTP, against raw ECDSA P-256 signing.

Run from the repository root: ``python bench/tsa.py``. Every figure is the median of 5 timed runs after
one warm-up run, measured in this process on this machine:

- raw: ``cryptography`` ECDSA P-256/SHA-256 signatures over 200 bytes (the floor for one token: each
  token is one such signature over its signed attributes);
- in-process: ``TsaService.respond`` (parse, checks, serial from a DB-reserved block, TSTInfo, signed
  attributes, signature, DER response) on one thread, so the figure is per core;
- HTTP: POST /pki/tsa to the real app under uvicorn on loopback (one keep-alive connection, and 4
  concurrent client threads), client time included.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.live_server and the test certificate chain

import httpx  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402
from tests.test_pki_tsa_support import make_tsa_chain  # noqa: E402

from sealpact.clock import SystemClock  # noqa: E402
from sealpact.config import Settings  # noqa: E402
from sealpact.db import upgrade  # noqa: E402
from sealpact.pki.tsa import CONTENT_TYPE_QUERY, build_request  # noqa: E402
from sealpact.pki.tsa_service import DatabaseSerialAllocator, TsaPolicy, TsaService  # noqa: E402
from sealpact.runtime import Runtime  # noqa: E402
from sealpact.web.app import create_app  # noqa: E402

RUNS = 5


def median_rate(count: int, run: Callable[[], None]) -> float:
    """Operations per second: median over RUNS timed runs of ``run`` (``count`` operations each)."""
    run()  # warm-up
    rates = []
    for _ in range(RUNS):
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        settings = Settings(
            data_dir=data_dir,
            master_secret="bench-master-secret-" + "x" * 24,  # type: ignore[arg-type]
            database_url=f"sqlite:///{data_dir / 'bench.db'}",
        )
        runtime = Runtime(settings)
        upgrade(runtime.engine)
        chain = make_tsa_chain()
        service = TsaService(
            chain.identity,
            clock=SystemClock(),
            allocator=DatabaseSerialAllocator(runtime.sessions),
            policy=TsaPolicy.from_settings(settings),
        )
        runtime.tsa = service  # type: ignore[misc]

        raw_key = ec.generate_private_key(ec.SECP256R1())
        message = os.urandom(200)
        raw_n = 4000
        raw = median_rate(
            raw_n, lambda: [raw_key.sign(message, ec.ECDSA(hashes.SHA256())) for _ in range(raw_n)]
        )

        requests = [
            build_request(os.urandom(32), nonce=int.from_bytes(os.urandom(8)), cert_req=True)
            for _ in range(2000)
        ]

        def in_process() -> None:
            for request in requests:
                if not service.respond(request).granted:
                    raise SystemExit("the TSA refused a benchmark request")

        inproc = median_rate(len(requests), in_process)

        http_requests = requests[:400]
        with LiveServer(create_app(runtime)) as server:
            url = server.url + "/pki/tsa"
            headers = {"Content-Type": CONTENT_TYPE_QUERY}
            with httpx.Client(timeout=30) as client:

                def sequential() -> None:
                    for request in http_requests:
                        reply = client.post(url, content=request, headers=headers)
                        if reply.status_code != 200:
                            raise SystemExit(f"HTTP {reply.status_code}")

                http_seq = median_rate(len(http_requests), sequential)

            clients = [httpx.Client(timeout=30) for _ in range(4)]

            def concurrent() -> None:
                def worker(index: int) -> None:
                    for request in http_requests[index::4]:
                        clients[index].post(url, content=request, headers=headers).raise_for_status()

                threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()

            http_conc = median_rate(len(http_requests), concurrent)
            for c in clients:
                c.close()
        runtime.close()

    python = sys.version.split()[0]
    print(f"TSA benchmark (median of {RUNS} runs after warm-up; {os.cpu_count()} CPUs; Python {python})")
    print(f"{'measurement':<48}{'per second':>12}{'vs raw sign':>14}")
    rows = [
        ("raw ECDSA P-256 sign (cryptography)", raw),
        ("TSA tokens, in-process (1 thread)", inproc),
        ("TSA tokens, HTTP, 1 keep-alive client", http_seq),
        ("TSA tokens, HTTP, 4 concurrent clients", http_conc),
    ]
    for name, rate in rows:
        print(f"{name:<48}{rate:>12,.0f}{rate / raw:>13.1%}")
    print(f"in-process target >= 2,000 tokens/s per core: {'met' if inproc >= 2000 else 'NOT met'}")


if __name__ == "__main__":
    main()
