"""SMS: outbox (sandbox) mode, and the Tencent Cloud SMS adapter against a loopback fake of its API."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from sealpact.clock import FrozenClock
from sealpact.config import Settings
from sealpact.db import transaction
from sealpact.identity.tencent import tc3_authorization as identity_tc3
from sealpact.notify.sms import InvalidMobile, SmsMessage, normalise_mobile, tc3_authorization
from sealpact.runtime import Runtime
from tests.conftest import make_settings
from tests.test_webhooks_support import Received, receiver

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_mobile_numbers_are_normalised() -> None:
    assert normalise_mobile("+86 138-0000-0001") == "13800000001"
    assert normalise_mobile("008613800000001") == "13800000001"
    for bad in ("12800000001", "1380000000", "+1 2025550100", ""):
        with pytest.raises(InvalidMobile):
            normalise_mobile(bad)


def test_tc3_signature_agrees_with_the_identity_adapters_independent_implementation() -> None:
    args = {
        "secret_id": "AKIDx",
        "secret_key": "k",
        "host": "faceid.tencentcloudapi.com",
        "action": "IdCardVerification",
        "payload": b'{"a":1}',
        "timestamp": 1_700_000_000,
    }
    assert tc3_authorization(service="faceid", **args) == identity_tc3(**args)


def test_outbox_mode_stores_and_never_sends(runtime: Runtime) -> None:
    assert runtime.sms.outbox_mode
    with transaction(runtime.sessions) as session:
        runtime.sms.queue_sms(
            session,
            "+8613800000001",
            purpose="contract_auth_code",
            params=["123456", "10"],
            text="您的验证码为123456",
        )
    (row,) = runtime.sms.outbox(recipient="13800000001")
    assert (row.status, row.provider, row.attempts) == ("outbox", "outbox", 0)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return make_settings(data_dir, database_url=database_url, jobs_max_retries=2)


def _tencent_runtime(runtime: Runtime, url: str) -> Runtime:
    settings = runtime.settings.model_copy(
        update={
            "sms_mode": "tencent",
            "tencent_secret_id": "AKIDEXAMPLE",
            "tencent_secret_key": __import__("pydantic").SecretStr("secret-key"),
            "sms_tencent_app_id": "1400000000",
            "sms_tencent_template_ids": {"contract_auth_code": "100001"},
            "sms_tencent_endpoint": url,
        }
    )
    rt = Runtime(settings, clock=FrozenClock(NOW))
    rt.__dict__["engine"] = runtime.engine
    return rt


def _check_signed(request: Received) -> None:
    host = request.headers["host"]
    expected = tc3_authorization(
        secret_id="AKIDEXAMPLE",
        secret_key="secret-key",
        service="sms",
        host=host,
        action="SendSms",
        payload=request.body,
        timestamp=int(request.headers["x-tc-timestamp"]),
    )
    assert request.headers["authorization"] == expected
    assert request.headers["x-tc-action"] == "SendSms" and request.headers["x-tc-version"] == "2021-01-11"


def test_tencent_gateway_sends_through_the_job_queue(runtime: Runtime) -> None:
    with receiver() as fake:

        def respond(request: Received) -> tuple[int, bytes]:
            _check_signed(request)
            body = json.loads(request.body)
            assert body["PhoneNumberSet"] == ["+8613800000001"]
            assert (body["SmsSdkAppId"], body["TemplateId"], body["TemplateParamSet"]) == (
                "1400000000",
                "100001",
                ["123456", "10"],
            )
            answer = {
                "Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": "2019:123"}], "RequestId": "r"}
            }
            return 200, json.dumps(answer).encode()

        fake.respond = respond
        rt = _tencent_runtime(runtime, fake.url)
        with transaction(rt.sessions) as session:
            row = rt.sms.queue_sms(
                session,
                "13800000001",
                purpose="contract_auth_code",
                params=["123456", "10"],
                text="code 123456",
            )
            message_id = row.id
        assert len(fake.requests) == 1
        with rt.sessions() as session:
            stored = session.get(SmsMessage, message_id)
            assert stored is not None
            assert (stored.status, stored.attempts, stored.provider_message_id) == ("sent", 1, "2019:123")


def test_throttling_is_retried_and_bad_requests_are_not(runtime: Runtime) -> None:
    with receiver() as fake:
        answers = iter(
            [
                {"Response": {"SendStatusSet": [{"Code": "LimitExceeded.PhoneNumberDailyLimit"}]}},
                {"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": "s2"}]}},
                {
                    "Response": {
                        "Error": {"Code": "InvalidParameterValue.IncorrectPhoneNumber", "Message": "x"}
                    }
                },
            ]
        )
        fake.respond = lambda _r: (200, json.dumps(next(answers)).encode())
        rt = _tencent_runtime(runtime, fake.url)
        with transaction(rt.sessions) as session:
            first = rt.sms.queue_sms(
                session, "13800000001", purpose="contract_auth_code", params=["1"], text="t"
            ).id
        with transaction(rt.sessions) as session:
            second = rt.sms.queue_sms(
                session, "13800000002", purpose="contract_auth_code", params=["1"], text="t"
            ).id
        assert len(fake.requests) == 3
        with rt.sessions() as session:
            rows = {r.id: r for r in session.scalars(select(SmsMessage))}
        assert (rows[first].status, rows[first].attempts) == ("sent", 2)
        assert (rows[second].status, rows[second].attempts) == ("failed", 1)  # never retried
        assert rows[second].last_error is not None and "13800000002" not in rows[second].last_error


def test_unreachable_gateway_fails_after_the_retries(runtime: Runtime) -> None:
    rt = _tencent_runtime(runtime, "http://127.0.0.1:9")  # nothing listens on the discard port
    with transaction(rt.sessions) as session:
        message_id = rt.sms.queue_sms(
            session, "13800000001", purpose="contract_auth_code", params=["1"], text="t"
        ).id
    with rt.sessions() as session:
        row = session.get(SmsMessage, message_id)
        assert row is not None and (row.status, row.attempts) == ("failed", 3)
