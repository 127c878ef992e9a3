"""Retry decisions and backoff, budget admission, task UUIDs and endpoint identities."""

from __future__ import annotations

import random
import uuid

import pytest

from evals.records import ApiError, ErrorClass, Sample, Task
from evals.suite import Target
from runners.budget import Budget, worst_case_cost
from runners.retry import RetryPolicy
from runners.runner import endpoint_identity, task_uuid_for


def err(cls: ErrorClass, retry_after: float | None = None) -> ApiError:
    return ApiError(cls, "code", "message", retry_after=retry_after)


def test_only_transient_errors_are_retried_within_the_attempt_budget() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.should_retry(err(ErrorClass.TRANSIENT), 1)
    assert policy.should_retry(err(ErrorClass.THROTTLED), 2)
    assert policy.should_retry(err(ErrorClass.CONFLICT), 1)
    assert not policy.should_retry(err(ErrorClass.TRANSIENT), 3)
    assert not policy.should_retry(err(ErrorClass.PERMANENT), 1)
    assert not policy.should_retry(err(ErrorClass.FATAL), 1)


def test_backoff_is_full_jitter_under_an_exponential_cap_and_honours_retry_after() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(0)
    for n, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (10, 4.0)]:
        draws = [policy.backoff(n, rng) for _ in range(2000)]
        assert min(draws) >= 0 and max(draws) <= cap
        assert sum(draws) / len(draws) == pytest.approx(cap / 2, rel=0.1)  # uniform on [0, cap]
    assert policy.backoff(1, rng, retry_after=3.0) == 3.0
    # A Retry-After longer than max_delay is still honoured: the task deadline is the bound.
    assert policy.backoff(1, rng, retry_after=600.0) == 600.0


def make_task(max_tokens: int | None, n: int = 1, model: str = "alibaba:qwen@3.5-27b") -> Task:
    settings = {"maxTokens": max_tokens} if max_tokens else {}
    request = {
        "model": model,
        "numberResults": n,
        "messages": [{"role": "user", "content": "x" * 1000}],
        "settings": settings,
    }
    return Task("t", "c", "s", 0, 1, request, Sample("s", "x"))


def test_worst_case_cost_uses_the_price_table() -> None:
    # 1000 prompt chars -> at most 1000 tokens at $0.165/M; 500 output tokens at $1.326/M; x2 results.
    assert worst_case_cost(make_task(500, n=2)) == pytest.approx(2 * (1000 * 0.165 + 500 * 1.326) / 1e6)
    assert worst_case_cost(make_task(None)) == pytest.approx((1000 * 0.165 + 131072 * 1.326) / 1e6)
    assert worst_case_cost(make_task(500, model="unknown:model")) is None


def test_budget_admits_until_spent_plus_in_flight_could_pass_the_limit() -> None:
    budget = Budget(max_cost=1.0)
    assert budget.admit("a", 0.4) is None and budget.admit("b", 0.4) is None
    assert budget.admit("c", 0.4) is not None  # 0.8 reserved + 0.4 > 1.0
    budget.settle("a", 0.1)
    assert budget.admit("c", 0.4) is None  # 0.1 spent + 0.8 reserved
    assert budget.spent == pytest.approx(0.1)
    limited = Budget(max_tasks=2)
    assert limited.admit("a", None) is None and limited.admit("b", None) is None
    assert limited.admit("c", None) == "--max-tasks 2 reached"
    assert limited.unknown_cost_tasks == 2


def test_task_uuids_are_stable_v4_and_distinct_per_run() -> None:
    u = task_uuid_for("run1", "t1")
    assert u == task_uuid_for("run1", "t1") and uuid.UUID(u).version == 4
    assert u != task_uuid_for("run2", "t1") and u != task_uuid_for("run1", "t2")


def test_embedded_servers_have_a_stable_cache_identity() -> None:
    assert endpoint_identity(Target(provider="runware", endpoint="https://x/v1")) == "https://x/v1"
    assert endpoint_identity(Target(provider="local")) == "embedded:smollm2"
    sim_a = endpoint_identity(Target(provider="sim", sim={"seed": 1}))
    assert sim_a == endpoint_identity(Target(provider="sim", sim={"seed": 1}))
    assert sim_a != endpoint_identity(Target(provider="sim", sim={"seed": 2}))


def test_endpoint_identity_is_the_resolved_normalised_url_or_the_embedded_engine() -> None:
    from runners.providers.runware import DEFAULT_ENDPOINT

    # Runware without an endpoint posts to its default: that, not an embedded engine, is its identity,
    # and spelling the default out changes nothing (same cache keys).
    omitted = endpoint_identity(Target(provider="runware"))
    assert omitted == DEFAULT_ENDPOINT and not omitted.startswith("embedded")
    assert endpoint_identity(Target(provider="runware", endpoint=DEFAULT_ENDPOINT + "/")) == omitted
    assert endpoint_identity(Target(provider="runware", endpoint="HTTPS://API.Runware.ai:443/v1")) == omitted
    assert endpoint_identity(Target(provider="openai", endpoint="http://h:8000/v1/")) == "http://h:8000/v1"
    assert (
        endpoint_identity(Target(provider="openai", endpoint="http://u:secret@h:8000/v1"))
        == "http://h:8000/v1"
    )
    # The embedded server ignores target.endpoint (it listens on a fresh port): engine and options.
    assert endpoint_identity(Target(provider="local", endpoint="http://x/v1")) == "embedded:smollm2"
    assert endpoint_identity(
        Target(provider="sim", sim={"seed": 1}, endpoint="http://x/v1")
    ) == endpoint_identity(Target(provider="sim", sim={"seed": 1}))


def test_unreported_costs_keep_their_worst_case_counted() -> None:
    budget = Budget(max_cost=1.0, spent=0.25)  # a resume starts from what the run spent before
    assert budget.admit("a", 0.3) is None and budget.admit("b", None) is None
    budget.settle("a", None, unknown=True)  # sent, no cost came back: may have been paid
    budget.settle("b", None, unknown=True)  # same, but without a price to bound it
    assert budget.spent == pytest.approx(0.55)
    assert (budget.unreported_tasks, budget.unreported_unpriced) == (2, 1)
    assert budget.unreported_worst == pytest.approx(0.3)
    assert budget.admit("c", 0.5) is not None  # 0.55 + 0.5 > 1.0
    budget.settle("d", None)  # never sent (or refused before generation): free
    assert budget.spent == pytest.approx(0.55)
