"""Grid axes: ranges snapped to the parameter's step, zip groups, exclude and include rules."""

from __future__ import annotations

from typing import Any

import pytest

from evals.grid import axis_name, build_grid, expand_range, range_values
from evals.model_spec import get_spec
from evals.suite import Range, Suite

SPEC = get_spec("alibaba:qwen@3.5-27b")


def suite(grid: dict[str, Any], **extra: Any) -> Suite:
    return Suite.model_validate(
        {"name": "g", "dataset": {"samples": [{"input": "x"}]}, "grid": grid, **extra}
    )


def test_range_is_inclusive_and_snapped() -> None:
    values = expand_range(Range.model_validate({"from": 0.0, "to": 1.2, "step": 0.2}), 0.01)
    assert values == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2]
    # Binary rounding would give 0.30000000000000004 and 0.6000000000000001 without snapping.
    assert expand_range(Range.model_validate({"from": 0.1, "to": 0.3, "step": 0.1}), 0.01) == [0.1, 0.2, 0.3]


def test_range_of_integers() -> None:
    values = expand_range(Range.model_validate({"from": 1, "to": 100, "step": 33}), None)
    assert values == [1.0, 34.0, 67.0, 100.0]


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("temperature", "settings.temperature"),
        ("settings.topP", "settings.topP"),
        ("model", "model"),
        ("prompt", "prompt"),
        ("deliveryMethod", "deliveryMethod"),
        ("temp", None),
        ("settings.model", None),
    ],
)
def test_axis_names(key: str, expected: str | None) -> None:
    assert axis_name(key) == expected


def test_full_product_in_yaml_order() -> None:
    grid, issues, _ = build_grid(suite({"settings": {"temperature": [0.1, 0.2], "topK": [1, 2, 3]}}), SPEC)
    assert not issues
    points = [p for p, _ in grid.points()]
    assert len(points) == grid.product_size() == 6
    assert points[0] == {"settings.temperature": 0.1, "settings.topK": 1}
    assert points[-1] == {"settings.temperature": 0.2, "settings.topK": 3}


def test_zip_varies_together() -> None:
    grid, issues, _ = build_grid(
        suite(
            {
                "settings": {"temperature": [0.1, 0.2], "topP": [0.5, 0.9], "topK": [1, 2]},
                "zip": [["temperature", "settings.topP"]],
            }
        ),
        SPEC,
    )
    assert not issues
    points = [p for p, _ in grid.points()]
    assert len(points) == 4
    assert {(p["settings.temperature"], p["settings.topP"]) for p in points} == {(0.1, 0.5), (0.2, 0.9)}


def test_exclude_and_include() -> None:
    grid, issues, _ = build_grid(
        suite(
            {
                "settings": {"temperature": [0.1, 0.2]},
                "deliveryMethod": ["sync", "stream"],
                "exclude": [{"temperature": 0.2, "deliveryMethod": "stream"}],
                "include": [{"settings.temperature": 0.0, "topK": 1}],
            }
        ),
        SPEC,
    )
    assert not issues
    points = list(grid.points())
    assert len(points) == 4
    assert {"settings.temperature": 0.2, "deliveryMethod": "stream"} not in [p for p, _ in points]
    assert points[-1] == ({"settings.temperature": 0.0, "settings.topK": 1}, True)


def test_exclude_matches_floats_by_value() -> None:
    grid, _, _ = build_grid(
        suite(
            {
                "settings": {"temperature": {"from": 0.1, "to": 0.3, "step": 0.1}},
                "exclude": [{"temperature": 0.3}],
            }
        ),
        SPEC,
    )
    assert [p["settings.temperature"] for p in grid.product_points()] == [0.1, 0.2]


def test_duplicate_axis_values_warn_and_collapse() -> None:
    grid, issues, warnings = build_grid(suite({"settings": {"topK": [1, 1, 2]}}), SPEC)
    assert not issues
    assert grid.axis("settings.topK").values == (1, 2)
    assert any("duplicate" in w for w in warnings)


def test_zip_problems() -> None:
    _, issues, _ = build_grid(
        suite(
            {"settings": {"temperature": [0.1], "topK": [1, 2]}, "zip": [["temperature", "topK"], ["topK"]]}
        ),
        SPEC,
    )
    messages = [m for _, m in issues]
    assert any("as many values" in m for m in messages)
    assert any("already in zip group" in m for m in messages)
    assert any("at least two axes" in m for m in messages)


def test_integer_setting_range_gives_integers() -> None:
    grid, issues, _ = build_grid(suite({"settings": {"topK": {"from": 1, "to": 10, "step": 3}}}), SPEC)
    assert not issues
    values = grid.axis("settings.topK").values
    assert values == (1, 4, 7, 10) and all(type(v) is int for v in values)


@pytest.mark.parametrize(
    ("name", "bounds", "where"),
    [
        ("topK", {"from": 1, "to": 10, "step": 0.5}, ("grid", "settings", "topK", "step")),
        ("maxTokens", {"from": 16, "to": 64, "step": 2.5}, ("grid", "settings", "maxTokens", "step")),
        ("maxTokens", {"from": 16.5, "to": 64, "step": 2}, ("grid", "settings", "maxTokens", "from")),
    ],
)
def test_fractional_range_of_an_integer_setting_is_refused(
    name: str, bounds: dict[str, float], where: tuple[str, ...]
) -> None:
    _, issues, _ = build_grid(suite({"settings": {name: bounds}}), SPEC)
    assert [path for path, _ in issues] == [where]
    assert "integer" in issues[0][1]


def test_integer_setting_without_a_spec_uses_the_suite_type() -> None:
    _, issues, _ = build_grid(suite({"settings": {"topK": {"from": 1, "to": 3, "step": 0.5}}}), None)
    assert [path for path, _ in issues] == [("grid", "settings", "topK", "step")]


def test_range_values_refuses_huge_and_infinite_ranges_without_expanding() -> None:
    huge = Range.model_validate({"from": 0, "to": 1e12, "step": 1})
    assert range_values("topK", huge, SPEC)[1][0][0] == ()
    assert range_values("temperature", Range.model_validate({"from": 0, "to": 1e12, "step": 0.01}), SPEC)[1]
    infinite = Range.model_validate({"from": 0, "to": float("inf"), "step": 0.1})
    values, issues = range_values("temperature", infinite, SPEC)
    assert values == [] and issues[0][0] == ("to",)


def test_long_range_builds_quickly() -> None:
    import time

    start = time.monotonic()
    grid, issues, _ = build_grid(
        suite({"settings": {"maxTokens": {"from": 1, "to": 65536, "step": 1}}}), SPEC
    )
    assert not issues and len(grid.axis("settings.maxTokens").values) == 65536
    assert time.monotonic() - start < 5  # duplicates are found with a set, not pairwise
