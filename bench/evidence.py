"""Evidence log throughput and proof latency, beside the SHA-256 floor measured in the same run.

    python bench/evidence.py [--entries 10000] [--runs 5] [--big 1000000] [--skip-pg]

What is timed:

* the floor: ``hashlib.sha256`` of one RFC 9162 leaf (0x00 || a ~190-byte entry) and of one interior
  node (0x01 || 64 bytes);
* sustained append throughput with batching, per database: producer threads stage hash-only entries
  (``EvidenceLog.append``) in their own transactions (1, 16 or 64 per commit) while the in-process
  sequencer cuts batches (<= 256 entries or 250 ms), stores tiles and signs a checkpoint per batch. The
  clock stops when every entry is in a signed checkpoint. Durable: SQLite runs with
  ``PRAGMA synchronous=FULL`` (WAL fsync'd at every commit); PostgreSQL with its defaults (fsync on,
  synchronous_commit on);
* sequencing alone: integrating already-staged entries (tiles, bundles, checkpoint) per second;
* inclusion-proof latency at ``--big`` entries (SQLite): ``EvidenceLog.inclusion_proof`` for random
  leaves against the full tree, with a cold tile cache (every tile read from the database) and a warm
  one; plus the pure verification of the proof.

Medians over ``--runs`` runs after a warm-up. Results are printed, never stored.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import psycopg
from sqlalchemy import event, insert

from sealpact.config import Settings
from sealpact.db import transaction, upgrade
from sealpact.evidence.entries import Entry, record_entry
from sealpact.evidence.merkle import leaf_hash, verify_inclusion
from sealpact.evidence.models import LogEntry
from sealpact.evidence.storage import NodeCache, TileCache
from sealpact.runtime import Runtime
from sealpact.storage.keys.keyring import KeyringKeyProvider

SECRET = "bench-master-secret-" + "x" * 24
PG = "host=127.0.0.1 port=5432 user=postgres dbname=test"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_entry(i: int) -> Entry:
    digest = hashlib.sha256(i.to_bytes(8, "big")).digest()
    return record_entry("contract.signed", digest.hex(), digest, T0)


def entry_bytes(i: int) -> bytes:
    return make_entry(i).encode()


def ns_per_op(fn: Callable[[], object], n: int, runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter_ns() - start) / n)
    return statistics.median(samples)


def make_runtime(directory: Path, url: str | None, **overrides: Any) -> Runtime:
    values: dict[str, Any] = {
        "data_dir": directory,
        "master_secret": SECRET,
        "public_url": "https://bench.example",
    }
    if url:
        values["database_url"] = url
    values.update(overrides)
    settings = Settings(**values)
    KeyringKeyProvider.create(settings.keyring_path, SECRET.encode())
    runtime = Runtime(settings)
    if settings.database_url.startswith("sqlite"):

        @event.listens_for(runtime.engine, "connect")
        def _durable(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

    upgrade(runtime.engine)
    runtime.evidence.initialise()
    return runtime


class Database:
    """A fresh database per run: a SQLite file, or a new PostgreSQL database dropped afterwards."""

    def __init__(self, kind: str, root: Path) -> None:
        self.kind, self.root, self.name = kind, root, ""

    def __enter__(self) -> str | None:
        if self.kind == "sqlite":
            return None
        self.name = "sealpact_bench_" + os.urandom(4).hex()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"

    def __exit__(self, *exc: object) -> None:
        if self.name:
            with psycopg.connect(PG, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def append_run(kind: str, entries: int, per_tx: int, producers: int) -> float:
    """Entries per second from the first staged entry until all are in a signed checkpoint."""
    with tempfile.TemporaryDirectory() as tmp, Database(kind, Path(tmp)) as url:
        runtime = make_runtime(Path(tmp), url)
        try:
            evidence = runtime.evidence
            payload = [make_entry(i) for i in range(entries)]
            share = entries // producers

            def produce(part: list[Entry]) -> None:
                for i in range(0, len(part), per_tx):
                    with transaction(runtime.sessions) as session:
                        for entry in part[i : i + per_tx]:
                            evidence.append(session, entry)

            threads = [
                threading.Thread(target=produce, args=(payload[p * share : (p + 1) * share],))
                for p in range(producers)
            ]
            total = share * producers
            start = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            while evidence.size() < total:
                time.sleep(0.002)
            return total / (time.perf_counter() - start)
        finally:
            runtime.close()


def sequence_run(kind: str, entries: int) -> float:
    with tempfile.TemporaryDirectory() as tmp, Database(kind, Path(tmp)) as url:
        runtime = make_runtime(Path(tmp), url, evidence_sequencer="off")
        try:
            stage_bulk(runtime, entries)
            start = time.perf_counter()
            runtime.evidence.run_until_idle()
            return entries / (time.perf_counter() - start)
        finally:
            runtime.close()


def stage_bulk(runtime: Runtime, entries: int, start: int = 0) -> None:
    chunk = 20_000
    for first in range(start, start + entries, chunk):
        rows = []
        for i in range(first, min(first + chunk, start + entries)):
            data = entry_bytes(i)
            rows.append({"id": f"bench-{i}", "entry": data, "leaf_hash": leaf_hash(data), "staged_at": T0})
        with transaction(runtime.sessions) as session:
            session.execute(insert(LogEntry), rows)


def proof_latency(big: int, samples: int) -> tuple[float, float, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = make_runtime(Path(tmp), None, evidence_sequencer="off", evidence_batch_size=4096)
        try:
            evidence = runtime.evidence
            build = time.perf_counter()
            stage_bulk(runtime, big)
            evidence.run_until_idle()
            build = time.perf_counter() - build
            root = evidence.stored_checkpoints()[-1][1]
            rng = random.Random(7)
            indexes = [rng.randrange(big) for _ in range(samples)]
            cold, warm, verify = [], [], []
            for index in indexes:
                evidence.tiles, evidence.nodes = TileCache(), NodeCache()  # every tile from the database
                t = time.perf_counter_ns()
                evidence.inclusion_proof(index, big)
                cold.append(time.perf_counter_ns() - t)
            evidence.tiles, evidence.nodes = TileCache(), NodeCache()
            for index in indexes:
                evidence.inclusion_proof(index, big)
            for index in indexes:
                t = time.perf_counter_ns()
                proof = evidence.inclusion_proof(index, big)
                warm.append(time.perf_counter_ns() - t)
                leaf = leaf_hash(entry_bytes(index))
                t = time.perf_counter_ns()
                verify_inclusion(leaf, index, big, proof, root)
                verify.append(time.perf_counter_ns() - t)
            return build, statistics.median(cold), statistics.median(warm), statistics.median(verify)
        finally:
            runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()

    entry = entry_bytes(1)
    leaf_ns = ns_per_op(lambda: hashlib.sha256(b"\x00" + entry).digest(), 200_000, args.runs)
    node_ns = ns_per_op(lambda: hashlib.sha256(b"\x01" + entry[:64]).digest(), 200_000, args.runs)
    floor = 1e9 / (leaf_ns + node_ns)  # about one leaf and one node hash per appended entry
    print(f"entry size {len(entry)} bytes; load average {os.getloadavg()[0]:.2f}; cpus {os.cpu_count()}")
    print(f"{'floor: SHA-256 per leaf':<52} {leaf_ns:>10.0f} ns")
    print(f"{'floor: SHA-256 per node':<52} {node_ns:>10.0f} ns")
    print(f"{'floor: leaf + node hash per entry':<52} {floor:>10,.0f} entries/s")
    print()
    print(f"{'append throughput (durable, batched)':<52} {'entries/s':>10}  {'vs floor':>8}")
    kinds = ["sqlite"] + ([] if args.skip_pg else ["postgresql"])
    for kind in kinds:
        for per_tx, producers in ((1, 4), (16, 4), (64, 4)):
            append_run(kind, min(args.entries, 2000), per_tx, producers)  # warm-up
            rate = statistics.median(
                append_run(kind, args.entries, per_tx, producers) for _ in range(args.runs)
            )
            label = f"{kind}: {producers} producers, {per_tx} entr{'y' if per_tx == 1 else 'ies'}/commit"
            print(f"{label:<52} {rate:>10,.0f}  {rate / floor:>8.4f}")
        rate = statistics.median(sequence_run(kind, args.entries) for _ in range(args.runs))
        print(f"{kind + ': sequencing pre-staged entries':<52} {rate:>10,.0f}  {rate / floor:>8.4f}")
    print()
    build, cold, warm, verify = proof_latency(args.big, args.samples)
    print(f"inclusion proofs at {args.big:,} entries (SQLite; log built in {build:.0f} s)")
    print(f"{'  median, cold caches (tiles from the database)':<52} {cold / 1e6:>10.3f} ms")
    print(f"{'  median, warm caches (tiles and their inner nodes)':<52} {warm / 1e6:>10.3f} ms")
    print(f"{'  median, verifying the proof (pure)':<52} {verify / 1e6:>10.3f} ms")
    print(f"{'  floor: proof length x SHA-256 per node':<52} {20 * node_ns / 1e6:>10.4f} ms")


if __name__ == "__main__":
    main()
