"""Expansion: lazy, deduplicated, counts as the grid says, seeds stable under reordering, valid requests."""

from __future__ import annotations

import copy
import itertools
import tempfile
import types
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from evals.errors import DatasetError, SuiteError
from evals.expand import iter_cells, iter_tasks, suite_hash
from evals.model_spec import get_spec
from evals.records import Task
from evals.suite_loader import LoadedSuite, load_suite

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = get_spec("alibaba:qwen@3.5-27b")
assert SPEC is not None

BASE: dict[str, Any] = {
    "name": "prop",
    "target": {"provider": "sim"},
    "dataset": {
        "samples": [{"id": "a", "input": "one"}, {"id": "b", "input": "two"}, {"id": "c", "input": "three"}]
    },
    "prompt": {
        "system": "Be brief about {id}.",
        "messages": [{"role": "user", "content": "{input}"}],
        "variants": {"alt": {"messages": [{"role": "user", "content": "Please: {input}"}]}},
    },
    "settings": {"maxTokens": 64},
}


def load(doc: dict[str, Any]) -> LoadedSuite:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "suite.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return load_suite(path)


def seeds_by_task(loaded: LoadedSuite) -> dict[str, int]:
    return {t.id: t.seed for t in iter_tasks(loaded)}


# --------------------------------------------------------------------------- strategies

AXIS_POOLS: dict[str, list[Any]] = {
    "temperature": [0.0, 0.1, 0.25, 0.3, 0.7, 1.0, 1.5, 2.0],
    "topP": [0.5, 0.8, 0.9, 0.95, 1.0],
    "topK": [1, 5, 20, 50, 100],
    "maxTokens": [1, 16, 512],
    "thinkingLevel": ["low", "high"],
}
TOP_POOLS: dict[str, list[Any]] = {
    "numberResults": [1, 2, 4],
    "deliveryMethod": ["sync", "async"],
    "prompt": ["default", "alt"],
}


@st.composite
def grids(draw: st.DrawFn) -> dict[str, Any]:
    grid: dict[str, Any] = {"settings": {}}
    for name in draw(st.lists(st.sampled_from(sorted(AXIS_POOLS)), unique=True, max_size=3)):
        grid["settings"][name] = draw(
            st.lists(st.sampled_from(AXIS_POOLS[name]), unique=True, min_size=1, max_size=3)
        )
    for name in draw(st.lists(st.sampled_from(sorted(TOP_POOLS)), unique=True, max_size=2)):
        grid[name] = draw(st.lists(st.sampled_from(TOP_POOLS[name]), unique=True, min_size=1, max_size=3))
    axes = [(f"settings.{k}", k, v) for k, v in grid["settings"].items()] + [
        (k, k, v) for k, v in grid.items() if k != "settings"
    ]
    if len(axes) >= 2 and draw(st.booleans()):
        (_, a, va), (_, b, vb) = axes[0], axes[1]
        n = min(len(va), len(vb))
        _set_values(grid, a, va[:n])
        _set_values(grid, b, vb[:n])
        grid["zip"] = [[a, b]]
    rules = []
    for _ in range(draw(st.integers(0, 2))):
        if not axes:
            break
        name, key, _ = draw(st.sampled_from(axes))
        rules.append({key: draw(st.sampled_from(_values(grid, key)))})
    if rules:
        grid["exclude"] = rules
    # Includes set a temperature no product cell has (distinct from each other too), so the count is exact.
    taken = set(grid["settings"].get("temperature", []))
    free = [t for t in (0.05, 0.15, 0.45) if t not in taken]
    n_include = draw(st.integers(0, 2))
    if n_include:
        grid["include"] = [{"temperature": t, "topK": 3} for t in free[:n_include]]
    return grid


def _values(grid: dict[str, Any], key: str) -> list[Any]:
    return list(grid["settings"][key]) if key in grid["settings"] else list(grid[key])


def _set_values(grid: dict[str, Any], key: str, values: list[Any]) -> None:
    if key in grid["settings"]:
        grid["settings"][key] = values
    else:
        grid[key] = values


