"""The adaptive in-flight limit: halve on throttling (once per burst), grow back by one, never above max."""

from __future__ import annotations

import anyio
import pytest

from runners.concurrency import AdaptiveLimiter


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_cuts_once_per_burst_and_grows_back_to_the_maximum() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(16, clock=clock)
    clock.t = 1.0
    assert lim.on_throttled(sent_at=0.5) and lim.limit == 8
    # Answers to requests sent before the cut describe the old load: no second cut.
    assert not lim.on_throttled(sent_at=0.9) and lim.limit == 8
    clock.t = 2.0
    assert lim.on_throttled(sent_at=1.5) and lim.limit == 4
    for _ in range(4):
        lim.on_success()
    assert lim.limit == 5
    for _ in range(1000):
        lim.on_success()
    assert lim.limit == 16
    reasons = [h.reason for h in lim.history]
    assert reasons[0] == "start" and reasons.count("throttled") == 2 and "grow" in reasons
    assert max(h.limit for h in lim.history) == 16


def test_never_below_one_and_fixed_when_not_adaptive() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(2, clock=clock)
    for i in range(5):
        clock.t = float(i + 1)
        lim.on_throttled(sent_at=float(i + 1))
    assert lim.limit == 1
    fixed = AdaptiveLimiter(4, adaptive=False)
    fixed.on_throttled(sent_at=1e9)
    assert fixed.limit == 4 and len(fixed.history) == 1
    with pytest.raises(ValueError):
        AdaptiveLimiter(0)


@pytest.mark.anyio
async def test_a_lowered_limit_blocks_new_acquisitions_until_enough_return() -> None:
    clock = Clock()
    lim = AdaptiveLimiter(4, clock=clock)
    holders = [object() for _ in range(4)]
    for h in holders:
        await lim.acquire(h)
    clock.t = 1.0
    lim.on_throttled(sent_at=1.0)
    assert lim.limit == 2 and lim.in_flight == 4
    late = object()
    got = anyio.Event()

    async def wait_for_slot() -> None:
        await lim.acquire(late)
        got.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(wait_for_slot)
        for h in holders[:2]:
            lim.release(h)
            await anyio.sleep(0.01)
            assert not got.is_set()  # 2 still held: the limit of 2 is full
        lim.release(holders[2])
        with anyio.fail_after(1):
            await got.wait()
    lim.release(holders[3])
    lim.release(late)
