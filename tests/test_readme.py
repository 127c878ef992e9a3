"""Keep the README true: its suite examples load, and its first two commands are the real scripts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from evals.suite_loader import load_suite

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", README, flags=re.DOTALL)


def test_readme_starts_with_the_two_commands() -> None:
    first_block = re.search(r"```(?:bash|sh)\n(.*?)```", README, flags=re.DOTALL)
    assert first_block is not None
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines() if line.strip()]
    assert commands == ["./scripts/quickstart", "./scripts/check"]
    for command in commands:
        assert (ROOT / command).is_file()
    assert "scripts/check" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_suite_examples_in_the_readme_load(tmp_path: Path) -> None:
    suites = []
    for block in _yaml_blocks():
        doc = yaml.safe_load(block)
        if isinstance(doc, dict) and "name" in doc and ("dataset" in doc or "extends" in doc):
            suites.append((doc["name"], block))
    assert suites, "the README shows no complete suite example"
    # Write them all first: an example may extend another one by its file name.
    for name, block in suites:
        (tmp_path / f"{name}.yaml").write_text(block, encoding="utf-8")
    for name, _ in suites:
        loaded = load_suite(tmp_path / f"{name}.yaml")
        assert loaded.suite.name == name