def expected_cells(grid: dict[str, Any]) -> int:
    """An independent count: product (zip groups as one factor), minus excluded points, plus includes."""
    names = list(grid["settings"]) + [k for k in TOP_POOLS if k in grid]
    zipped = grid.get("zip", [[]])[0] if grid.get("zip") else []
    factors: list[list[dict[str, Any]]] = []
    if zipped:
        a, b = zipped
        factors.append([{a: x, b: y} for x, y in zip(_values(grid, a), _values(grid, b), strict=True)])
    for name in names:
        if name not in zipped:
            factors.append([{name: v} for v in _values(grid, name)])
    count = 0
    for combo in itertools.product(*factors):
        point: dict[str, Any] = {}
        for part in combo:
            point.update(part)
        if not any(all(point.get(k) == v for k, v in rule.items()) for rule in grid.get("exclude", [])):
            count += 1
    return count + len(grid.get("include", []))


def assert_request_valid(task: Task) -> None:
    assert SPEC is not None
    request = task.request
    assert "taskUUID" not in request
    assert request["taskType"] == "textInference"
    assert request["seed"] == task.seed
    for name in ("seed", "numberResults", "deliveryMethod"):
        assert SPEC.task[name].check(request[name]) is None, (name, request[name])
    for name, value in request["settings"].items():
        assert SPEC.settings[name].check(value) is None, (name, value)
    assert request["messages"] and request["messages"][-1]["role"] == "user"
    assert all(isinstance(m["content"], str) for m in request["messages"])


# --------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid=grids(), n_seeds=st.integers(1, 2), replicates=st.integers(1, 2))
def test_counts_ids_and_requests(grid: dict[str, Any], n_seeds: int, replicates: int) -> None:
    doc = {**copy.deepcopy(BASE), "grid": grid, "seeds": n_seeds, "replicates": replicates}
    expected = expected_cells(grid)
    if expected == 0:  # every cell excluded: refused as a suite error, not an empty run
        with pytest.raises(SuiteError, match="remove every cell"):
            load(doc)
        return
    loaded = load(doc)
    cells = list(iter_cells(loaded))
    assert len(cells) == expected
    assert len({c.id for c in cells}) == len(cells)
    tasks = list(iter_tasks(loaded))
    assert len(tasks) == len(cells) * 3 * n_seeds * replicates
    assert len({t.id for t in tasks}) == len(tasks)
    for task in tasks:
        assert_request_valid(task)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grid=grids(), data=st.data())
def test_seeds_unchanged_by_reordering(grid: dict[str, Any], data: st.DataObject) -> None:
    assume(expected_cells(grid) > 0)
    doc = {**copy.deepcopy(BASE), "grid": grid, "seeds": 2}
    original = seeds_by_task(load(doc))

    # Reorder the YAML keys at every level that matters, the axes, and the values within each axis.
    shuffled = copy.deepcopy(doc)
    settings_axes = list(shuffled["grid"]["settings"].items())
    order = data.draw(st.permutations(range(len(settings_axes))))
    shuffled["grid"]["settings"] = {settings_axes[i][0]: list(reversed(settings_axes[i][1])) for i in order}
    # Every axis is reversed, so two zipped lists keep their pairs together.
    for key in TOP_POOLS:
        if key in shuffled["grid"]:
            shuffled["grid"][key] = list(reversed(shuffled["grid"][key]))
    grid_keys = data.draw(st.permutations(list(shuffled["grid"])))
    shuffled["grid"] = {k: shuffled["grid"][k] for k in grid_keys}
    top_keys = data.draw(st.permutations(list(shuffled)))
    shuffled = {k: shuffled[k] for k in top_keys}
    assert seeds_by_task(load(shuffled)) == original


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    temps=st.lists(st.sampled_from(AXIS_POOLS["temperature"]), unique=True, min_size=2, max_size=4),
    topks=st.lists(st.sampled_from(AXIS_POOLS["topK"]), unique=True, min_size=1, max_size=3),
)
def test_removing_an_axis_value_keeps_other_seeds(temps: list[float], topks: list[int]) -> None:
    full = {**copy.deepcopy(BASE), "grid": {"settings": {"temperature": temps, "topK": topks}}}
    fewer = copy.deepcopy(full)
    fewer["grid"]["settings"]["temperature"] = temps[1:]
    bigger = copy.deepcopy(full)
    bigger["grid"]["deliveryMethod"] = ["sync", "stream"]
    full_seeds = seeds_by_task(load(full))
    fewer_seeds = seeds_by_task(load(fewer))
    assert fewer_seeds.items() <= full_seeds.items()
    # Adding a delivery axis adds stream cells but leaves the sync tasks (and their seeds) as they were.
    assert full_seeds.items() <= seeds_by_task(load(bigger)).items()


