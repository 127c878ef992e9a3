"""Identities: canonical JSON, versioned ids, seeds derived from identities only."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from evals.identity import (
    canonical_json,
    cell_id,
    core_id,
    derive_seed,
    make_id,
    normalise_settings,
    task_id,
)
from evals.model_spec import get_spec
from evals.records import IDENTITY_VERSION

SPEC = get_spec("alibaba:qwen@3.5-27b")


def test_canonical_json_sorts_and_normalises() -> None:
    assert canonical_json({"b": 1, "a": 0.1 + 0.2}) == '{"a":0.3,"b":1}'
    assert canonical_json({"x": 1.0}) == canonical_json({"x": 1})
    assert canonical_json({"s": "é"}) == '{"s":"é"}'


def test_ids_are_versioned_and_short() -> None:
    ident = make_id("c", {"a": 1})
    assert ident.startswith(f"c{IDENTITY_VERSION}-")
    assert len(ident.split("-", 1)[1]) == 16
    assert make_id("c", {"a": 1}) == ident != make_id("c", {"a": 2})


def test_settings_snap_to_the_step() -> None:
    settings = normalise_settings(
        {"temperature": 0.30000000000000004, "topK": 5, "minP": None, "topP": 1}, SPEC
    )
    assert settings == {"temperature": 0.3, "topK": 5, "topP": 1.0}
    assert isinstance(settings["topP"], float)


def test_core_and_cell_ids() -> None:
    messages = [{"role": "user", "content": "{input}"}]
    core = core_id("m", messages, {"temperature": 0.3}, 1, None)
    assert core == core_id("m", messages, {"temperature": 0.1 + 0.2}, 1, None)
    assert core != core_id("m", messages, {"temperature": 0.4}, 1, None)
    assert core != core_id("m", messages, {"temperature": 0.3}, 2, None)
    assert core != core_id("m", messages, {"temperature": 0.3}, 1, 7)
    assert cell_id(core, "sync") != cell_id(core, "stream")


def test_seed_does_not_depend_on_delivery() -> None:
    # Seeds hang off the core id, which knows nothing of the delivery method.
    core = core_id("m", [{"role": "user", "content": "x"}], {}, 1, None)
    seed = derive_seed(0, core, "s1", 0, 0)
    assert seed == derive_seed(0, core, "s1", 0, 0)
    assert task_id(cell_id(core, "sync"), "s1", "d", 0, 0) != task_id(
        cell_id(core, "stream"), "s1", "d", 0, 0
    )


@given(
    suite_seed=st.integers(0, 2**32 - 1),
    sample=st.text(max_size=20),
    index=st.integers(0, 1000),
    replicate=st.integers(0, 1000),
)
def test_seeds_are_uint32_and_vary(suite_seed: int, sample: str, index: int, replicate: int) -> None:
    seed = derive_seed(suite_seed, "k1-00", sample, index, replicate)
    assert 0 <= seed <= 4294967295
    assert seed == derive_seed(suite_seed, "k1-00", sample, index, replicate)


def test_sample_ids_cannot_collide_by_concatenation() -> None:
    # The sample id is JSON-quoted inside the hashed string, so "a|0" with index 0 differs from "a" with "0|0".
    assert task_id("c", "a|0", "d", 0, 0) != task_id("c", "a", "d", 0, 0)
    assert len({derive_seed(0, "k", f"s{i}", 0, 0) for i in range(1000)}) > 990


def test_unset_settings_do_not_enter_the_core_id() -> None:
    # A setting the suite leaves unset (None) is dropped before hashing, so a newly supported
    # optional setting leaves every existing cell id as it was.
    messages = [{"role": "user", "content": "{input}"}]
    before = core_id("m", messages, normalise_settings({"temperature": 0.5}, SPEC), 1, None)
    after = core_id(
        "m", messages, normalise_settings({"temperature": 0.5, "newSetting": None}, SPEC), 1, None
    )
    assert before == after
