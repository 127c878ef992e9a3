"""Failures classified where they enter the harness: HTTP status, Runware error code, exception.

Every failure of a call becomes one ``ApiError`` whose ``error_class`` tells the runner what to do
(the error table of the Runware protocol):

    400 and other 4xx                  PERMANENT   record, never retry
    401, 402, 403                      FATAL       stop the whole run
    408, 500, 502, other 5xx           TRANSIENT   back off and retry
    429, 503, 504                      THROTTLED   back off, retry and lower concurrency
    resets, timeouts, malformed bodies TRANSIENT
    code conflictTaskUUID              CONFLICT    poll the earlier task instead of sending again
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from evals.records import ApiError, ErrorClass

_FATAL_STATUSES = frozenset({401, 402, 403})
_THROTTLED_STATUSES = frozenset({429, 503, 504})

# Runware codes that decide the class on their own, whatever the HTTP status (or when there is none,
# as for one failed task inside a batch answer or an error event in the middle of a stream).
_CODE_CLASSES: dict[str, ErrorClass] = {
    "conflicttaskuuid": ErrorClass.CONFLICT,
    "invalidapikey": ErrorClass.FATAL,
    "missingapikey": ErrorClass.FATAL,
    "unauthorized": ErrorClass.FATAL,
    "insufficientcredits": ErrorClass.FATAL,
    "insufficientbalance": ErrorClass.FATAL,
    "forbidden": ErrorClass.FATAL,
    "ratelimitexceeded": ErrorClass.THROTTLED,
    "toomanyrequests": ErrorClass.THROTTLED,
    "queuefull": ErrorClass.THROTTLED,
    "serviceunavailable": ErrorClass.THROTTLED,
    "timeoutexceeded": ErrorClass.THROTTLED,
    "requesttimeout": ErrorClass.TRANSIENT,
    "internalservererror": ErrorClass.TRANSIENT,
    "servererror": ErrorClass.TRANSIENT,
    "badgateway": ErrorClass.TRANSIENT,
}

# Codes that say the request itself is wrong (``invalidSeed``, ``missingParameter``,
# ``unsupportedModel``...): sending it again cannot help, wherever the error is reported. Key
# problems (``invalidApiKey``) are in the table above and stay fatal.
_REQUEST_FAULT_PREFIXES = ("invalid", "missing", "unsupported")

Scrub = Callable[[str], str]

BODY_EXCERPT = 300
"""Characters of an unparsable error body kept in the message."""


def _identity(text: str) -> str:
    return text


def class_of_status(status: int) -> ErrorClass:
    """The class of a failed HTTP status (>= 400)."""
    if status in _FATAL_STATUSES:
        return ErrorClass.FATAL
    if status in _THROTTLED_STATUSES:
        return ErrorClass.THROTTLED
    if status == 408 or status >= 500:
        return ErrorClass.TRANSIENT
    return ErrorClass.PERMANENT


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date); None if absent/bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_runware_error(
    error: Mapping[str, Any],
    *,
    http_status: int | None = None,
    retry_after: float | None = None,
    default: ErrorClass = ErrorClass.PERMANENT,
    scrub: Scrub = _identity,
) -> ApiError:
    """One item of a Runware ``errors`` array (or the object of ``{"error": {...}}``) as an ``ApiError``.

    The code decides first (``conflictTaskUUID`` is a conflict whatever the status), then the HTTP
    status, then a code or ``parameter`` that blames the request (permanent), then ``default``:
    permanent for a task refused inside a 200 batch answer, transient for an error event in the
    middle of a stream or a task that failed while running (poll item, webhook delivery).
    """
    code = str(error.get("code") or (f"http{http_status}" if http_status else "unknown"))
    message = str(error.get("message") or error.get("error") or code)
    by_code = _CODE_CLASSES.get(code.lower())
    if by_code is not None:
        error_class = by_code
    elif http_status is not None and http_status >= 400:
        error_class = class_of_status(http_status)
    elif code.lower().startswith(_REQUEST_FAULT_PREFIXES) or error.get("parameter") is not None:
        error_class = ErrorClass.PERMANENT
    else:
        error_class = default
    parameter = error.get("parameter")
    return ApiError(
        error_class=error_class,
        code=scrub(code),
        message=scrub(message),
        http_status=http_status,
        parameter=scrub(str(parameter)) if parameter is not None else None,
        retry_after=retry_after,
    )


def classify_status(
    status: int,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | str | None = None,
    scrub: Scrub = _identity,
) -> ApiError:
    """A failed HTTP answer that carries no parsable Runware error: the status alone decides."""
    retry_after = parse_retry_after((headers or {}).get("retry-after"))
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    # Scrub the whole body before cutting it: cut first, and a key straddling the cut would survive
    # as a prefix the scrubber no longer recognises. The message is scrubbed again after the cut.
    text = scrub(text.strip())[:BODY_EXCERPT]
    message = f"HTTP {status}" + (f": {text}" if text else "")
    return ApiError(
        error_class=class_of_status(status),
        code=f"http{status}",
        message=scrub(message),
        http_status=status,
        retry_after=retry_after,
    )


def malformed(message: str, *, http_status: int | None = None, scrub: Scrub = _identity) -> ApiError:
    """A body that is not what the protocol promises (bad JSON, missing fields): transient."""
    return ApiError(
        error_class=ErrorClass.TRANSIENT,
        code="malformedResponse",
        message=scrub(message),
        http_status=http_status,
    )


def classify_exception(exc: BaseException, *, scrub: Scrub = _identity) -> ApiError:
    """A transport failure as a transient ``ApiError``.

    Raises ``exc`` again when it is not a transport or decoding failure: cancellation and programming
    errors must keep propagating.
    """
    if isinstance(exc, httpx.ConnectTimeout):
        code = "connectTimeout"
    elif isinstance(exc, httpx.ReadTimeout):
        code = "readTimeout"
    elif isinstance(exc, httpx.WriteTimeout):
        code = "writeTimeout"
    elif isinstance(exc, httpx.PoolTimeout):
        code = "poolTimeout"
    elif isinstance(exc, httpx.ConnectError):
        code = "connectError"
    elif isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        code = "connectionReset"
    elif isinstance(exc, httpx.TransportError | httpx.DecodingError | httpx.StreamError):
        code = "transportError"
    elif isinstance(exc, ValueError | UnicodeDecodeError):  # json/orjson decode errors are ValueErrors
        code = "malformedResponse"
    else:
        raise exc
    detail = str(exc) or type(exc).__name__
    return ApiError(error_class=ErrorClass.TRANSIENT, code=code, message=scrub(f"{code}: {detail}"))