# --------------------------------------------------------------------------- behaviour


def test_iter_tasks_is_lazy() -> None:
    loaded = load_suite(FIXTURES / "basic.yaml")
    assert isinstance(iter_tasks(loaded), types.GeneratorType)
    assert isinstance(iter_cells(loaded), types.GeneratorType)


def test_task_shape() -> None:
    task = next(iter(iter_tasks(load_suite(FIXTURES / "basic.yaml"))))
    assert task.request == {
        "taskType": "textInference",
        "model": "alibaba:qwen@3.5-27b",
        "deliveryMethod": "sync",
        "numberResults": 1,
        "includeCost": True,
        "includeUsage": True,
        "seed": task.seed,
        "messages": [{"role": "user", "content": "Q: 2+2?"}],
        "settings": {
            "temperature": 0.0,
            "topK": 10,
            "maxTokens": 64,
            "systemPrompt": "Answer with a number.",
        },
    }
    assert task.sample.id == task.sample_id == "a"
    assert task.id.startswith("t1-") and task.cell_id.startswith("c1-")


def test_requests_do_not_share_containers() -> None:
    first, second = itertools.islice(iter_tasks(load_suite(FIXTURES / "basic.yaml")), 2)
    first.request["messages"][0]["content"] = "changed"
    first.request["settings"]["topK"] = 99
    assert second.request["messages"][0]["content"] == "Q: 2+2?"
    assert second.request["settings"]["topK"] == 10


def test_same_seed_under_sync_and_stream() -> None:
    loaded = load_suite(FIXTURES / "variants.yaml")
    by_delivery: dict[str, dict[tuple[Any, ...], int]] = {}
    cells = {c.id: c for c in iter_cells(loaded)}
    for task in iter_tasks(loaded):
        cell = cells[task.cell_id]
        key = (cell.prompt_variant, tuple(sorted(cell.settings.items())), task.sample_id, task.replicate)
        by_delivery.setdefault(cell.delivery_method, {})[key] = task.seed
    stream = by_delivery["stream"]
    assert stream and all(by_delivery["sync"][k] == seed for k, seed in stream.items())


def test_variants_fixture_counts() -> None:
    loaded = load_suite(FIXTURES / "variants.yaml")
    cells = list(iter_cells(loaded))
    # zip(temperature, topP)=2 x delivery 2 x prompt 3 = 12, minus cot+stream (2), plus one include.
    assert len(cells) == 11
    include = cells[-1]
    assert include.axes["settings.topK"] == 1 and include.prompt_variant == "terse"
    assert include.settings["temperature"] == 0.0
    cot = next(c for c in cells if c.prompt_variant == "cot")
    assert cot.settings["systemPrompt"] == "Think step by step, then give the number."
    assert len(list(iter_tasks(loaded))) == 11 * 5 * 2


def test_identical_cells_are_deduplicated() -> None:
    doc = copy.deepcopy(BASE)
    doc["prompt"]["variants"]["same"] = {"messages": [{"role": "user", "content": "{input}"}]}
    doc["grid"] = {"prompt": ["default", "same"], "include": [{"temperature": 0.5}, {"temperature": 0.5}]}
    assert len(list(iter_cells(load(doc)))) == 2


