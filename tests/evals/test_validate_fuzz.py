"""`evals validate`: exit codes, and a fuzz of mutated and random suite files that must never crash."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evals.cli import cli

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = ["basic.yaml", "variants.yaml", "ci.yaml", "file_suite.yaml"]
NASTY = [
    "-1",
    "1e999",
    ".nan",
    "null",
    "~",
    "[",
    "{",
    "}",
    "]",
    ":",
    ": :",
    "'",
    '"',
    "&a",
    "*a",
    "<<: *a",
    "!!python/object:os.system",
    "!!binary AAAA",
    "!!set {a}",
    "99999999999999999999999",
    "0.333",
    "true",
    "${HOME}",
    "{input.__class__}",
    "{",
    "\t",
    "- ",
    "? ",
    "|",
    ">",
    "#",
    "%YAML 1.1",
    "---",
    "...",
    "temperature",
    "grid",
    "extends",
    "basic.yaml",
    "cycle_a.yaml",
    "zip",
    "exclude",
    "seeds",
    "é",
    "\x85",
]


def run_validate(path: Path, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["validate", *extra, str(path)], catch_exceptions=True)


def assert_clean(result: Result) -> None:
    """Exit 0 or 2, and never an exception escaping the command."""
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output


def test_valid_suites_exit_0() -> None:
    for name in SEEDS:
        result = run_validate(FIXTURES / name)
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("ok ")


def test_invalid_suites_exit_2_with_all_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: b\ndataset: {samples: [{input: x}]}\nsettings: {temperature: 9, topK: 0}\n")
    result = CliRunner().invoke(cli, ["validate", str(FIXTURES / "basic.yaml"), str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3:" in result.stderr
    assert "settings.temperature" in result.stderr and "settings.topK" in result.stderr
    assert "ok " in result.stdout  # the valid file is still reported


def test_placeholder_error_found_by_validate(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\ndataset: {samples: [{id: s9, input: x}]}\nprompt: {messages: [{role: user, content: '{ctx}'}]}\n"
    )
    result = run_validate(path)
    assert result.exit_code == 2 and "'ctx'" in result.stderr and "'s9'" in result.stderr
    assert run_validate(path, "--no-data").exit_code == 0


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(SEEDS))
    lines = (FIXTURES / name).read_text().splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        index = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "indent", "swap", "truncate"]))
        line = lines[index]
        if op == "delete":
            del lines[index]
        elif op == "duplicate":
            lines.insert(index, line)
        elif op == "replace":
            words = line.split(" ")
            at = draw(st.integers(0, len(words) - 1))
            words[at] = draw(st.sampled_from(NASTY) | st.text(max_size=8))
            lines[index] = " ".join(words)
        elif op == "insert":
            at = draw(st.integers(0, len(line)))
            lines[index] = line[:at] + draw(st.sampled_from(NASTY)) + line[at:]
        elif op == "indent":
            lines[index] = draw(st.sampled_from(["", " ", "    ", "\t"])) + line.lstrip()
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[index], lines[other] = lines[other], line
        else:
            lines[index] = line[: draw(st.integers(0, len(line)))]
    return name, "".join(lines).encode("utf-8", errors="surrogatepass")


FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validate_bytes(content: bytes, *, data: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # The fixtures' neighbours (bases, data files) sit beside the mutated file, as in the originals.
        shutil.copytree(FIXTURES, root, dirs_exist_ok=True)
        path = root / "mutated.yaml"
        path.write_bytes(content)
        # Loading data is safe here: the fixtures only name inline samples, local files and generators,
        # and a mutation can only make a hub name by chance; --no-data keeps those runs offline.
        offline = data and b"hub" not in content
        assert_clean(run_validate(path) if offline else run_validate(path, "--no-data"))


@FUZZ
@given(case=mutated())
def test_fuzz_mutated_suites(case: tuple[str, bytes]) -> None:
    _validate_bytes(case[1], data=True)


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=300))
def test_fuzz_random_text(text: str) -> None:
    _validate_bytes(text.encode("utf-8", errors="surrogatepass"), data=False)


@settings(max_examples=50, deadline=None)
@given(blob=st.binary(max_size=300))
def test_fuzz_random_bytes(blob: bytes) -> None:
    _validate_bytes(blob, data=False)


def test_validate_locates_placeholder_and_gate_errors(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(
        "name: p\n"
        "dataset: {samples: [{id: s9, input: x}]}\n"
        "prompt:\n"
        "  messages:\n"
        "    - {role: user, content: '{ctx}'}\n"
    )
    result = run_validate(path)
    assert result.exit_code == 2
    assert f"{path}:5:29: prompt.messages[0].content: placeholder {{ctx}}" in result.stderr

    gated = tmp_path / "g.yaml"
    gated.write_text(
        "name: g\n"
        "dataset: {samples: [{id: s9, input: x}]}\n"
        "scorers: [{name: numerik}]\n"
        "gate: {metrics: [{metric: latency_p95, max_drop: 0.1}]}\n"
        "grid: {settings: {topK: {from: 1, to: 10, step: 0.5}}}\n"
    )
    result = run_validate(gated, "--no-data")
    assert result.exit_code == 2
    for where in ("3:18: scorers[0].name", "4:40: gate.metrics[0].max_drop", "5:43: grid.settings.topK.step"):
        assert f"{gated}:{where}" in result.stderr, result.stderr
