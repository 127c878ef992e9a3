"""The suite loader: located errors, all at once, extends, ${ENV}, model-spec checks, no tracebacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from evals.errors import SuiteError, SuiteIssue
from evals.suite_loader import LoadedSuite, load_suite

FIXTURES = Path(__file__).parent / "fixtures"

MINIMAL = "name: t\ndataset:\n  samples:\n    - {id: a, input: hello}\n"


def write(tmp_path: Path, content: str | dict[str, Any], name: str = "suite.yaml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


def issues_of(path: Path) -> list[SuiteIssue]:
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert info.value.issues, "a SuiteError must carry at least one issue"
    return info.value.issues


def one(issues: list[SuiteIssue], path: str) -> SuiteIssue:
    found = [i for i in issues if i.path == path]
    assert found, f"no issue at {path}: {[str(i) for i in issues]}"
    return found[0]


def test_loads_a_valid_suite() -> None:
    loaded = load_suite(FIXTURES / "basic.yaml")
    assert isinstance(loaded, LoadedSuite)
    assert loaded.suite.name == "basic"
    assert loaded.base_dir == FIXTURES.resolve()
    assert loaded.warnings == []
    # The merged text is itself a valid suite describing the same thing.
    assert yaml.safe_load(loaded.text)["name"] == "basic"


def test_merged_text_round_trips(tmp_path: Path) -> None:
    loaded = load_suite(FIXTURES / "ci.yaml")
    again = load_suite(write(tmp_path, loaded.text))
    assert again.suite.model_dump(exclude={"dataset"}) == loaded.suite.model_dump(exclude={"dataset"})


def test_unknown_key_has_location_and_suggestion(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "target:\n  provider: sim\n  concurency: 3\n")
    issue = one(issues_of(path), "target.concurency")
    assert (issue.file, issue.line, issue.column) == (str(path), 7, 3)
    assert "did you mean 'concurrency'" in issue.message
    assert str(issue).startswith(f"{path}:7:3: target.concurency:")


def test_every_error_at_once_with_value_and_allowed(tmp_path: Path) -> None:
    text = (
        "name: t\n"
        "descripton: typo\n"
        "dataset:\n"
        "  generator: arithmetc\n"
        "settings:\n"
        "  temperature: 2.5\n"
        "  topP: 0.955\n"
        "  maxTokens: '12'\n"
        "grid:\n"
        "  settings:\n"
        "    temperature: [0.1, 0.2, 0.3, 3.0]\n"
        "    tempreture: [1]\n"
        "replicates: 0\n"
    )
    issues = issues_of(write(tmp_path, text))
    paths = {i.path for i in issues}
    assert {
        "descripton",
        "dataset.generator",
        "settings.temperature",
        "settings.topP",
        "settings.maxTokens",
        "grid.settings.temperature[3]",
        "grid.settings.tempreture",
        "replicates",
    } <= paths
    bad = one(issues, "grid.settings.temperature[3]")
    assert (bad.line, bad.column) == (11, 34)
    assert "3.0" in bad.message and "from 0 to 2" in bad.message
    assert "steps of 0.01" in one(issues, "settings.topP").message
    assert "did you mean 'arithmetic'" in one(issues, "dataset.generator").message
    assert "did you mean 'temperature'" in one(issues, "grid.settings.tempreture").message
    # Sorted by position, so the output reads top to bottom.
    lines = [i.line or 0 for i in issues]
    assert lines == sorted(lines)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name: [unclosed\n", "invalid YAML"),
        (b"\x00\x01\x02\xff\xfe binary", "not a text file"),
        (b"", "the file is empty"),
        (b"- just\n- a list\n", "must be a mapping"),
        (b"name: t\nname: u\n", "invalid YAML"),
        (b"name: !!python/object:os.system x\n", "YAML tags are not allowed"),
        (b"name: t\ndataset: !custom {samples: []}\n", "YAML tags are not allowed"),
        (b"? [a, b]\n: 1\n", "keys must be strings"),
        (b"[" * 5000, "invalid YAML"),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + b"".join(
                f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n".encode()
                for p, k in zip("abcdefg", "bcdefgh", strict=True)
            ),
            "expands to more than",
        ),
    ],
)
def test_broken_files_are_issues_not_tracebacks(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_bytes(content)
    issues = issues_of(path)
    assert any(expected in i.message for i in issues), [str(i) for i in issues]
    assert all(i.file == str(path) for i in issues)


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "name: t\ndataset:\n  samples: [\n  bad: : :\n")
    issue = issues_of(path)[0]
    assert issue.line is not None and issue.line >= 3


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "file not found" in issues_of(tmp_path / "nope.yaml")[0].message
    assert "directory" in issues_of(tmp_path)[0].message


def test_extends_deep_merges(tmp_path: Path) -> None:
    loaded = load_suite(FIXTURES / "ci.yaml")
    suite = loaded.suite
    assert suite.name == "basic-ci"
    assert suite.settings.maxTokens == 32  # child wins
    assert suite.settings.temperature == 0.6  # kept from the base by the deep merge
    assert suite.grid.settings["temperature"] == [0.0]  # lists (and ranges) are replaced, not merged
    assert suite.grid.settings["topK"] == [10, 20]
    assert suite.prompt.system == "Answer with a number."
    assert "extends" not in yaml.safe_load(loaded.text)


def test_extends_cycle_is_an_issue() -> None:
    issues = issues_of(FIXTURES / "cycle_a.yaml")
    assert any("extends cycle" in i.message and i.path == "extends" for i in issues)


def test_extends_missing_base(tmp_path: Path) -> None:
    issue = one(issues_of(write(tmp_path, "extends: gone.yaml\n" + MINIMAL)), "extends")
    assert "not found" in issue.message and issue.line == 1


def test_error_in_base_names_the_base_file(tmp_path: Path) -> None:
    write(tmp_path, MINIMAL + "settings: {topK: 500}\n", "base.yaml")
    child = write(tmp_path, "extends: base.yaml\nname: child\n", "child.yaml")
    issue = one(issues_of(child), "settings.topK")
    assert issue.file.endswith("base.yaml") and issue.line == 5


def test_extends_rebases_relative_dataset_files(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "rows.jsonl").write_text('{"input": "x"}\n')
    write(tmp_path, "name: b\ndataset: {file: rows.jsonl}\n", "base/base.yaml")
    loaded = load_suite(write(tmp_path, "extends: base/base.yaml\nname: c\n", "child.yaml"))
    assert (loaded.base_dir / str(loaded.suite.dataset.file)).resolve() == (tmp_path / "base" / "rows.jsonl")


def test_env_interpolation_only_in_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVALS_TEST_HOST", "127.0.0.1:9999")
    text = (
        MINIMAL + "description: '${EVALS_TEST_HOST}'\ntarget:\n  endpoint: 'http://${EVALS_TEST_HOST}/v1'\n"
    )
    suite = load_suite(write(tmp_path, text)).suite
    assert suite.target.endpoint == "http://127.0.0.1:9999/v1"
    assert suite.description == "${EVALS_TEST_HOST}"  # literal outside endpoint fields


def test_env_default_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EVALS_TEST_UNSET", raising=False)
    ok = MINIMAL + "target: {endpoint: '${EVALS_TEST_UNSET:-http://127.0.0.1:1/v1}'}\n"
    assert load_suite(write(tmp_path, ok)).suite.target.endpoint == "http://127.0.0.1:1/v1"
    bad = MINIMAL + "target: {endpoint: '${EVALS_TEST_UNSET}'}\n"
    issue = one(issues_of(write(tmp_path, bad)), "target.endpoint")
    assert "EVALS_TEST_UNSET" in issue.message


def test_fixed_seed_with_replicates_is_refused(tmp_path: Path) -> None:
    issue = one(issues_of(write(tmp_path, MINIMAL + "settings: {seed: 5}\nreplicates: 3\n")), "replicates")
    assert "identical" in issue.message


def test_seed_list_rules(tmp_path: Path) -> None:
    assert "distinct" in one(issues_of(write(tmp_path, MINIMAL + "seeds: [1, 1]\n")), "seeds").message
    issue = one(issues_of(write(tmp_path, MINIMAL + "seeds: 'three'\n")), "seeds")
    assert "count of seeds" in issue.message
    issue = one(issues_of(write(tmp_path, MINIMAL + "seeds: [4294967296]\n")), "seeds[0]")
    assert "4294967295" in issue.message


def test_stream_with_several_results_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + "grid:\n  deliveryMethod: [sync, stream]\n  numberResults: [1, 2]\n"
    issues = issues_of(write(tmp_path, text))
    assert any("stream" in i.message and "numberResults" in i.message for i in issues)
    fixed = text + "  exclude:\n    - {deliveryMethod: stream, numberResults: 2}\n"
    assert load_suite(write(tmp_path, fixed, "fixed.yaml")).suite.grid.exclude


def test_grid_structure_errors(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "grid:\n  settings:\n    temperature: [0.1, 0.2]\n    topP: [0.5]\n"
        + "    minP: {from: 0.1, to: 0.0, step: 0.1}\n    presencePenalty: {from: 0, to: 1, step: 0.005}\n"
        + "  zip: [[temperature, topP]]\n  exclude:\n    - {topK: 1}\n    - {}\n  prompt: [nope]\n"
    )
    issues = issues_of(write(tmp_path, text))
    assert "goes down" in one(issues, "grid.settings.minP").message
    assert "multiple" in one(issues, "grid.settings.presencePenalty.step").message
    assert "as many values" in one(issues, "grid.zip[0]").message
    assert "not an axis" in one(issues, "grid.exclude[0].topK").message
    assert "empty rule" in one(issues, "grid.exclude[1]").message
    assert "unknown prompt variant" in one(issues, "grid.prompt[0]").message


def test_axis_must_be_a_list_or_range(tmp_path: Path) -> None:
    issue = one(issues_of(write(tmp_path, MINIMAL + "grid: {settings: {topK: 5}}\n")), "grid.settings.topK")
    assert "list of values or a range" in issue.message


def test_prompt_template_errors(tmp_path: Path) -> None:
    text = MINIMAL + (
        "prompt:\n  system: 'Be {tone'\n  messages:\n"
        "    - {role: user, content: '{input.__class__}'}\n    - {role: assistant, content: ok}\n"
    )
    issues = issues_of(write(tmp_path, text))
    assert "literal braces" in one(issues, "prompt.system").message
    assert "not a field name" in one(issues, "prompt.messages[0].content").message
    assert "last message" in one(issues, "prompt.messages[1]").message


def test_system_prompt_set_twice(tmp_path: Path) -> None:
    text = MINIMAL + "prompt: {system: a}\nsettings: {systemPrompt: b}\n"
    assert "twice" in one(issues_of(write(tmp_path, text)), "settings.systemPrompt").message


def test_generator_params_are_checked(tmp_path: Path) -> None:
    text = "name: t\ndataset: {generator: arithmetic, params: {n: 3, dificulty: 2}}\n"
    issue = one(issues_of(write(tmp_path, text)), "dataset.params.dificulty")
    assert "did you mean 'difficulty'" in issue.message


def test_dataset_needs_one_source(tmp_path: Path) -> None:
    text = "name: t\ndataset: {generator: arithmetic, hub: x/y}\n"
    assert "exactly one source" in one(issues_of(write(tmp_path, text)), "dataset").message


def test_missing_dataset_file(tmp_path: Path) -> None:
    issue = one(issues_of(write(tmp_path, "name: t\ndataset: {file: none.jsonl}\n")), "dataset.file")
    assert "not found" in issue.message


def test_unknown_model_only_type_checks_with_warning(tmp_path: Path) -> None:
    text = MINIMAL + "target: {model: 'acme:unknown@1'}\nsettings: {temperature: 7.5}\n"
    loaded = load_suite(write(tmp_path, text))
    assert any("no model spec" in w for w in loaded.warnings)
    bad = MINIMAL + "target: {model: 'acme:unknown@1'}\ngrid: {settings: {topK: [1.5]}}\n"
    assert "integer" in one(issues_of(write(tmp_path, bad, "bad.yaml")), "grid.settings.topK[0]").message


def test_include_values_are_checked(tmp_path: Path) -> None:
    text = MINIMAL + "grid:\n  include:\n    - {temperature: 9, numberResults: 7}\n"
    issues = issues_of(write(tmp_path, text))
    assert one(issues, "grid.include[0].temperature")
    assert one(issues, "grid.include[0].numberResults")


def test_strict_types(tmp_path: Path) -> None:
    text = MINIMAL + "settings: {temperature: '0.7', maxTokens: true}\ntarget: {includeCost: 'yes'}\n"
    issues = issues_of(write(tmp_path, text))
    assert {"settings.temperature", "settings.maxTokens", "target.includeCost"} <= {i.path for i in issues}


# --------------------------------------------------------------------------- scorers


def test_scorer_names_and_params_are_checked_and_located(tmp_path: Path) -> None:
    text = (
        MINIMAL
        + "settings: {temperature: 9}\n"
        + "scorers:\n"
        + "  - {name: numeric, params: {tolerence: 1}}\n"
        + "  - {name: numerik}\n"
        + "  - {name: regex}\n"
        + "  - {name: exact_match, params: {strip_think: 'no'}}\n"
    )
    path = write(tmp_path, text)
    issues = issues_of(path)
    typo = one(issues, "scorers[0].params.tolerence")
    assert (typo.line, typo.column) == (7, 30) and "unexpected keyword argument 'tolerence'" in typo.message
    unknown = one(issues, "scorers[1].name")
    assert (unknown.line, unknown.column) == (8, 12) and "did you mean 'numeric'" in unknown.message
    missing = one(issues, "scorers[2].name")
    assert missing.line == 9 and "'pattern'" in missing.message
    assert one(issues, "scorers[3].params.strip_think").line == 10
    assert one(issues, "settings.temperature")  # reported together with the rest of the file


def test_model_graded_needs_no_judge_to_validate(tmp_path: Path) -> None:
    loaded = load_suite(write(tmp_path, MINIMAL + "scorers: [{name: model_graded}]\n"))
    assert [s.name for s in loaded.suite.scorers] == ["model_graded"]


def test_scorers_stored_under_one_id_are_refused(tmp_path: Path) -> None:
    text = MINIMAL + "scorers:\n  - {name: numeric, id: n}\n  - {name: exact_match, id: n}\n"
    issue = one(issues_of(write(tmp_path, text)), "scorers[1].id")
    assert "'n'" in issue.message and issue.line == 7
    # The same scorer twice without ids is stored as numeric and numeric#2: that is fine.
    load_suite(write(tmp_path, MINIMAL + "scorers: [{name: numeric}, {name: numeric}]\n", "ok.yaml"))


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("axis", "key", "column"),
    [
        ("topK: {from: 1, to: 10, step: 0.5}", "step", 29),
        ("maxTokens: {from: 16, to: 64, step: 2.5}", "step", 35),
        ("topK: {from: 1.5, to: 10, step: 1}", "from", 18),
    ],
)
def test_integer_setting_range_needs_integers(tmp_path: Path, axis: str, key: str, column: int) -> None:
    path = write(tmp_path, MINIMAL + "grid:\n  settings:\n    " + axis + "\n")
    issues = issues_of(path)
    name = axis.split(":")[0]
    issue = one(issues, f"grid.settings.{name}.{key}")
    assert (issue.line, issue.column) == (7, column) and "integer" in issue.message
    assert len(issues) == 1, [str(i) for i in issues]


def test_integer_range_gives_integers(tmp_path: Path) -> None:
    from evals.expand import iter_cells

    loaded = load_suite(write(tmp_path, MINIMAL + "grid: {settings: {topK: {from: 1, to: 10, step: 3}}}\n"))
    values = [c.settings["topK"] for c in iter_cells(loaded)]
    assert values == [1, 4, 7, 10] and all(type(v) is int for v in values)


def test_every_range_value_is_checked_against_every_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evals.model_spec import all_specs

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "coarse.yaml").write_text(
        "id: 'acme:coarse@1'\nsettings:\n  temperature: {type: float, min: 0, max: 1, step: 0.1}\n"
    )
    monkeypatch.setenv("EVALS_SPEC_PATH", str(specs))
    all_specs.cache_clear()
    try:
        # Both ends are on the coarse model's step; the values between them are not.
        text = MINIMAL + (
            "grid:\n  model: ['alibaba:qwen@3.5-27b', 'acme:coarse@1']\n"
            "  settings:\n    temperature: {from: 0, to: 0.2, step: 0.05}\n"
        )
        issue = one(issues_of(write(tmp_path, text)), "grid.settings.temperature")
        assert issue.line == 8 and "0.05" in issue.message and "acme:coarse@1" in issue.message
    finally:
        monkeypatch.delenv("EVALS_SPEC_PATH")
        all_specs.cache_clear()


def test_huge_range_is_refused_without_expanding(tmp_path: Path) -> None:
    text = MINIMAL + "grid: {settings: {maxTokens: {from: 1, to: 1000000000000, step: 1}}}\n"
    assert "at most" in one(issues_of(write(tmp_path, text)), "grid.settings.maxTokens").message


# --------------------------------------------------------------------------- gate


def test_gate_metrics_are_checked_and_located(tmp_path: Path) -> None:
    text = MINIMAL + (
        "scorers: [{name: numeric}]\n"
        "gate:\n"
        "  metrics:\n"
        "    - {metric: latency_p95, max_drop: 0.1}\n"
        "    - {metric: numeric, max_increase: 0.1}\n"
        "    - {metric: numerc, max_drop: 0.1}\n"
        "    - {metric: numeric, max_drop: 2}\n"
        "    - {metric: numeric, max_drop: 1.5, relative: true}\n"
        "    - {metric: cost_per_correct, max_increase: 0.1, scorer: numerc}\n"
        "settings: {topK: 0}\n"
    )
    issues = issues_of(write(tmp_path, text))
    drop = one(issues, "gate.metrics[0].max_drop")
    assert (drop.line, drop.column) == (8, 29) and "max_increase" in drop.message
    increase = one(issues, "gate.metrics[1].max_increase")
    assert (increase.line, increase.column) == (9, 25) and "max_drop" in increase.message
    unknown = one(issues, "gate.metrics[2].metric")
    assert (unknown.line, unknown.column) == (10, 16) and "did you mean 'numeric'" in unknown.message
    assert "latency_p95" in unknown.message
    assert "at most 1" in one(issues, "gate.metrics[3].max_drop").message
    assert "fraction" in one(issues, "gate.metrics[4].max_drop").message
    assert one(issues, "gate.metrics[5].scorer").line == 13
    assert one(issues, "settings.topK")
    assert len(issues) == 7, [str(i) for i in issues]


def test_valid_gate_passes(tmp_path: Path) -> None:
    text = MINIMAL + (
        "scorers: [{name: numeric}, {name: exact_match, id: exact}]\n"
        "gate:\n  metrics:\n"
        "    - {metric: numeric, max_drop: 0.02}\n"
        "    - {metric: exact, max_drop: 0.05, relative: true}\n"
        "    - {metric: latency_p95, max_increase: 0.2}\n"
        "    - {metric: cost_per_correct, max_increase: 0.1, scorer: numeric}\n"
    )
    assert len(load_suite(write(tmp_path, text)).suite.gate.metrics) == 4  # type: ignore[union-attr]


def test_gate_metric_names_match_the_reports() -> None:
    # evals cannot import reports; this keeps the two lists of ratio metrics from drifting apart.
    from evals.suite import GATE_RATIO_METRICS

    compare = pytest.importorskip("reports.compare")
    assert set(GATE_RATIO_METRICS) == set(compare.RATIO_METRICS)


# --------------------------------------------------------------------------- error reporting


def test_yaml_tag_is_one_located_issue(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !foo t\ndataset:\n  samples: [{id: a, input: x}]\n")
    issues = issues_of(path)
    assert [(i.path, i.line, i.column) for i in issues] == [("name", 1, 7)], [str(i) for i in issues]
    assert "YAML tags" in issues[0].message


def test_tagged_document_is_one_issue(tmp_path: Path) -> None:
    issues = issues_of(write(tmp_path, "!foo {name: t}\n"))
    assert len(issues) == 1 and "YAML tags" in issues[0].message, [str(i) for i in issues]


def test_extends_errors_do_not_add_missing_keys(tmp_path: Path) -> None:
    issues = issues_of(FIXTURES / "cycle_a.yaml")
    assert [i.path for i in issues] == ["extends"], [str(i) for i in issues]
    missing = issues_of(write(tmp_path, "extends: gone.yaml\nname: t\ndataset: {limit: 2}\n"))
    assert [i.path for i in missing] == ["extends"], [str(i) for i in missing]
    # Independent errors of the child are still reported with it.
    both = issues_of(write(tmp_path, "extends: gone.yaml\nname: t\nreplicates: 0\n", "both.yaml"))
    assert {i.path for i in both} == {"extends", "replicates"}


def test_missing_key_still_reported_without_extends(tmp_path: Path) -> None:
    assert "missing required key 'dataset'" in one(issues_of(write(tmp_path, "name: t\n")), "dataset").message


def test_gate_of_a_suite_without_scorers_names_any_score(tmp_path: Path) -> None:
    # Its scores come from `evals score --scorer ...`, so score names cannot be checked here.
    gate = "gate: {metrics: [{metric: exact, max_drop: 0.02}]}\n"
    load_suite(write(tmp_path, MINIMAL + gate))
    bad = "gate: {metrics: [{metric: exact, max_increase: 0.1}, {metric: ttft_p95, max_drop: 0.1}]}\n"
    issues = issues_of(write(tmp_path, MINIMAL + bad, "bad.yaml"))
    assert {i.path for i in issues} == {"gate.metrics[0].max_increase", "gate.metrics[1].max_drop"}
