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
