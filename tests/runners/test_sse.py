"""The SSE reader: line endings split anywhere, comments, arrival stamps taken per chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runners.sse import SSEEvent, SSEReader


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


class _Clock:
    """A clock that advances by one per call, so each chunk gets a distinct, known stamp."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


async def _read(*parts: bytes) -> tuple[list[SSEEvent], SSEReader]:
    reader = SSEReader(_chunks(*parts), clock=_Clock())
    return [event async for event in reader], reader


@pytest.mark.anyio
async def test_events_split_across_chunks_keep_their_data_and_the_stamp_of_the_completing_chunk() -> None:
    events, _ = await _read(b'data: {"a"', b": 1}\n", b"\ndata: [DO", b"NE]\n\n")
    assert [e.data for e in events] == ['{"a": 1}', "[DONE]"]
    # The clock is called once at start, then once per chunk: chunks are stamped 2, 3, 4, 5.
    assert [e.arrived for e in events] == [4.0, 5.0]


@pytest.mark.anyio
async def test_crlf_split_between_chunks_is_one_line_end() -> None:
    events, _ = await _read(b"data: x\r", b"\n\r\n", b"data: y\r\r")
    assert [e.data for e in events] == ["x", "y"]


@pytest.mark.anyio
async def test_comments_are_counted_and_skipped() -> None:
    events, reader = await _read(b": keep-alive\n\n: ping\ndata: 1\n\n")
    assert [e.data for e in events] == ["1"]
    assert reader.comments == 2


@pytest.mark.anyio
async def test_multiline_data_event_and_id_fields() -> None:
    events, _ = await _read(b"event: delta\nid: 7\ndata: a\ndata:b\nretry: 10\n\n")
    assert events == [SSEEvent(data="a\nb", arrived=2.0, event="delta", id="7")]


@pytest.mark.anyio
async def test_pending_data_lines_are_dispatched_at_eof_and_a_partial_line_is_kept_apart() -> None:
    events, reader = await _read(b"data: complete\n", b'data: {"half')
    assert [e.data for e in events] == ["complete"]
    assert reader.truncated == b'data: {"half'


@pytest.mark.anyio
async def test_utf8_split_inside_a_character() -> None:
    text = "data: é€\n\n".encode()
    events, _ = await _read(text[:7], text[7:9], text[9:])
    assert [e.data for e in events] == ["é€"]


@pytest.mark.anyio
async def test_empty_chunks_and_blank_lines_alone_yield_nothing() -> None:
    events, reader = await _read(b"", b"\n\n\n", b"")
    assert events == []
    assert reader.truncated == b""
