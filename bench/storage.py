"""Encrypted blob storage throughput and memory, beside raw AES-256-GCM measured in the same run.

    python bench/storage.py [--size-mib 256] [--runs 5] [--chunk-kib 1024]

What is timed:

* raw ``cryptography`` AES-256-GCM over the same bytes in the same chunk size, from memory: the
  allocating ``AESGCM.encrypt``/``decrypt`` and the buffer-reusing ``encrypt_into``/``decrypt_into``;
  plus ``hashlib.sha256`` (every put and read also hashes the plaintext);
* ``BlobService.put`` of a file (local backend) and a full streamed read of it, ``copy_to`` into a sink
  that discards, and chunk iteration. The primary store is on tmpfs (``/dev/shm``) so the figures are
  the code's, not the disk's; the same on the disk temp dir (fsync'd) is printed too, for reference.

Each figure is the median of ``--runs`` runs after one warm-up. Peak memory is measured in separate
(untimed) runs: tracemalloc's peak of Python allocations, and the process RSS peak above the baseline
(sampled every 5 ms). Results are printed, never stored.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sealpact.clock import SystemClock
from sealpact.db import make_engine, make_session_factory, upgrade
from sealpact.storage.keys.keyring import KeyringKeyProvider
from sealpact.storage.localfs import atomic_write_chunks
from sealpact.storage.localstore import LocalBlobStore
from sealpact.storage.service import BlobService

MiB = 1 << 20


class NullSink:
    def write(self, data: bytes | memoryview) -> int:
        return len(data)


CPU_SECONDS: dict[int, float] = {}  # id(fn) -> median process CPU seconds (all threads) per run


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up
    times, cpu = [], []
    for _ in range(runs):
        before, start = os.times(), time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
        after = os.times()
        cpu.append(after.user - before.user + after.system - before.system)
    CPU_SECONDS[id(fn)] = statistics.median(cpu)
    return statistics.median(times)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_memory(fn: Callable[[], object]) -> tuple[int, int]:
    """(tracemalloc peak, RSS peak above the RSS before the call), in bytes."""
    baseline = rss_bytes()
    peak = baseline
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, rss_bytes())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    tracemalloc.start()
    try:
        fn()
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        stop.set()
        sampler.join()
    return traced_peak, max(0, peak - baseline)


def measure_baselines(source: Path, size: int, chunk: int, runs: int) -> dict[str, float]:
    """Raw AES-256-GCM and SHA-256 over the same bytes, same chunk size, from memory."""
    data = source.read_bytes()
    view = memoryview(data)
    key, nonce, aad = AESGCM.generate_key(256), os.urandom(12), b"h" * 32
    aead = AESGCM(key)
    out = bytearray(chunk + 16)
    chunks = [view[i : i + chunk] for i in range(0, size, chunk)]
    sealed = [aead.encrypt(nonce, c, aad) for c in chunks]
    plain = bytearray(chunk)

    def raw_encrypt() -> None:
        for c in chunks:
            aead.encrypt(nonce, c, aad)

    def raw_encrypt_into() -> None:
        for c in chunks:
            aead.encrypt_into(nonce, c, aad, out)

    def raw_decrypt() -> None:
        for s in sealed:
            aead.decrypt(nonce, s, aad)

    def raw_decrypt_into() -> None:
        for s in sealed:
            aead.decrypt_into(nonce, s, aad, memoryview(plain)[: len(s) - 16])

    def sha() -> None:
        h = hashlib.sha256()
        for c in chunks:
            h.update(c)

    return {
        "raw AESGCM.encrypt": median_seconds(raw_encrypt, runs),
        "raw AESGCM.encrypt_into": median_seconds(raw_encrypt_into, runs),
        "raw AESGCM.decrypt": median_seconds(raw_decrypt, runs),
        "raw AESGCM.decrypt_into": median_seconds(raw_decrypt_into, runs),
        "hashlib.sha256": median_seconds(sha, runs),
    }


def build_service(root: Path, chunk_size: int) -> BlobService:
    engine = make_engine(f"sqlite:///{root / 'bench.db'}")
    upgrade(engine)
    keys = KeyringKeyProvider.create(root / "keyring.json", b"bench-master-secret-" + b"z" * 20)
    return BlobService(
        make_session_factory(engine),
        LocalBlobStore(root / "blobs"),
        keys,
        SystemClock(),
        chunk_size=chunk_size,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--chunk-kib", type=int, default=1024)
    args = parser.parse_args()
    size, chunk = args.size_mib * MiB, args.chunk_kib * 1024
    runs = max(5, args.runs)

    fast_root = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
    with (
        tempfile.TemporaryDirectory(dir=fast_root, prefix="sealpact-bench-") as fast_dir,
        tempfile.TemporaryDirectory(prefix="sealpact-bench-") as disk_dir,
    ):
        fast, disk = Path(fast_dir), Path(disk_dir)
        source = fast / "source.bin"
        with source.open("wb") as f:
            for _ in range(size // MiB):
                f.write(os.urandom(MiB))
            f.write(os.urandom(size % MiB))

        baselines = measure_baselines(source, size, chunk, runs)

        # -- the service ------------------------------------------------------------------------
        results: dict[str, float] = {}
        copies: dict[str, float] = {}
        cpu: dict[str, float] = {}
        memory: dict[str, tuple[int, int]] = {}
        for label, root in (("tmpfs", fast), ("disk", disk)):
            service = build_service(root / "svc", chunk)
            last: list[str] = []

            def put(service: BlobService = service, last: list[str] = last) -> None:
                with source.open("rb", buffering=0) as f:
                    ref = service.put(f, content_type="application/octet-stream")
                last.insert(0, ref.id)  # blobs are kept until the temp dirs go: no delete in the timing

            def plain_copy(root: Path = root) -> None:
                with source.open("rb", buffering=0) as f:
                    atomic_write_chunks(root / "copy.bin", iter(lambda: f.read(chunk), b""))

            copies[label] = median_seconds(plain_copy, runs)

            results[f"put ({label})"] = median_seconds(put, runs)
            cpu[f"put ({label})"] = CPU_SECONDS[id(put)]

            def read_copy(service: BlobService = service, last: list[str] = last) -> None:
                with service.open(last[0]) as reader:
                    reader.copy_to(NullSink())

            def read_iter(service: BlobService = service, last: list[str] = last) -> None:
                with service.open(last[0]) as reader:
                    for _ in reader:
                        pass

            results[f"read copy_to ({label})"] = median_seconds(read_copy, runs)
            cpu[f"read copy_to ({label})"] = CPU_SECONDS[id(read_copy)]
            results[f"read iterate ({label})"] = median_seconds(read_iter, runs)
            cpu[f"read iterate ({label})"] = CPU_SECONDS[id(read_iter)]
            if label == "tmpfs":
                memory["put"] = peak_memory(put)
                memory["read copy_to"] = peak_memory(read_copy)
                memory["read iterate"] = peak_memory(read_iter)

    def gbps(seconds: float) -> str:
        return f"{size / seconds / 1e9:6.2f} GB/s"

    print(f"sealpact storage bench: {size // MiB} MiB, {chunk // 1024} KiB chunks, median of {runs} runs")
    load = os.getloadavg()[0]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {load:.2f} at the end")
    print("CPU s/run: process CPU time (all threads); wall time above it means waiting for a core")
    print()
    print(f"{'baseline (in memory)':34} {'throughput':>12}")
    for name, seconds in baselines.items():
        print(f"{name:34} {gbps(seconds):>12}")
    print()
    header = f"{'sealpact':34} {'throughput':>12} {'vs raw':>8} {'vs raw _into':>13} {'CPU s/run':>10}"
    print(header + f" {'vs plain copy':>14}")
    for label, seconds in copies.items():
        print(f"{'plain file copy, no crypto (' + label + ')':34} {gbps(seconds):>12}")
    for name, seconds in results.items():
        kind = "encrypt" if name.startswith("put") else "decrypt"
        a, b = baselines[f"raw AESGCM.{kind}"], baselines[f"raw AESGCM.{kind}_into"]
        label = name[name.index("(") + 1 : -1]
        vs_copy = f"{copies[label] / seconds:>13.2f}x" if kind == "encrypt" else ""
        row = f"{name:34} {gbps(seconds):>12} {a / seconds:>7.2f}x {b / seconds:>12.2f}x {cpu[name]:>10.2f}"
        print(f"{row} {vs_copy}")
    print()
    print(f"{'peak memory (tmpfs)':34} {'tracemalloc':>12} {'RSS delta':>11}")
    for name, (traced, rss) in memory.items():
        print(f"{name:34} {traced / MiB:>8.1f} MiB {rss / MiB:>7.1f} MiB")


if __name__ == "__main__":
    main()
