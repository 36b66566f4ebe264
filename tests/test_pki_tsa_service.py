"""The TSA service: persistent unique serials, clock trust, rejections, and the time-stampers.

Database tests run on SQLite and PostgreSQL (``runtime``); the cross-process uniqueness test uses two
runtimes (two engines, two connection pools) on one PostgreSQL database.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asn1crypto import cms
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from sealpact.clock import FrozenClock
from sealpact.config import TsaClockCheck, TsaMode
from sealpact.db import upgrade
from sealpact.errors import ConfigurationError
from sealpact.pki.signing_key import KeyAlgorithm
from sealpact.pki.tsa import CONTENT_TYPE_REPLY, FailInfo, TsaIdentity, build_request
from sealpact.pki.tsa_models import TsaSerialCounter
from sealpact.pki.tsa_service import (
    AdjtimexClockStatus,
    BuiltinTimeStamper,
    DatabaseSerialAllocator,
    FallbackTimeStamper,
    HttpTimeStamper,
    TimestampUnavailable,
    TsaPolicy,
    TsaService,
    build_time_stamper,
    request_timestamp,
)
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_pki_tsa_support import TsaChain, make_tsa_chain

T0 = datetime(2026, 5, 1, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def chain() -> TsaChain:
    return make_tsa_chain()


class FakeKernelStatus:
    def __init__(self, synchronized: bool) -> None:
        self.value = synchronized

    def synchronized(self) -> bool:
        return self.value


def make_service(
    runtime: Runtime,
    chain: TsaChain,
    clock: FrozenClock,
    *,
    block: int = 10,
    check: TsaClockCheck = TsaClockCheck.MONOTONIC,
    kernel: FakeKernelStatus | None = None,
    accepted: frozenset[str] = frozenset(),
) -> TsaService:
    return TsaService(
        chain.identity,
        clock=clock,
        allocator=DatabaseSerialAllocator(runtime.sessions),
        policy=TsaPolicy(serial_block=block, clock_check=check, accepted_policies=accepted),
        clock_status=kernel or FakeKernelStatus(True),
    )


def query(nonce: int | None = 42, **kwargs: object) -> bytes:
    return build_request(os.urandom(32), nonce=nonce, **kwargs)  # type: ignore[arg-type]


def counter(runtime: Runtime) -> TsaSerialCounter | None:
    with runtime.sessions() as session:
        return session.scalars(select(TsaSerialCounter)).one_or_none()


def tst_info(token: bytes) -> dict[str, object]:
    content = cms.ContentInfo.load(token)["content"]["encap_content_info"]["content"].parsed
    return {
        "serial": content["serial_number"].native,
        "gen_time": content["gen_time"].native,
        "nonce": content["nonce"].native,
        "policy": content["policy"].dotted,
    }


# --- serials ---------------------------------------------------------------------------------------------


def test_serials_unique_from_reserved_blocks(runtime: Runtime, chain: TsaChain) -> None:
    clock = FrozenClock(T0)
    service = make_service(runtime, chain, clock, block=10)
    serials = []
    for _ in range(25):
        clock.advance(milliseconds=3)
        answer = service.respond(query())
        assert answer.granted and answer.token is not None
        assert tst_info(answer.token)["serial"] == answer.serial
        serials.append(answer.serial)
    assert serials == list(range(1, 26))
    row = counter(runtime)
    assert row is not None
    assert (row.next_serial, row.blocks_reserved) == (31, 3)
    assert row.high_water_time == T0 + timedelta(milliseconds=63)


def test_restart_never_reuses_a_serial(runtime: Runtime, chain: TsaChain) -> None:
    clock = FrozenClock(T0)
    first = make_service(runtime, chain, clock, block=10)
    used = {first.respond(query()).serial for _ in range(3)}
    # A new process (new service, same database): the rest of the first block is skipped, not reused.
    second = make_service(runtime, chain, clock, block=10)
    later = [second.respond(query()).serial for _ in range(3)]
    assert used == {1, 2, 3}
    assert later == [11, 12, 13]


@pytest.mark.postgres
def test_two_runtimes_on_postgres_never_collide(pg_url: str, tmp_path: object, chain: TsaChain) -> None:
    from pathlib import Path

    base = Path(str(tmp_path))
    runtimes = []
    for name in ("a", "b"):
        (base / name).mkdir()
        runtimes.append(Runtime(make_settings(base / name, database_url=pg_url)))
    upgrade(runtimes[0].engine)
    clock = FrozenClock(T0)
    services = [make_service(rt, chain, clock, block=7) for rt in runtimes]
    results: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            service = services[index % 2]
            for _ in range(60):
                answer = service.respond(query())
                assert answer.granted and answer.serial is not None
                results[index].append(answer.serial)
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        everything = [s for part in results for s in part]
        assert len(everything) == 240
        assert len(set(everything)) == 240
        row = counter(runtimes[0])
        assert row is not None and max(everything) < row.next_serial
    finally:
        for rt in runtimes:
            rt.close()


# --- clock trust -----------------------------------------------------------------------------------------


def test_clock_going_backwards_is_refused_and_issues_nothing(runtime: Runtime, chain: TsaChain) -> None:
    clock = FrozenClock(T0)
    service = make_service(runtime, chain, clock)
    assert service.respond(query()).serial == 1
    clock.advance(seconds=-2)
    answer = service.respond(query())
    assert not answer.granted and answer.token is None
    assert answer.fail_info is FailInfo.TIME_NOT_AVAILABLE
    clock.advance(seconds=3)
    assert service.respond(query()).serial == 2  # no serial was spent on the refusal


def test_clock_check_none_trusts_the_clock(runtime: Runtime, chain: TsaChain) -> None:
    clock = FrozenClock(T0)
    service = make_service(runtime, chain, clock, check=TsaClockCheck.NONE)
    service.respond(query())
    clock.advance(seconds=-2)
    answer = service.respond(query())
    assert answer.granted and answer.gen_time == T0 - timedelta(seconds=2)


def test_synchronized_check_follows_the_kernel(runtime: Runtime, chain: TsaChain) -> None:
    kernel = FakeKernelStatus(False)
    service = make_service(runtime, chain, FrozenClock(T0), check=TsaClockCheck.SYNCHRONIZED, kernel=kernel)
    refused = service.respond(query())
    assert refused.fail_info is FailInfo.TIME_NOT_AVAILABLE
    assert refused.message == "the system clock is not synchronised"
    assert counter(runtime) is None  # nothing reserved, nothing issued
    kernel.value = True
    assert service.respond(query()).granted
    # A monotonic service does not ask the kernel.
    kernel.value = False
    assert (
        make_service(runtime, chain, FrozenClock(T0 + timedelta(1)), kernel=kernel).respond(query()).granted
    )


def test_restart_with_clock_behind_the_database_is_refused(runtime: Runtime, chain: TsaChain) -> None:
    make_service(runtime, chain, FrozenClock(T0)).respond(query())
    before = counter(runtime)
    behind = make_service(runtime, chain, FrozenClock(T0 - timedelta(hours=1)))
    answer = behind.respond(query())
    assert answer.fail_info is FailInfo.TIME_NOT_AVAILABLE
    after = counter(runtime)
    assert before is not None and after is not None
    assert (after.next_serial, after.blocks_reserved) == (before.next_serial, before.blocks_reserved)


def test_host_behind_within_accuracy_is_accepted(runtime: Runtime, chain: TsaChain) -> None:
    """Another host's clock a little behind (within the stated accuracy, 1 s) may still issue."""
    make_service(runtime, chain, FrozenClock(T0)).respond(query())
    lagging = make_service(runtime, chain, FrozenClock(T0 - timedelta(milliseconds=600)))
    assert lagging.respond(query()).granted
    row = counter(runtime)
    assert row is not None and row.high_water_time == T0  # not pulled back by the lagging host