def test_fixed_and_explicit_seeds() -> None:
    fixed = {**copy.deepcopy(BASE), "settings": {"seed": 42}}
    assert {t.seed for t in iter_tasks(load(fixed))} == {42}
    explicit = {**copy.deepcopy(BASE), "seeds": [7, 8]}
    tasks = list(iter_tasks(load(explicit)))
    assert len(tasks) == 6
    assert sorted((t.sample_id, t.replicate, t.seed) for t in tasks)[:2] == [("a", 0, 7), ("a", 1, 8)]


def test_seeds_follow_the_suite_seed() -> None:
    one = seeds_by_task(load({**copy.deepcopy(BASE), "seed": 1}))
    two = seeds_by_task(load({**copy.deepcopy(BASE), "seed": 2}))
    assert one.keys() == two.keys() and one != two


def test_limit_samples() -> None:
    tasks = list(iter_tasks(load_suite(FIXTURES / "basic.yaml"), limit_samples=1))
    assert {t.sample_id for t in tasks} == {"a"} and len(tasks) == 12


def test_missing_placeholder_names_field_and_sample() -> None:
    doc = copy.deepcopy(BASE)
    doc["dataset"]["samples"].append({"id": "d", "input": "four"})
    doc["prompt"]["messages"] = [{"role": "user", "content": "{input} {context}"}]
    doc["dataset"]["samples"] = [{**s, "context": "c"} for s in doc["dataset"]["samples"][:3]] + [
        doc["dataset"]["samples"][3]
    ]
    with pytest.raises(DatasetError) as info:
        list(iter_tasks(load(doc)))
    assert "'context'" in str(info.value) and "'d'" in str(info.value)


def test_suite_hash() -> None:
    base = load(copy.deepcopy(BASE))
    reordered = load({k: copy.deepcopy(BASE)[k] for k in reversed(list(BASE))})
    assert suite_hash(base) == suite_hash(reordered)
    assert suite_hash(base).startswith("s1-")
    changed = copy.deepcopy(BASE)
    changed["dataset"]["samples"][0]["input"] = "uno"
    assert suite_hash(load(changed)) != suite_hash(base)
    scored = {**copy.deepcopy(BASE), "scorers": [{"name": "exact_match"}]}
    assert suite_hash(load(scored)) != suite_hash(base)
    concurrency = {**copy.deepcopy(BASE), "target": {"provider": "sim", "concurrency": 64}}
    assert suite_hash(load(concurrency)) == suite_hash(base)  # does not change what is asked


def test_loading_and_expanding_do_not_import_heavy_libraries() -> None:
    # CLI start-up matters: `datasets` (and pandas with it) is imported only to read files or the hub.
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from evals import load_suite, iter_tasks, make_plan\n"
        f"loaded = load_suite({str(FIXTURES / 'variants.yaml')!r})\n"
        "list(iter_tasks(loaded)); make_plan(loaded)\n"
        "heavy = sorted(m for m in ('datasets', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_placeholder_error_in_a_later_cell_stops_before_the_first_task() -> None:
    doc = copy.deepcopy(BASE)
    doc["prompt"]["variants"]["alt"]["messages"] = [{"role": "user", "content": "{input} {missing}"}]
    doc["grid"] = {"prompt": ["default", "alt"]}
    tasks = iter_tasks(load(doc))
    with pytest.raises(DatasetError, match="'missing'"):
        next(tasks)


# --------------------------------------------------------------------------- suite hash stability


def test_suite_hash_of_a_fixture_is_pinned() -> None:
    # A change here changes every stored suite hash and so invalidates committed baselines: if it
    # is meant, bump IDENTITY_VERSION (the "s1-" prefix) and update this value on purpose.
    assert suite_hash(load_suite(FIXTURES / "basic.yaml")) == "s1-ce10f43f584f51ca"


