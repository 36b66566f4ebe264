"""The time-stamp authority service and the time-stampers the signing engine uses.

:class:`TsaService` answers RFC 3161 requests in-process: it checks the request (pure, in
:mod:`sealpact.pki.tsa`), checks that it may trust its clock, takes a serial from a block reserved in the
database and builds the token. Every failure becomes a rejection TimeStampResp with a failInfo; nothing
is issued and no exception escapes :meth:`TsaService.respond`.

:class:`TimeStamper` is what the signing engine calls: the built-in TSA, an external RFC 3161 TSA over
HTTP, or an explicitly configured fallback chain. When nothing answers it raises
:class:`TimestampUnavailable`; it never falls back to the server's own time.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from asn1crypto import cms, core, tsp
from cryptography import x509
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from sealpact.clock import Clock
from sealpact.config import Settings, TsaClockCheck, TsaMode
from sealpact.db import transaction
from sealpact.errors import ConfigurationError
from sealpact.pki.errors import PkiError
from sealpact.pki.policy import TSA_POLICY_OID
from sealpact.pki.tsa import (
    CONTENT_TYPE_QUERY,
    CONTENT_TYPE_REPLY,
    FailInfo,
    TimeStampRequest,
    TokenBuilder,
    TsaIdentity,
    TsaRejection,
    build_rejection,
    build_request,
    der_oid,
    granted_response,
    parse_request,
)
from sealpact.pki.tsa_models import TsaSerialCounter

if TYPE_CHECKING:
    from sealpact.runtime import Runtime

log = logging.getLogger("sealpact.pki.tsa")

DEFAULT_COUNTER = "default"


class TimestampUnavailable(PkiError):
    """No time-stamp authority produced a usable token; the caller must fail, never use its own time."""

    code = "timestamp_unavailable"
    http_status = 503

    def __init__(self, message: str, reasons: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.reasons = tuple(reasons)


class ClockUntrusted(PkiError):
    """The TSA clock failed its check (went backwards, or the kernel says it is unsynchronised)."""

    code = "tsa_clock_untrusted"
    http_status = 503


# --- serial numbers ----------------------------------------------------------------------------------


class SerialAllocator(Protocol):
    def reserve(self, count: int, now: datetime, *, tolerance: timedelta = timedelta(0)) -> range:
        """Reserve ``count`` serials no one else will ever get; raise :class:`ClockUntrusted` when
        ``now + tolerance`` is earlier than the latest time recorded by an earlier reservation."""
        ...


class DatabaseSerialAllocator:
    """Serial blocks from the ``tsa_serial_counters`` row: one UPDATE ... RETURNING per block.

    The UPDATE takes the row lock (PostgreSQL) or the database write lock (SQLite) before it reads, so
    two processes never get overlapping blocks and a restart never reuses one. Gaps are allowed
    (RFC 3161 section 2.4.2 requires unique serials, not consecutive ones).
    """

    def __init__(self, sessions: sessionmaker[Session], name: str = DEFAULT_COUNTER) -> None:
        self._sessions = sessions
        self._name = name

    def reserve(self, count: int, now: datetime, *, tolerance: timedelta = timedelta(0)) -> range:
        if count < 1:
            raise ValueError("count must be positive")
        for _attempt in range(3):
            with transaction(self._sessions) as session:
                row = session.execute(
                    update(TsaSerialCounter)
                    .where(TsaSerialCounter.name == self._name)
                    .values(
                        next_serial=TsaSerialCounter.next_serial + count,
                        blocks_reserved=TsaSerialCounter.blocks_reserved + 1,
                    )
                    .returning(TsaSerialCounter.next_serial, TsaSerialCounter.high_water_time)
                ).one_or_none()
                if row is not None:
                    end, high_water = row
                    if high_water is not None and now + tolerance < high_water:
                        # The transaction rolls back: the block is not taken.
                        raise ClockUntrusted("the clock is behind the time of an earlier serial reservation")
                    if high_water is None or now > high_water:  # a host slightly behind never lowers it
                        session.execute(
                            update(TsaSerialCounter)
                            .where(TsaSerialCounter.name == self._name)
                            .values(high_water_time=now)
                        )
                    return range(end - count, end)
            self._create_counter()
        raise RuntimeError("could not reserve TSA serials")  # pragma: no cover

    def _create_counter(self) -> None:
        try:
            with transaction(self._sessions) as session:
                if session.scalar(select(TsaSerialCounter.name).where(TsaSerialCounter.name == self._name)):
                    return
                session.add(
                    TsaSerialCounter(name=self._name, next_serial=1, high_water_time=None, blocks_reserved=0)
                )
        except IntegrityError:
            pass  # another process created it first


# --- clock trust --------------------------------------------------------------------------------------


class KernelClockStatus(Protocol):
    def synchronized(self) -> bool:
        """Whether the operating system considers its clock synchronised to a time source."""
        ...


class _Timex(ctypes.Structure):
    # The head of Linux's struct timex; the tail is reserved space so the kernel can write all of it.
    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("_rest", ctypes.c_char * 256),
    )


class AdjtimexClockStatus:
    """Linux ``adjtimex(2)`` with ``modes = 0`` (read only, no privilege): synchronised unless the call
    returns TIME_ERROR or the status has STA_UNSYNC (set until NTP/chrony disciplines the clock)."""

    TIME_ERROR = 5
    STA_UNSYNC = 0x0040

    def __init__(self) -> None:
        try:
            self._adjtimex: Callable[..., int] | None = ctypes.CDLL(None, use_errno=True).adjtimex
        except (OSError, AttributeError):
            self._adjtimex = None

    def synchronized(self) -> bool:
        if self._adjtimex is None:
            return False  # no way to know: the "synchronized" check refuses rather than guesses
        timex = _Timex()
        state = self._adjtimex(ctypes.byref(timex))
        return state not in (-1, self.TIME_ERROR) and not timex.status & self.STA_UNSYNC


# --- the TSA ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TsaPolicy:
    """What the TSA accepts and promises. ``default_policy`` goes into tokens for requests without one."""

    default_policy: str = TSA_POLICY_OID
    accepted_policies: frozenset[str] = frozenset()
    accuracy: timedelta = timedelta(seconds=1)
    clock_check: TsaClockCheck = TsaClockCheck.MONOTONIC
    serial_block: int = 1000

    @classmethod
    def from_settings(cls, settings: Settings) -> TsaPolicy:
        return cls(
            accepted_policies=frozenset(settings.tsa_accepted_policies),
            accuracy=timedelta(milliseconds=settings.tsa_accuracy_ms),
            clock_check=settings.tsa_clock_check,
            serial_block=settings.tsa_serial_block,
        )


@dataclass(frozen=True)
class TsaResponse:
    """One answer of the TSA: the TimeStampResp DER and what it says."""

    der: bytes
    granted: bool
    fail_info: FailInfo | None = None
    message: str | None = None
    token: bytes | None = None
    serial: int | None = None
    gen_time: datetime | None = None


class TsaService:
    """The built-in RFC 3161 time-stamp authority. Thread-safe; one per process."""

    def __init__(
        self,
        identity: TsaIdentity,
        *,
        clock: Clock,
        allocator: SerialAllocator,
        policy: TsaPolicy | None = None,
        clock_status: KernelClockStatus | None = None,
    ) -> None:
        self.policy = policy or TsaPolicy()
        self._builder = TokenBuilder(identity, accuracy=self.policy.accuracy)
        self._clock = clock
        self._allocator = allocator
        self._clock_status = clock_status or AdjtimexClockStatus()
        self._default_policy = der_oid(self.policy.default_policy)[2:]
        accepted = {self.policy.default_policy, *self.policy.accepted_policies}
        self._accepted = frozenset(der_oid(oid)[2:] for oid in accepted)
        self._lock = threading.Lock()
        self._serials: Iterator[int] = iter(())
        self._last_time: datetime | None = None
        self.certificate = self._builder.certificate

    def respond(self, request_der: bytes) -> TsaResponse:
        """Answer one DER TimeStampReq with a DER TimeStampResp (granted, or rejection with failInfo)."""
        try:
            request = parse_request(request_der)
            policy = self._policy_for(request)
            serial, gen_time = self._next_serial_and_time()
            token = self._builder.build_token(request, serial=serial, gen_time=gen_time, policy=policy)
        except TsaRejection as exc:
            if exc.fail_info in (FailInfo.TIME_NOT_AVAILABLE, FailInfo.SYSTEM_FAILURE):
                log.warning("time-stamp refused: %s (%s)", exc.message, exc.fail_info.name)
            else:
                log.debug("time-stamp request rejected: %s (%s)", exc.message, exc.fail_info.name)
            return self._rejection(exc.fail_info, exc.message)
        except Exception as exc:  # a key store or database fault must still answer in protocol
            log.error("time-stamp system failure: %s", type(exc).__name__)
            return self._rejection(FailInfo.SYSTEM_FAILURE, "the time-stamp authority failed")
        return TsaResponse(
            der=granted_response(token), granted=True, token=token, serial=serial, gen_time=gen_time
        )

    def _rejection(self, fail_info: FailInfo, message: str) -> TsaResponse:
        return TsaResponse(
            der=build_rejection(fail_info, message), granted=False, fail_info=fail_info, message=message
        )

    def _policy_for(self, request: TimeStampRequest) -> bytes:
        if request.policy is None:
            return self._default_policy
        if request.policy not in self._accepted:
            raise TsaRejection(FailInfo.UNACCEPTED_POLICY, f"policy {request.policy_oid} is not offered")
        return request.policy

    def _next_serial_and_time(self) -> tuple[int, datetime]:
        # Time and serial are taken together under the lock, so serial order follows genTime order.
        with self._lock:
            now = self._clock.now()
            self._check_clock(now)
            serial = next(self._serials, None)
            if serial is None:
                try:
                    # Across hosts, two clocks each within the stated accuracy may differ by that much.
                    block = self._allocator.reserve(
                        self.policy.serial_block, now, tolerance=self.policy.accuracy
                    )
                    self._serials = iter(block)
                except ClockUntrusted as exc:
                    raise TsaRejection(FailInfo.TIME_NOT_AVAILABLE, exc.message) from exc
                except SQLAlchemyError as exc:
                    log.error("TSA serial reservation failed: %s", type(exc).__name__)
                    raise TsaRejection(FailInfo.SYSTEM_FAILURE, "serial numbers unavailable") from exc
                serial = next(self._serials)
            self._last_time = now
        return serial, now

    def _check_clock(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise TsaRejection(FailInfo.TIME_NOT_AVAILABLE, "the clock gave a time without a zone")
        check = self.policy.clock_check
        if check is TsaClockCheck.NONE:
            return
        if self._last_time is not None and now < self._last_time:
            raise TsaRejection(FailInfo.TIME_NOT_AVAILABLE, "the clock went backwards")
        if check is TsaClockCheck.SYNCHRONIZED and not self._clock_status.synchronized():
            raise TsaRejection(FailInfo.TIME_NOT_AVAILABLE, "the system clock is not synchronised")


def build_tsa_service(
    identity: TsaIdentity,
    *,
    settings: Settings,
    sessions: sessionmaker[Session],
    clock: Clock,
    clock_status: KernelClockStatus | None = None,
) -> TsaService:
    """The built-in TSA as configured by ``settings``, with serials from the database."""
    return TsaService(
        identity,
        clock=clock,
        allocator=DatabaseSerialAllocator(sessions),
        policy=TsaPolicy.from_settings(settings),
        clock_status=clock_status,
    )


# --- time-stampers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StampedToken:
    """A time-stamp token and where it came from.

    ``fallback_reasons`` is non-empty when earlier sources of a fallback chain failed; callers should
    surface it (the signing report says which TSA stamped and why a fallback was used).
    """

    token: bytes  # TimeStampToken: ContentInfo with SignedData over TSTInfo
    response: bytes  # the whole TimeStampResp
    source: str  # "builtin" or the TSA URL (credentials removed)
    gen_time: datetime
    serial: int
    fallback_reasons: tuple[str, ...] = ()


class TimeStamper(Protocol):
    @property
    def name(self) -> str:
        """Where tokens come from, safe to log and show."""
        ...

    def stamp(self, request_der: bytes) -> StampedToken:
        """Get a token for a DER TimeStampReq; raise :class:`TimestampUnavailable` when there is none."""
        ...


def request_timestamp(stamper: TimeStamper, digest: bytes, algorithm: str = "sha256") -> StampedToken:
    """Time-stamp ``digest`` with a fresh 64-bit nonce and certReq set."""
    request = build_request(digest, algorithm, nonce=secrets.randbits(63) | 1 << 62, cert_req=True)
    return stamper.stamp(request)


class BuiltinTimeStamper:
    """The in-process TSA: no HTTP, no serialisation beyond the DER itself."""

    name = "builtin"

    def __init__(self, service: TsaService) -> None:
        self._service = service

    def stamp(self, request_der: bytes) -> StampedToken:
        response = self._service.respond(request_der)
        if not response.granted:
            fail = response.fail_info.name if response.fail_info is not None else "unknown"
            raise TimestampUnavailable(f"built-in TSA refused: {response.message} ({fail})")
        assert response.token is not None and response.serial is not None and response.gen_time is not None
        return StampedToken(
            token=response.token,
            response=response.der,
            source=self.name,
            gen_time=response.gen_time,
            serial=response.serial,
        )


def _redact_url(url: str) -> str:
    parsed = httpx.URL(url)
    return str(parsed.copy_with(username=None, password=None, query=None))


class HttpTimeStamper:
    """An external RFC 3161 TSA over HTTP (section 3.4). Checks status, imprint and nonce of the reply.

    The token's signature and certificate chain are checked later, by whoever validates the signature
    it goes into (pyHanko's validation with the configured trust roots).
    """

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.Client | None = None) -> None:
        self._url = url
        self.name = _redact_url(url)
        self._client = client or httpx.Client(timeout=timeout, follow_redirects=False)

    def stamp(self, request_der: bytes) -> StampedToken:
        request = parse_request(request_der)
        try:
            reply = self._client.post(
                self._url,
                content=request_der,
                headers={"Content-Type": CONTENT_TYPE_QUERY, "Accept": CONTENT_TYPE_REPLY},
            )
        except httpx.HTTPError as exc:
            raise TimestampUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        if reply.status_code != 200:
            raise TimestampUnavailable(f"{self.name}: HTTP {reply.status_code}")
        content_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != CONTENT_TYPE_REPLY:
            raise TimestampUnavailable(f"{self.name}: unexpected content type {content_type!r}")
        return _check_reply(reply.content, request, source=self.name)

    def close(self) -> None:
        self._client.close()


def _check_reply(data: bytes, request: TimeStampRequest, *, source: str) -> StampedToken:
    """Check a TimeStampResp against our request (RFC 3161 section 2.4.2: status, imprint, nonce)."""
    try:
        # Decoded in two steps: asn1crypto's TimeStampResp requires the token even on rejection.
        outer = core.Sequence.load(data, strict=True)
        status_info = tsp.PKIStatusInfo.load(outer[0].dump(), strict=True)
        status = status_info["status"].native
        if status not in ("granted", "granted_with_mods"):
            texts = status_info["status_string"].native or []
            fails = status_info["fail_info"].native or []
            raise TimestampUnavailable(f"{source} refused: {'; '.join(texts)} ({', '.join(sorted(fails))})")
        if len(outer) != 2:
            raise TimestampUnavailable(f"{source}: a granted response without a token")
        token = cms.ContentInfo.load(outer[1].dump(), strict=True)
        if token["content_type"].native != "signed_data":
            raise TimestampUnavailable(f"{source}: the token is not SignedData")
        encap = token["content"]["encap_content_info"]
        if encap["content_type"].native != "tst_info":
            raise TimestampUnavailable(f"{source}: the token does not hold a TSTInfo")
        tst_info = encap["content"].parsed
        imprint = tst_info["message_imprint"]
        if (
            imprint["hash_algorithm"]["algorithm"].dotted != request.hash_algorithm.oid
            or imprint["hashed_message"].native != request.digest
        ):
            raise TimestampUnavailable(f"{source}: the token is for another message imprint")
        if request.nonce is not None and tst_info["nonce"].native != request.nonce:
            raise TimestampUnavailable(f"{source}: the token does not echo our nonce")
        gen_time = tst_info["gen_time"].native
        serial = tst_info["serial_number"].native
        token_der = token.dump()
    except TimestampUnavailable:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise TimestampUnavailable(f"{source}: malformed time-stamp response") from exc
    if not isinstance(gen_time, datetime) or not isinstance(serial, int):
        raise TimestampUnavailable(f"{source}: malformed TSTInfo")
    return StampedToken(token=token_der, response=data, source=source, gen_time=gen_time, serial=serial)


class FallbackTimeStamper:
    """Try each configured source in order. Every fallback is logged and reported on the token."""

    def __init__(self, stampers: Sequence[TimeStamper]) -> None:
        if not stampers:
            raise ValueError("a fallback chain needs at least one time-stamper")
        self._stampers = tuple(stampers)
        self.name = " -> ".join(s.name for s in self._stampers)

    def stamp(self, request_der: bytes) -> StampedToken:
        reasons: list[str] = []
        for index, stamper in enumerate(self._stampers):
            try:
                token = stamper.stamp(request_der)
            except TimestampUnavailable as exc:
                reasons.append(exc.message)
                following = self._stampers[index + 1].name if index + 1 < len(self._stampers) else None
                if following is not None:
                    log.warning("time-stamp source failed (%s); falling back to %s", exc.message, following)
                continue
            return replace(token, fallback_reasons=tuple(reasons)) if reasons else token
        log.error("no time-stamp source answered: %s", "; ".join(reasons))
        raise TimestampUnavailable("no time-stamp authority answered: " + "; ".join(reasons), reasons)


def build_time_stamper(settings: Settings, builtin: Callable[[], TimeStamper]) -> TimeStamper:
    """The time-stamper ``settings.tsa_mode`` asks for; fallbacks only as configured.

    ``builtin`` is called only in modes that use the built-in TSA.
    """
    mode = settings.tsa_mode
    if mode is TsaMode.BUILTIN:
        return builtin()
    if not settings.tsa_url:
        raise ConfigurationError(f"tsa_mode={mode.value} needs tsa_url")
    chain: list[TimeStamper] = [HttpTimeStamper(settings.tsa_url, timeout=settings.tsa_timeout_seconds)]
    if settings.tsa_fallback_url:
        chain.append(HttpTimeStamper(settings.tsa_fallback_url, timeout=settings.tsa_timeout_seconds))
    if mode is TsaMode.EXTERNAL_WITH_BUILTIN_FALLBACK:
        chain.append(builtin())
    return chain[0] if len(chain) == 1 else FallbackTimeStamper(chain)


def token_signed_data(token: bytes) -> cms.SignedData:
    """The SignedData inside a TimeStampToken (for validators such as pyHanko's)."""
    content_info = cms.ContentInfo.load(token)
    signed_data: cms.SignedData = content_info["content"]
    return signed_data


def tsa_service_for(runtime: Runtime) -> TsaService:
    """The built-in TSA of ``runtime``: key and certificate chain from the platform CA."""
    identity = platform_tsa_identity(runtime)
    return build_tsa_service(
        identity, settings=runtime.settings, sessions=runtime.sessions, clock=runtime.clock
    )


def time_stamper_for(runtime: Runtime) -> TimeStamper:
    """The time-stamper ``runtime.settings`` configures (the built-in TSA is built only if used)."""
    return build_time_stamper(runtime.settings, lambda: BuiltinTimeStamper(runtime.tsa))


def platform_tsa_identity(runtime: Runtime) -> TsaIdentity:
    """The TSA key and certificate chain of the platform CA hierarchy (the root left out of tokens)."""
    key, chain = runtime.pki.tsa_identity()
    ders = [cert.dump() for cert in chain]
    if len(ders) > 1 and cert_is_self_issued(ders[-1]):
        ders.pop()  # relying parties bring their own trust anchor
    return TsaIdentity(key=key, chain=tuple(ders))


def cert_is_self_issued(der: bytes) -> bool:
    cert = x509.load_der_x509_certificate(der)
    return cert.issuer == cert.subject


def pyhanko_time_stamper(stamper: TimeStamper) -> Any:
    """A pyHanko ``TimeStamper`` that takes its tokens from ``stamper`` (in-process for the built-in TSA).

    pyHanko builds the request (with its own nonce) and checks the reply; a failure reaches it as its
    ``TimestampRequestError``, so signing fails instead of going on without a time-stamp.
    """
    from pyhanko.sign.timestamps import TimeStamper as PyHankoTimeStamper
    from pyhanko.sign.timestamps import TimestampRequestError

    class _Adapter(PyHankoTimeStamper):
        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            try:
                stamped = await asyncio.to_thread(stamper.stamp, req.dump())
            except TimestampUnavailable as exc:
                raise TimestampRequestError(exc.message) from exc
            return tsp.TimeStampResp.load(stamped.response)

    return _Adapter()  # type: ignore[no-untyped-call]