def test_naive_clock_is_refused(runtime: Runtime, chain: TsaChain) -> None:
    class NaiveClock:
        def now(self) -> datetime:
            return datetime(2026, 1, 1)  # deliberately without a zone

    service = TsaService(
        chain.identity, clock=NaiveClock(), allocator=DatabaseSerialAllocator(runtime.sessions)
    )
    assert service.respond(query()).fail_info is FailInfo.TIME_NOT_AVAILABLE


def test_adjtimex_answers_on_this_kernel() -> None:
    # The container's clock may or may not be disciplined; the call itself must work unprivileged.
    assert isinstance(AdjtimexClockStatus().synchronized(), bool)


# --- requests the service refuses ---------------------------------------------------------------------


def test_bad_requests_issue_nothing(runtime: Runtime, chain: TsaChain) -> None:
    service = make_service(runtime, chain, FrozenClock(T0))
    cases = {
        b"not DER": FailInfo.BAD_DATA_FORMAT,
        build_request(os.urandom(32), policy="1.2.3.4"): FailInfo.UNACCEPTED_POLICY,
    }
    for data, fail_info in cases.items():
        answer = service.respond(data)
        assert not answer.granted and answer.fail_info is fail_info and answer.serial is None
    assert counter(runtime) is None


def test_accepted_policy_is_echoed(runtime: Runtime, chain: TsaChain) -> None:
    service = make_service(runtime, chain, FrozenClock(T0), accepted=frozenset({"1.2.3.4"}))
    answer = service.respond(build_request(os.urandom(32), policy="1.2.3.4"))
    assert answer.token is not None and tst_info(answer.token)["policy"] == "1.2.3.4"
    default = service.respond(build_request(os.urandom(32)))
    assert default.token is not None and tst_info(default.token)["policy"] == service.policy.default_policy