def test_scorer_fields_left_at_their_default_do_not_change_the_hash() -> None:
    from evals.expand import scorer_identity
    from evals.suite import ScorerRef

    unset = load({**copy.deepcopy(BASE), "scorers": [{"name": "numeric"}]})
    explicit = load(
        {**copy.deepcopy(BASE), "scorers": [{"name": "numeric", "judge": None, "params": {}, "id": None}]}
    )
    assert suite_hash(unset) == suite_hash(explicit)

    # A field added to ScorerRef later, with a default: suites that leave it unset keep their hash.
    class LaterScorerRef(ScorerRef):
        retries: int = 0

    def with_scorers(loaded: LoadedSuite, refs: list[ScorerRef]) -> LoadedSuite:
        import dataclasses

        return dataclasses.replace(loaded, suite=loaded.suite.model_copy(update={"scorers": refs}))

    assert scorer_identity(LaterScorerRef(name="numeric")) == scorer_identity(ScorerRef(name="numeric"))
    assert suite_hash(with_scorers(unset, [LaterScorerRef(name="numeric")])) == suite_hash(unset)
    # ... and a suite that sets it gets a different hash.
    assert suite_hash(with_scorers(unset, [LaterScorerRef(name="numeric", retries=2)])) != suite_hash(unset)
    # What a scorer does still counts.
    tolerant = load({**copy.deepcopy(BASE), "scorers": [{"name": "numeric", "params": {"tolerance": 1}}]})
    assert suite_hash(tolerant) != suite_hash(unset)


def test_options_that_change_no_request_leave_ids_and_hash_alone() -> None:
    base = load(copy.deepcopy(BASE))
    other = copy.deepcopy(BASE)
    other["description"] = "changed"
    other["target"] = {"provider": "sim", "timeouts": {"read": 5}, "retries": {"max_attempts": 2}}
    other["settings"] = {"maxTokens": 64, "temperature": None, "numberResults": 1}
    other["gate"] = {"max_error_rate": 0.5}
    changed = load(other)
    assert [c.id for c in iter_cells(changed)] == [c.id for c in iter_cells(base)]
    assert suite_hash(changed) == suite_hash(base)


# --------------------------------------------------------------------------- located render errors


@pytest.mark.parametrize(
    ("prompt", "grid", "where"),
    [
        ({"messages": [{"role": "user", "content": "{input} {nope}"}]}, {}, "prompt.messages[0].content"),
        (
            {
                "messages": [{"role": "user", "content": "{input}"}],
                "variants": {"alt": {"messages": [{"role": "user", "content": "{nope}"}]}},
            },
            {"prompt": ["default", "alt"]},
            "prompt.variants.alt.messages[0].content",
        ),
        (
            {"system": "About {nope}.", "messages": [{"role": "user", "content": "{input}"}]},
            {},
            "prompt.system",
        ),
    ],
)
def test_render_error_is_located_in_the_suite(
    prompt: dict[str, Any], grid: dict[str, Any], where: str
) -> None:
    from evals.expand import TemplateDataError

    doc = {**copy.deepcopy(BASE), "prompt": prompt, "grid": grid}
    loaded = load(doc)
    with pytest.raises(TemplateDataError) as info:
        list(iter_tasks(loaded))
    issue = info.value.issue
    assert issue.path == where and issue.line is not None and issue.column is not None
    assert issue.file == str(loaded.path)
    assert "{nope}" in issue.message and "'a'" in issue.message
    assert isinstance(info.value, DatasetError)  # still what callers catch


def test_render_error_in_a_system_prompt_setting_points_at_it() -> None:
    from evals.expand import TemplateDataError

    doc = {**copy.deepcopy(BASE), "prompt": {"messages": [{"role": "user", "content": "{input}"}]}}
    doc["settings"] = {"systemPrompt": "About {nope}."}
    with pytest.raises(TemplateDataError) as info:
        list(iter_tasks(load(doc)))
    assert info.value.issue.path == "settings.systemPrompt" and info.value.issue.line is not None
