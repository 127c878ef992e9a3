"""The response cache: keys, hits, refresh, and what is never cached."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.records import ApiError, Attempt, ErrorClass, Generation, Usage
from runners.cache import ResponseCache, cache_key, default_cache_path

REQUEST = {
    "taskType": "textInference",
    "model": "alibaba:qwen@3.5-27b",
    "seed": 7,
    "numberResults": 2,
    "messages": [{"role": "user", "content": "hi"}],
    "settings": {"temperature": 0.2},
}


def ok_attempt() -> Attempt:
    usage = Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
    gens = [
        Generation(index=i, text=f"t{i}", seed=7 + i, usage=usage, cost=0.1, cost_source="provider")
        for i in range(2)
    ]
    return Attempt("t", "u", 1, http_status=200, generations=gens, usage=usage, cost=0.2)


def test_key_ignores_task_uuid_but_not_anything_that_changes_the_answer() -> None:
    base = cache_key("runware", "https://api", REQUEST)
    assert cache_key("runware", "https://api", {**REQUEST, "taskUUID": "abc"}) == base
    assert cache_key("runware", "https://api", {**REQUEST, "seed": 8}) != base
    assert cache_key("runware", "https://api", {**REQUEST, "numberResults": 1}) != base
    assert cache_key("runware", "https://api", {**REQUEST, "settings": {"temperature": 0.3}}) != base
    assert cache_key("runware", "https://other", REQUEST) != base
    assert cache_key("openai", "https://api", REQUEST) != base
    # Key order does not matter.
    assert cache_key("runware", "https://api", dict(reversed(list(REQUEST.items())))) == base


def test_put_get_roundtrip_across_instances(tmp_path: Path) -> None:
    path = tmp_path / "c" / "responses.sqlite"
    cache = ResponseCache(path)
    key = cache_key("runware", None, REQUEST)
    assert cache.get(key) is None
    cache.put(key, "runware", None, "m", ok_attempt())
    cache.close()
    again = ResponseCache(path)
    hit = again.get(key)
    assert hit is not None and [g.text for g in hit.generations] == ["t0", "t1"]
    assert hit.cost == pytest.approx(0.2) and hit.cost_source == "provider"
    assert hit.generations[0].usage == Usage(prompt_tokens=1, completion_tokens=2, total_tokens=3)
    assert (again.hits, again.misses, len(again)) == (1, 0, 1)
    refreshing = ResponseCache(path, refresh=True)
    assert refreshing.get(key) is None


def test_errors_are_never_cached(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "responses.sqlite")
    failed = Attempt("t", "u", 1, error=ApiError(ErrorClass.TRANSIENT, "serverError", "x", http_status=500))
    cache.put("k", "runware", None, "m", failed)
    cache.flush()
    assert len(cache) == 0


def test_default_location_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EVALS_CACHE_DIR", str(tmp_path))
    assert default_cache_path() == tmp_path / "responses.sqlite"
    monkeypatch.delenv("EVALS_CACHE_DIR")
    assert default_cache_path().parts[-3:] == (".cache", "evals-harness", "responses.sqlite")
