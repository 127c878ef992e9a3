"""Loading a suite's samples: inline rows, a local file, a Hugging Face hub dataset or a generator.

    rows (source order) ──► field mapping ──► filter ──► seeded shuffle ──► limit ──► [Sample]

Ids come from the ``id`` field when the mapping names one, else from the row's position in the
source (before filtering and shuffling, so a sample keeps its id when the filter changes). Ids must
be unique: they are part of every task's identity.

Files and hub datasets are read with the ``datasets`` library, imported only here and only when
needed because importing it costs about a second. Samples are small and held in a list; it is the
tasks (samples x cells x seeds x replicates) that are never materialised.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from evals.errors import DatasetError
from evals.records import Sample
from evals.suite import Dataset, Filter

_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
# ``datasets`` builder for each file format (JSON Lines and JSON share one builder).
_BUILDERS = {"jsonl": "json", "json": "json", "csv": "csv", "parquet": "parquet"}


def source_label(dataset: Dataset) -> str:
    """A short human description of where samples come from, for plans and messages."""
    if dataset.samples is not None:
        return f"inline ({len(dataset.samples)} samples)"
    if dataset.file is not None:
        return f"file {dataset.file}"
    if dataset.hub is not None:
        extra = f" config={dataset.config}" if dataset.config else ""
        rev = f" revision={dataset.revision}" if dataset.revision else ""
        return f"hub {dataset.hub}{extra} split={dataset.split}{rev}"
    return f"generator {dataset.generator} seed={dataset.seed}"


def file_format(dataset: Dataset, path: Path) -> str:
    """The declared format, else the one the extension names. Raises DatasetError when neither."""
    if dataset.format is not None:
        return dataset.format
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DatasetError(
            f"cannot tell the format of {path.name!r} from its extension: set dataset.format to one of "
            + ", ".join(sorted(set(_FORMATS.values())))
        )
    return fmt


def _quiet_datasets() -> Any:
    import datasets

    # Progress bars and info logs would interleave with the harness's own terminal output.
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def _rows_from_file(dataset: Dataset, base_dir: Path) -> list[dict[str, Any]]:
    assert dataset.file is not None
    path = (base_dir / dataset.file).resolve()
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}")
    fmt = file_format(dataset, path)
    datasets = _quiet_datasets()
    try:
        loaded = datasets.load_dataset(
            _BUILDERS[fmt], data_files=str(path), split="train", keep_in_memory=True
        )
    except Exception as exc:  # the library raises many types for a malformed file; all mean "bad data"
        raise DatasetError(f"cannot read {fmt} dataset {path}: {type(exc).__name__}: {exc}") from None
    return [dict(row) for row in loaded]


def _rows_from_hub(dataset: Dataset, base_dir: Path) -> list[dict[str, Any]]:
    assert dataset.hub is not None
    datasets = _quiet_datasets()
    # A hub name may also be a local directory (relative to the suite), which load_dataset accepts.
    name = dataset.hub
    local = base_dir / name
    if not name.startswith(("/", ".")) and local.is_dir():
        name = str(local)
    try:
        loaded = datasets.load_dataset(
            name, dataset.config, split=dataset.split, revision=dataset.revision, keep_in_memory=True
        )
    except Exception as exc:  # offline, unknown name, bad split: all one answer for the user
        raise DatasetError(
            f"cannot load hub dataset {dataset.hub!r} (config={dataset.config!r}, split={dataset.split!r},"
            f" revision={dataset.revision!r}): {type(exc).__name__}: {exc}. Hub datasets need a network"
            " connection or a local copy in the Hugging Face cache; a local file works offline."
        ) from None
    return [dict(row) for row in loaded]


def _rows_from_generator(dataset: Dataset) -> list[dict[str, Any]]:
    from evals.generators import get_generator

    assert dataset.generator is not None
    try:
        gen = get_generator(dataset.generator)
    except KeyError as exc:
        raise DatasetError(str(exc.args[0])) from None
    problems = gen.check_params(dataset.params)
    if problems:
        raise DatasetError("; ".join(message for _name, message in problems))
    try:
        return gen(dataset.params, dataset.seed)
    except (ValueError, TypeError, OSError) as exc:
        raise DatasetError(f"generator {dataset.generator!r} failed: {exc}") from None


def load_rows(dataset: Dataset, base_dir: Path) -> list[dict[str, Any]]:
    """The raw rows of the dataset's source, in source order."""
    if dataset.samples is not None:
        return [dict(row) for row in dataset.samples]
    if dataset.file is not None:
        return _rows_from_file(dataset, base_dir)
    if dataset.hub is not None:
        return _rows_from_hub(dataset, base_dir)
    return _rows_from_generator(dataset)


