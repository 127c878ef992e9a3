"""Dataset loading: inline, files through `datasets`, hub (local copy, clear error offline), generators."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evals.dataset import load_samples, prepare_samples
from evals.errors import DatasetError
from evals.generators import generator_names, get_generator
from evals.suite import Dataset

FIXTURES = Path(__file__).parent / "fixtures"
ROWS = [
    {"qid": "q1", "question": "What is 2 + 2?", "answer": "4", "topic": "math", "level": 1},
    {"qid": "q2", "question": "Capital of France?", "answer": "Paris", "topic": "geo", "level": 2},
]
MAPPING = {"input": "question", "target": "answer", "id": "qid", "metadata": ["topic"]}


def dataset(**kwargs: Any) -> Dataset:
    return Dataset.model_validate(kwargs)


def test_inline_samples_get_ids_from_position() -> None:
    samples = load_samples(dataset(samples=[{"input": "a"}, {"input": "b", "target": 2}]), Path("."))
    assert [(s.id, s.input, s.target) for s in samples] == [("0", "a", None), ("1", "b", 2)]


def test_jsonl_file_with_mapping_filter_shuffle() -> None:
    suite_like = dataset(
        file="data/qa.jsonl",
        fields=MAPPING,
        filter=[{"field": "level", "op": "le", "value": 2}],
        shuffle=True,
        shuffle_seed=1,
    )
    samples = load_samples(suite_like, FIXTURES)
    assert sorted(s.id for s in samples) == ["q1", "q2", "q4"]
    assert samples == load_samples(suite_like, FIXTURES)  # the shuffle is seeded
    q1 = next(s for s in samples if s.id == "q1")
    assert q1.input == "What is 2 + 2?" and q1.target == "4" and q1.metadata == {"topic": "math"}
    assert q1.fields["level"] == 1


@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_other_file_formats(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"rows.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps(ROWS))
    elif fmt == "csv":
        path.write_text(
            "qid,question,answer,topic,level\n"
            + "".join(f"{r['qid']},{r['question']},{r['answer']},{r['topic']},{r['level']}\n" for r in ROWS)
        )
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(ROWS), path)
    samples = load_samples(dataset(file=path.name, fields=MAPPING), tmp_path)
    assert [(s.id, s.target) for s in samples] == [("q1", "4"), ("q2", "Paris")]


def test_explicit_format_overrides_extension(tmp_path: Path) -> None:
    (tmp_path / "rows.txt").write_text(json.dumps(ROWS[0]) + "\n")
    samples = load_samples(dataset(file="rows.txt", format="jsonl", fields=MAPPING), tmp_path)
    assert samples[0].id == "q1"


def test_malformed_file_is_a_dataset_error(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text("{not json\n")
    with pytest.raises(DatasetError, match="cannot read jsonl"):
        load_samples(dataset(file="bad.jsonl"), tmp_path)


def test_hub_dataset_from_a_local_copy(tmp_path: Path) -> None:
    local = tmp_path / "my-dataset"
    local.mkdir()
    (local / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    samples = load_samples(dataset(hub="my-dataset", split="test", fields=MAPPING), tmp_path)
    assert [s.id for s in samples] == ["q1", "q2"]


def test_hub_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets
    import huggingface_hub.constants

    # Offline mode, so the test never touches the network whatever the environment allows.
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(DatasetError) as info:
        load_samples(dataset(hub="no-such-org/no-such-dataset", revision="main"), tmp_path)
    message = str(info.value)
    assert "no-such-org/no-such-dataset" in message and "network" in message


def test_arithmetic_generator_is_seeded_and_correct() -> None:
    ds = dataset(generator="arithmetic", params={"n": 20, "difficulty": 2}, seed=7)
    samples = load_samples(ds, Path("."))
    assert len(samples) == 20 and len({s.id for s in samples}) == 20
    assert samples == load_samples(ds, Path("."))
    for s in samples:
        assert isinstance(s.target, int) and s.target >= 0
        assert eval(s.fields["expression"]) == s.target  # the expression is plain integer arithmetic
    other = load_samples(
        dataset(generator="arithmetic", params={"n": 20, "difficulty": 2}, seed=8), Path(".")
    )
    assert [s.input for s in other] != [s.input for s in samples]
    # Problem i does not depend on n.
    assert (
        load_samples(dataset(generator="arithmetic", params={"n": 3, "difficulty": 2}, seed=7), Path("."))
        == samples[:3]
    )


def test_arithmetic_rejects_bad_params() -> None:
    with pytest.raises(DatasetError, match="difficulty"):
        load_samples(dataset(generator="arithmetic", params={"difficulty": 9}), Path("."))
    with pytest.raises(DatasetError, match="unknown param"):
        load_samples(dataset(generator="arithmetic", params={"size": 9}), Path("."))


def test_humaneval_generator() -> None:
    samples = load_samples(dataset(generator="humaneval"), Path("."))
    assert len(samples) == 164
    first = samples[0]
    assert first.id == "HumanEval/0"
    assert first.input == first.fields["prompt"]
    assert {"test", "entry_point", "canonical_solution"} <= set(first.fields)


def test_registry() -> None:
    assert {"arithmetic", "humaneval"} <= set(generator_names())
    with pytest.raises(KeyError, match="did you mean 'arithmetic'"):
        get_generator("arithmetik")


def test_duplicate_ids_and_missing_input() -> None:
    with pytest.raises(DatasetError, match="duplicate sample id 'x'"):
        prepare_samples([{"id": "x", "input": 1}, {"id": "x", "input": 2}], dataset(samples=[]))
    with pytest.raises(DatasetError, match="no input field 'input'"):
        prepare_samples([{"id": "x", "question": 1}], dataset(samples=[]))


def test_limit_and_empty_result() -> None:
    ds = dataset(samples=[{"input": str(i)} for i in range(10)], limit=3)
    assert [s.id for s in load_samples(ds, Path("."))] == ["0", "1", "2"]
    empty = dataset(samples=[{"input": "a"}], filter=[{"field": "input", "op": "eq", "value": "b"}])
    with pytest.raises(DatasetError, match="no samples"):
        load_samples(empty, Path("."))


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("ne", "geo", ["q1"]),
        ("in", ["geo", "x"], ["q2"]),
        ("not_in", ["geo"], ["q1"]),
        ("contains", "Fr", ["q2"]),
        ("gt", 1, ["q2"]),
    ],
)
def test_filter_ops(op: str, value: Any, expected: list[str]) -> None:
    field = "question" if op == "contains" else ("level" if op == "gt" else "topic")
    ds = dataset(samples=ROWS, fields=MAPPING, filter=[{"field": field, "op": op, "value": value}])
    assert [s.id for s in load_samples(ds, Path("."))] == expected


def test_filter_type_mismatch_is_a_dataset_error() -> None:
    ds = dataset(samples=ROWS, fields=MAPPING, filter=[{"field": "topic", "op": "lt", "value": 3}])
    with pytest.raises(DatasetError, match="cannot compare"):
        load_samples(ds, Path("."))
