"""A small Server-Sent Events reader that stamps each event with the arrival time of its bytes.

httpx-sse parses well but hides when the bytes arrived; latency work needs that instant, taken
before any decoding or JSON parsing. So this reader takes ``time.perf_counter()`` as soon as a chunk
comes off the socket and gives each event the stamp of the chunk that completed it.

Parsing follows the SSE format: lines end with CRLF, LF or CR; ``data:`` lines accumulate and a blank
line dispatches them; lines starting with ``:`` are comments (keep-alives), counted and skipped.
Complete data lines still pending at the end of the body are dispatched (a server that omits the
final blank line loses nothing); a trailing fragment without a line ending is kept apart as
``truncated`` because it may be half a JSON object.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True, slots=True)
class SSEEvent:
    """One dispatched event. ``arrived`` is the perf_counter() stamp of the chunk that completed it."""

    data: str
    arrived: float
    event: str | None = None
    id: str | None = None


class SSEReader:
    """Reads events from an async iterable of byte chunks (``response.aiter_raw()`` or ``aiter_bytes()``)."""

    def __init__(self, chunks: AsyncIterable[bytes], *, clock: Callable[[], float] = time.perf_counter):
        self._chunks = chunks
        self._clock = clock
        self.comments = 0  # keep-alive comment lines seen
        self.truncated = b""  # bytes after the last line ending when the body ended
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    async def __aiter__(self) -> AsyncIterator[SSEEvent]:
        buffer = b""
        stamp = self._clock()
        async for chunk in self._chunks:
            stamp = self._clock()  # first thing: the arrival time, before any parsing
            if not chunk:
                continue
            buffer = buffer + chunk if buffer else chunk
            position = 0
            while True:
                match = _LINE_END.search(buffer, position)
                if match is None:
                    break
                # A CR at the very end may be the first half of a CRLF split across chunks: wait.
                if match.group() == b"\r" and match.end() == len(buffer):
                    break
                event = self._line(buffer[position : match.start()], stamp)
                position = match.end()
                if event is not None:
                    yield event
            buffer = buffer[position:]
        if buffer.endswith(b"\r"):  # a lone CR that turned out to be the last line ending
            event = self._line(buffer[:-1], stamp)
            buffer = b""
            if event is not None:
                yield event
        self.truncated = buffer
        if self._data:
            yield self._dispatch(stamp)

    def _line(self, raw: bytes, stamp: float) -> SSEEvent | None:
        if not raw:
            return self._dispatch(stamp) if self._data else None
        line = raw.decode("utf-8", "replace")
        if line.startswith(":"):
            self.comments += 1
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        # "retry" and unknown fields are ignored, as the format requires.
        return None

    def _dispatch(self, stamp: float) -> SSEEvent:
        event = SSEEvent(data="\n".join(self._data), arrived=stamp, event=self._event, id=self._id)
        self._data = []
        self._event = None
        return event