def test_key_failure_is_system_failure(
    runtime: Runtime, chain: TsaChain, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenKey:
        key_id = "tsa"
        algorithm = KeyAlgorithm.EC_P256

        def public_key_der(self) -> bytes:
            return chain.key.public_key_der()

        def sign(self, data: bytes) -> bytes:
            raise RuntimeError("token removed: PIN=1234")

    identity = TsaIdentity(key=BrokenKey(), chain=chain.identity.chain)
    service = TsaService(identity, clock=FrozenClock(T0), allocator=DatabaseSerialAllocator(runtime.sessions))
    with caplog.at_level(logging.ERROR):
        answer = service.respond(query())
    assert answer.fail_info is FailInfo.SYSTEM_FAILURE and answer.token is None
    assert "PIN" not in caplog.text and "RuntimeError" in caplog.text


def test_database_failure_is_system_failure(chain: TsaChain) -> None:
    class DownAllocator:
        def reserve(self, count: int, now: datetime, *, tolerance: timedelta = timedelta(0)) -> range:
            raise OperationalError("UPDATE tsa_serial_counters", {}, ConnectionError("down"))

    service = TsaService(chain.identity, clock=FrozenClock(T0), allocator=DownAllocator())
    answer = service.respond(query())
    assert answer.fail_info is FailInfo.SYSTEM_FAILURE and not answer.granted


# --- time-stampers -----------------------------------------------------------------------------------------


def test_builtin_time_stamper(runtime: Runtime, chain: TsaChain) -> None:
    stamper = BuiltinTimeStamper(make_service(runtime, chain, FrozenClock(T0)))
    digest = hashlib.sha256(b"signature value").digest()
    stamped = request_timestamp(stamper, digest)
    assert stamped.source == "builtin" and stamped.fallback_reasons == ()
    assert (stamped.serial, stamped.gen_time) == (1, T0)
    info = cms.ContentInfo.load(stamped.token)["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == digest
    assert stamped.response.endswith(stamped.token)


def test_builtin_time_stamper_refusal_raises(runtime: Runtime, chain: TsaChain) -> None:
    service = make_service(
        runtime, chain, FrozenClock(T0), check=TsaClockCheck.SYNCHRONIZED, kernel=FakeKernelStatus(False)
    )
    with pytest.raises(TimestampUnavailable, match="not synchronised"):
        request_timestamp(BuiltinTimeStamper(service), os.urandom(32))


@pytest.fixture
def builtin(runtime: Runtime, chain: TsaChain) -> BuiltinTimeStamper:
    return BuiltinTimeStamper(make_service(runtime, chain, FrozenClock(T0)))


def _external(handler: httpx.MockTransport) -> HttpTimeStamper:
    return HttpTimeStamper("http://user:secret@tsa.example/ts?key=k", client=httpx.Client(transport=handler))


def test_http_stamper_checks_the_reply(builtin: BuiltinTimeStamper) -> None:
    """A misbehaving external TSA (simulated transport) is caught: status, type, nonce, imprint."""
    service = builtin._service

    def honest(request: httpx.Request) -> httpx.Response:
        assert request.headers["content-type"] == "application/timestamp-query"
        answer = service.respond(request.content)
        return httpx.Response(200, content=answer.der, headers={"content-type": CONTENT_TYPE_REPLY})

    stamper = _external(httpx.MockTransport(honest))
    assert stamper.name == "http://tsa.example/ts"  # no credentials, no query in logs
    assert request_timestamp(stamper, os.urandom(32)).source == "http://tsa.example/ts"

    other = service.respond(query(nonce=7)).der  # a valid token for another request
    bad_replies = {
        "HTTP 500": httpx.Response(500, content=b"oops"),
        "content type": httpx.Response(200, content=other, headers={"content-type": "text/html"}),
        "another message imprint": httpx.Response(
            200, content=other, headers={"content-type": CONTENT_TYPE_REPLY}
        ),
        "malformed": httpx.Response(
            200, content=b"\x30\x03\x02\x01", headers={"content-type": CONTENT_TYPE_REPLY}
        ),
        "refused: the system": httpx.Response(
            200,
            content=make_rejection(),
            headers={"content-type": CONTENT_TYPE_REPLY},
        ),
    }
    for expected, reply in bad_replies.items():
        stamper = _external(httpx.MockTransport(lambda _r, reply=reply: reply))
        with pytest.raises(TimestampUnavailable, match=expected):
            request_timestamp(stamper, os.urandom(32))


def make_rejection() -> bytes:
    from sealpact.pki.tsa import build_rejection

    return build_rejection(FailInfo.TIME_NOT_AVAILABLE, "the system clock is not synchronised")


def test_http_stamper_checks_the_nonce(builtin: BuiltinTimeStamper) -> None:
    service = builtin._service
    digest = os.urandom(32)

    def replay(request: httpx.Request) -> httpx.Response:
        stale = service.respond(build_request(digest, nonce=1)).der  # same imprint, another nonce
        return httpx.Response(200, content=stale, headers={"content-type": CONTENT_TYPE_REPLY})

    with pytest.raises(TimestampUnavailable, match="nonce"):
        _external(httpx.MockTransport(replay)).stamp(build_request(digest, nonce=2))


def dead_url() -> str:
    from tests.live_server import free_port

    return f"http://127.0.0.1:{free_port()}/pki/tsa"


def test_fallback_is_logged_and_surfaced(
    builtin: BuiltinTimeStamper, caplog: pytest.LogCaptureFixture
) -> None:
    external = HttpTimeStamper(dead_url(), timeout=2)
    chain_stamper = FallbackTimeStamper([external, builtin])
    with caplog.at_level(logging.WARNING, logger="sealpact.pki.tsa"):
        stamped = request_timestamp(chain_stamper, os.urandom(32))
    assert stamped.source == "builtin"
    assert len(stamped.fallback_reasons) == 1 and "ConnectError" in stamped.fallback_reasons[0]
    assert "falling back to builtin" in caplog.text


def test_nothing_answers_raises(caplog: pytest.LogCaptureFixture) -> None:
    stamper = FallbackTimeStamper(
        [HttpTimeStamper(dead_url(), timeout=2), HttpTimeStamper(dead_url(), timeout=2)]
    )
    with pytest.raises(TimestampUnavailable) as info:
        request_timestamp(stamper, os.urandom(32))
    assert len(info.value.reasons) == 2
    assert info.value.code == "timestamp_unavailable" and info.value.http_status == 503


@pytest.fixture
def external_settings(tmp_path: object) -> Iterator[dict[str, object]]:
    from pathlib import Path

    yield {"data_dir": Path(str(tmp_path))}


def test_build_time_stamper_modes(external_settings: dict[str, object], builtin: BuiltinTimeStamper) -> None:
    data_dir = external_settings["data_dir"]
    assert build_time_stamper(make_settings(data_dir), lambda: builtin) is builtin  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError, match="tsa_url"):
        build_time_stamper(make_settings(data_dir, tsa_mode=TsaMode.EXTERNAL), lambda: builtin)  # type: ignore[arg-type]

    external_only = make_settings(data_dir, tsa_mode="external", tsa_url="http://a.example/tsa")  # type: ignore[arg-type]
    assert isinstance(build_time_stamper(external_only, _no_builtin), HttpTimeStamper)

    both = make_settings(
        data_dir,  # type: ignore[arg-type]
        tsa_mode="external-with-builtin-fallback",
        tsa_url="http://a.example/tsa",
        tsa_fallback_url="http://b.example/tsa",
    )
    stamper = build_time_stamper(both, lambda: builtin)
    assert stamper.name == "http://a.example/tsa -> http://b.example/tsa -> builtin"


def _no_builtin() -> BuiltinTimeStamper:
    raise AssertionError("external mode must not build the built-in TSA")