def _to_sample(row: dict[str, Any], index: int, dataset: Dataset) -> Sample:
    fields = dataset.fields
    if fields.id is not None and row.get(fields.id) is not None:
        sample_id = str(row[fields.id])
    else:
        sample_id = str(index)
    if fields.input not in row or row[fields.input] is None:
        raise DatasetError(
            f"sample {sample_id!r} (row {index}) has no input field {fields.input!r}"
            f" (fields: {', '.join(sorted(row)) or 'none'}); set dataset.fields.input"
        )
    target = row.get(fields.target) if fields.target is not None else None
    metadata = {}
    for name in fields.metadata:
        if name not in row:
            raise DatasetError(f"sample {sample_id!r} (row {index}) has no metadata field {name!r}")
        metadata[name] = row[name]
    return Sample(id=sample_id, input=row[fields.input], target=target, metadata=metadata, fields=row)


def _compare(op: str) -> Callable[[Any, Any], bool]:
    return {
        "eq": lambda a, b: a == b,
        "ne": lambda a, b: a != b,
        "in": lambda a, b: a in b,
        "not_in": lambda a, b: a not in b,
        "lt": lambda a, b: a < b,
        "le": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "ge": lambda a, b: a >= b,
        "contains": lambda a, b: b in a,
    }[op]


def _keep(sample: Sample, rules: Iterable[Filter]) -> bool:
    for rule in rules:
        namespace = {**sample.fields, "input": sample.input, "target": sample.target, "id": sample.id}
        if rule.field not in namespace:
            raise DatasetError(f"filter: sample {sample.id!r} has no field {rule.field!r}")
        if rule.op in ("in", "not_in") and not isinstance(rule.value, list | tuple | str):
            raise DatasetError(f"filter on {rule.field!r}: op {rule.op!r} needs a list value")
        try:
            if not _compare(rule.op)(namespace[rule.field], rule.value):
                return False
        except TypeError as exc:
            raise DatasetError(
                f"filter {rule.field} {rule.op} {rule.value!r} cannot compare sample {sample.id!r}: {exc}"
            ) from None
    return True


def prepare_samples(rows: list[dict[str, Any]], dataset: Dataset) -> list[Sample]:
    """Map, filter, shuffle and limit raw rows into samples (no I/O)."""
    samples = [_to_sample(row, index, dataset) for index, row in enumerate(rows)]
    seen: dict[str, int] = {}
    for index, sample in enumerate(samples):
        if sample.id in seen:
            raise DatasetError(
                f"duplicate sample id {sample.id!r} (rows {seen[sample.id]} and {index}): ids must be unique"
            )
        seen[sample.id] = index
    if dataset.filter:
        samples = [s for s in samples if _keep(s, dataset.filter)]
    if dataset.shuffle:
        seed = dataset.shuffle_seed if dataset.shuffle_seed is not None else dataset.seed
        random.Random(seed).shuffle(samples)
    if dataset.limit is not None:
        samples = samples[: dataset.limit]
    return samples


def load_samples(dataset: Dataset, base_dir: Path) -> list[Sample]:
    """Every sample of ``dataset`` (relative files resolved from ``base_dir``). Raises DatasetError."""
    samples = prepare_samples(load_rows(dataset, base_dir), dataset)
    if not samples:
        raise DatasetError(f"the dataset ({source_label(dataset)}) has no samples after filtering")
    return samples
