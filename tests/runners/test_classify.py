"""Every row of the protocol's error table, classified at the boundary."""

from __future__ import annotations

import json

import httpx
import pytest

from evals.records import ErrorClass
from runners.classify import (
    class_of_status,
    classify_exception,
    classify_runware_error,
    classify_status,
    parse_retry_after,
)
from runners.credentials import Redactor


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, ErrorClass.PERMANENT),
        (404, ErrorClass.PERMANENT),
        (413, ErrorClass.PERMANENT),
        (401, ErrorClass.FATAL),
        (402, ErrorClass.FATAL),
        (403, ErrorClass.FATAL),
        (408, ErrorClass.TRANSIENT),
        (429, ErrorClass.THROTTLED),
        (500, ErrorClass.TRANSIENT),
        (502, ErrorClass.TRANSIENT),
        (503, ErrorClass.THROTTLED),
        (504, ErrorClass.THROTTLED),
        (599, ErrorClass.TRANSIENT),
    ],
)
def test_status_table(status: int, expected: ErrorClass) -> None:
    assert class_of_status(status) is expected
    error = classify_status(status, body=b"")
    assert error.error_class is expected
    assert error.http_status == status
    assert error.retryable is (expected in (ErrorClass.TRANSIENT, ErrorClass.THROTTLED))


def test_conflict_code_wins_over_the_status() -> None:
    error = classify_runware_error(
        {"code": "conflictTaskUUID", "message": "used", "taskUUID": "u"}, http_status=400
    )
    assert error.error_class is ErrorClass.CONFLICT
    assert error.code == "conflictTaskUUID"


def test_a_refused_task_inside_a_200_batch_is_permanent_and_keeps_its_parameter() -> None:
    error = classify_runware_error(
        {"code": "invalidTemperature", "message": "too hot", "parameter": "temperature"}
    )
    assert error.error_class is ErrorClass.PERMANENT
    assert error.parameter == "temperature"


def test_a_mid_stream_error_without_status_defaults_to_transient() -> None:
    error = classify_runware_error({"code": "engineCrashed", "message": "boom"}, default=ErrorClass.TRANSIENT)
    assert error.error_class is ErrorClass.TRANSIENT


def test_invalid_api_key_code_is_fatal_even_without_status() -> None:
    assert classify_runware_error({"code": "invalidApiKey"}).error_class is ErrorClass.FATAL


def test_retry_after_seconds_and_http_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("garbage") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:40 GMT", now=40.0) == pytest.approx(60.0)
    error = classify_status(429, headers={"retry-after": "2.5"})
    assert error.retry_after == 2.5


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectTimeout("t"), "connectTimeout"),
        (httpx.ReadTimeout("t"), "readTimeout"),
        (httpx.PoolTimeout("t"), "poolTimeout"),
        (httpx.ConnectError("refused"), "connectError"),
        (httpx.RemoteProtocolError("Server disconnected"), "connectionReset"),
        (httpx.ReadError("reset by peer"), "connectionReset"),
    ],
)
def test_transport_failures_are_transient(exc: Exception, code: str) -> None:
    error = classify_exception(exc)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, code)


def test_malformed_json_is_transient() -> None:
    with pytest.raises(json.JSONDecodeError) as info:
        json.loads("{not json")
    error = classify_exception(info.value)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "malformedResponse")


def test_programming_errors_are_not_swallowed() -> None:
    with pytest.raises(KeyError):
        classify_exception(KeyError("bug"))


def test_scrub_is_applied_to_messages() -> None:
    error = classify_status(
        400, body=b"bad key sk-secret-123", scrub=lambda s: s.replace("sk-secret-123", "***")
    )
    assert "sk-secret-123" not in error.message


def test_a_key_straddling_the_cut_of_an_error_body_leaves_no_piece() -> None:
    key = "sk-live-0123456789abcdefghij"
    redactor = Redactor([key])
    for pad in range(270, 300):
        body = "x" * pad + " Bearer " + key
        message = classify_status(500, body=body, scrub=redactor).message
        assert not any(key[i : i + 6] in message for i in range(len(key) - 5)), (pad, message[-40:])


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        ({"code": "engineCrashed"}, ErrorClass.TRANSIENT),
        ({"code": "invalidSeed", "parameter": "seed"}, ErrorClass.PERMANENT),
        ({"code": "missingParameter"}, ErrorClass.PERMANENT),
        ({"code": "unsupportedModel"}, ErrorClass.PERMANENT),
        ({"code": "whatever", "parameter": "settings.topK"}, ErrorClass.PERMANENT),
        ({"code": "invalidApiKey"}, ErrorClass.FATAL),
        ({"code": "queueFull"}, ErrorClass.THROTTLED),
    ],
)
def test_codes_that_blame_the_request_are_permanent_even_where_the_default_is_transient(
    error: dict[str, str], expected: ErrorClass
) -> None:
    assert classify_runware_error(error, default=ErrorClass.TRANSIENT).error_class is expected
