"""Scoring a stored run: passes, isolation of scorer errors, judge calls, aggregates and pass@k."""

from __future__ import annotations

import json
import math
import sqlite3
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from evals.errors import ConfigError, StoreError
from evals.records import Sample, Usage
from evals.scorers import Score, ScorerInput
from evals.scoring import (
    aggregate,
    aggregate_group,
    pass_at_k,
    run_aggregates,
    score_result,
    score_run,
    score_run_async,
    scorer_refs_of_run,
)
from evals.suite import ScorerRef

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = (ROOT / "evals" / "store_schema.sql").read_text()


def exploding(output: ScorerInput) -> Score:
    """A user scorer that fails on one sample only."""
    if output.sample.id == "q2":
        raise ZeroDivisionError("division by zero")
    return Score.of(True)


def make_run(
    tmp_path: Path,
    *,
    scorers: list[dict[str, Any]] | None = None,
    answers: dict[tuple[str, str], list[str]] | None = None,
    targets: dict[str, Any] | None = None,
) -> Path:
    """A run directory with 2 cells x 2 samples, numberResults 3: 12 results with known answers
    (unless ``answers``, (cell, sample) -> the texts' answers, and ``targets`` say otherwise)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    conn = sqlite3.connect(run_dir / "run.sqlite")
    conn.executescript(SCHEMA)
    expanded = {"scorers": scorers if scorers is not None else [{"name": "numeric"}]}
    conn.execute(
        """INSERT INTO run(run_id, suite_name, suite_text, suite_hash, expanded_json, harness_version,
        provider, status, started_at) VALUES ('r1', 't', 'name: t', 'h', ?, '0', 'sim', 'completed', 'now')""",
        (json.dumps(expanded),),
    )
    answers = answers or {
        ("c1", "q1"): ["4", "4", "5"],
        ("c1", "q2"): ["9", "9", "9"],
        ("c2", "q1"): ["5", "6", "4"],
        ("c2", "q2"): ["1", "2", "3"],
    }
    targets = targets or {"q1": 4, "q2": 9}
    for cell in sorted({c for c, _ in answers}):
        n = max(len(texts) for (c, _), texts in answers.items() if c == cell)
        conn.execute(
            """INSERT INTO cells(cell_id, axes_json, model, settings_json, number_results, delivery_method)
            VALUES (?, '{}', 'm', ?, ?, 'sync')""",
            (cell, json.dumps({"numberResults": n}), n),
        )
    for (cell, sample_id), texts in answers.items():
        task_id = f"{cell}-{sample_id}"
        sample = {
            "id": sample_id,
            "input": f"question {sample_id}",
            "target": targets[sample_id],
            "fields": {},
        }
        conn.execute(
            """INSERT INTO tasks(task_id, cell_id, sample_id, replicate, seed, request_json, sample_json, status)
            VALUES (?,?,?,0,1,?,?,'done')""",
            (
                task_id,
                cell,
                sample_id,
                json.dumps({"messages": [{"role": "user", "content": "q"}]}),
                json.dumps(sample),
            ),
        )
        for index, text in enumerate(texts):
            conn.execute(
                "INSERT INTO results(task_id, result_index, text, finish_reason) VALUES (?,?,?,?)",
                (task_id, index, f"The answer is {text}", "stop"),
            )
    conn.commit()
    conn.close()
    return run_dir


def rows(run_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        return conn.execute(sql).fetchall()


# -- pass@k -------------------------------------------------------------------------------------


def exact_pass_at_k(n: int, c: int, k: int) -> Fraction:
    return 1 - Fraction(math.comb(n - c, k), math.comb(n, k))


@pytest.mark.parametrize(
    ("n", "c", "k"), [(1, 0, 1), (1, 1, 1), (10, 3, 1), (10, 3, 5), (5, 1, 5), (200, 13, 100)]
)
def test_pass_at_k_matches_the_binomial_formula(n: int, c: int, k: int) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(float(exact_pass_at_k(n, c, k)), rel=1e-12, abs=1e-15)


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_pass_at_k_is_stable_for_large_n(args: tuple[int, int, int]) -> None:
    n, c, k = args
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(float(exact_pass_at_k(n, c, k)), rel=1e-9, abs=1e-12)


def test_pass_at_1_is_the_share_correct() -> None:
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)


@pytest.mark.parametrize(("n", "c", "k"), [(0, 0, 1), (3, 4, 1), (3, 1, 4), (3, 1, 0)])
def test_pass_at_k_refuses_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


# -- aggregates ---------------------------------------------------------------------------------


def test_aggregates() -> None:
    scores = [
        Score.of(True, answer="4"),
        Score.of(False, answer="5"),
        Score.of(False, answer="5"),
        Score.failure("broken"),
    ]
    assert aggregate(scores, "mean") == pytest.approx(1 / 3)
    assert aggregate(scores, "any") == 1.0
    assert aggregate(scores, "all") == 0.0
    assert aggregate(scores, "majority") == 0.0  # the most common answer, 5, is wrong
    assert aggregate([Score.of(True), Score.of(True), Score.of(False)], "majority") == 1.0
    assert aggregate([Score.of(True), Score.of(False)], "majority") == 0.0  # no strict majority
    assert aggregate([Score.failure("x")], "mean") is None
    with pytest.raises(ValueError):
        aggregate(scores, "median")  # type: ignore[arg-type]


def test_aggregate_group_counts_errors_apart() -> None:
    group = aggregate_group("c", "s", "numeric", [Score.of(True), Score.of(False), Score.failure("x")])
    assert (group.n, group.n_passed, group.n_errors) == (2, 1, 1)
    assert group.pass_at_k == {1: pytest.approx(0.5), 2: pytest.approx(1.0)}


# -- scoring one result -------------------------------------------------------------------------


def test_score_result_with_repeated_scorer_names() -> None:
    sample = Sample(id="s", input="q", target="Paris")
    scores = score_result(
        "paris",
        sample=sample,
        scorers=[
            ScorerRef(name="exact_match"),
            ScorerRef(name="exact_match", params={"case_sensitive": True}),
            ScorerRef(name="includes", id="contains"),
        ],
    )
    assert list(scores) == ["exact_match", "exact_match#2", "contains"]
    assert [s.passed for s in scores.values()] == [True, False, True]


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="distinct ids"):
        score_result(
            "x",
            sample=Sample(id="s", input="q", target="x"),
            scorers=[ScorerRef(name="exact_match", id="a"), ScorerRef(name="includes", id="a")],
        )


# -- scoring a stored run -----------------------------------------------------------------------


def test_score_run_stores_a_pass_and_isolates_scorer_errors(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    python_ref = ScorerRef(name="python", params={"function": f"{__name__}:exploding"}, id="custom")
    summary = score_run(run_dir / "run.sqlite", [ScorerRef(name="numeric"), python_ref])
    assert summary.pass_id == 1 and summary.n_results == 12
    numeric = summary.scorers["numeric"]
    assert (numeric.n, numeric.n_passed, numeric.n_errors) == (12, 6, 0)
    assert numeric.mean == pytest.approx(0.5)
    custom = summary.scorers["custom"]
    assert (custom.n_errors, custom.n_passed) == (6, 6)
    errors = rows(
        run_dir, "SELECT task_id, value, error FROM scores WHERE scorer = 'custom' AND error IS NOT NULL"
    )
    assert {r[0] for r in errors} == {"c1-q2", "c2-q2"}
    assert all(r[1] is None and r[2] == "ZeroDivisionError: division by zero" for r in errors)
    explanation = rows(
        run_dir,
        "SELECT explanation FROM scores WHERE task_id='c1-q1' AND result_index=2 AND scorer='numeric'",
    )
    assert explanation[0][0] == "answer 5, expected 4"


def test_rescoring_adds_a_pass_and_keeps_the_old_one(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    first = score_run(run_dir, [ScorerRef(name="numeric")])
    second = score_run(run_dir, [ScorerRef(name="numeric", params={"tolerance": 1.0})])
    assert (first.pass_id, second.pass_id) == (1, 2)
    assert second.scorers["numeric"].n_passed == 8  # within 1 of the target: 6, 1, 2 and 3 are not
    per_pass = rows(
        run_dir, "SELECT pass_id, COUNT(*), SUM(passed) FROM scores GROUP BY pass_id ORDER BY pass_id"
    )
    assert per_pass == [(1, 12, 6), (2, 12, 8)]


def test_run_aggregates_per_cell_and_sample(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    score_run(run_dir, [ScorerRef(name="numeric")])
    groups = {(g.cell_id, g.sample_id): g for g in run_aggregates(run_dir)}
    c1q1 = groups[("c1", "q1")]
    assert (c1q1.n, c1q1.n_passed) == (3, 2)
    assert c1q1.mean == pytest.approx(2 / 3) and c1q1.any == 1.0 and c1q1.majority == 1.0
    assert c1q1.pass_at_k[1] == pytest.approx(2 / 3) and c1q1.pass_at_k[2] == pytest.approx(1.0)
    c2q2 = groups[("c2", "q2")]
    assert (c2q2.any, c2q2.pass_at_k[1]) == (0.0, 0.0)
    assert run_aggregates(run_dir, pass_id=99) == []


def test_scorer_refs_of_run_and_missing_database(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, scorers=[{"name": "numeric", "params": {"tolerance": 0.5}}])
    assert scorer_refs_of_run(run_dir) == [ScorerRef(name="numeric", params={"tolerance": 0.5})]
    with pytest.raises(StoreError, match=r"no run database"):
        score_run(tmp_path / "nowhere", [ScorerRef(name="numeric")])


def test_bad_scorer_fails_before_anything_is_written(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    with pytest.raises(ConfigError):
        score_run(run_dir, [ScorerRef(name="numeric", params={"tolerence": 1})])
    assert rows(run_dir, "SELECT COUNT(*) FROM scores") == [(0,)]


class CountingJudge:
    model = "judge-x"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, messages: list[dict[str, str]], settings: dict[str, Any]) -> Any:
        self.calls += 1
        return "Fine.\nGRADE: C", Usage(prompt_tokens=10, completion_tokens=3), 0.0001


@pytest.mark.anyio
async def test_judge_calls_are_stored_apart(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    judge = CountingJudge()
    summary = await score_run_async(run_dir, [ScorerRef(name="model_graded")], judge=judge)
    assert judge.calls == 12 and summary.judge_calls == 12
    assert summary.judge_cost == pytest.approx(0.0012)
    stored = rows(run_dir, "SELECT model, prompt_tokens, completion_tokens, cost, pass_id FROM judge_calls")
    assert len(stored) == 12 and set(stored) == {("judge-x", 10, 3, 0.0001, 1)}
    # the run's own usage is untouched
    assert rows(run_dir, "SELECT COUNT(*) FROM results WHERE cost IS NOT NULL") == [(0,)]


@pytest.mark.anyio
async def test_sync_score_run_works_inside_an_event_loop(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    summary = score_run(run_dir, [ScorerRef(name="numeric")])
    assert summary.scorers["numeric"].n == 12


@pytest.mark.anyio
async def test_model_graded_through_the_sim_server(tmp_path: Path) -> None:
    """A judge over a real provider: the embedded sim server on loopback answers the rubric."""
    pytest.importorskip("runners.providers")
    from evals.scorers.model_graded import ProviderJudge
    from evals.suite import Target
    from runners.providers import open_provider

    run_dir = make_run(tmp_path)
    target = Target(
        provider="sim",
        sim={"zero_latency": True, "base_accuracy": 1.0, "temperature_slope": 0.0, "top_p_slope": 0.0},
    )
    rubric = "Grade this answer: {output}. [[answer:GRADE: C]]"
    async with open_provider(target) as provider:
        judge = ProviderJudge(provider, target.model)
        summary = await score_run_async(
            run_dir, [ScorerRef(name="model_graded", params={"rubric": rubric})], judge=judge
        )
    assert summary.judge_calls == 12
    graded = summary.scorers["model_graded"]
    assert graded.n_errors == 0 and graded.n_passed == 12
    stored = rows(run_dir, "SELECT model, prompt_tokens, completion_tokens, cost, output FROM judge_calls")
    assert len(stored) == 12
    assert all(r[0] == target.model and r[1] and r[2] and r[4] == "GRADE: C" for r in stored)


# -- the command --------------------------------------------------------------------------------


def test_cli_rescores_with_given_scorers(tmp_path: Path) -> None:
    from evals.cli import cli

    run_dir = make_run(tmp_path)
    runner = CliRunner()
    result = runner.invoke(cli, ["score", str(run_dir), "--scorer", "numeric:{tolerance: 1.0}", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["pass_id"] == 1 and data["scorers"]["numeric"]["passed"] == 8
    default = runner.invoke(cli, ["score", str(run_dir)])  # the run's own scorers
    assert default.exit_code == 0 and "scoring pass 2" in default.output


def test_cli_refuses_unknown_scorers_and_missing_judges(tmp_path: Path) -> None:
    from evals.cli import main

    run_dir = make_run(tmp_path)
    for args, message in (
        (["score", str(run_dir), "--scorer", "nope"], "unknown scorer"),
        (["score", str(run_dir), "--scorer", "model_graded"], "needs a judge"),
        (["score", str(run_dir), "--scorer", "numeric:[1, 2]"], "mapping"),
    ):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 2, message


# -- the bundled suites -------------------------------------------------------------------------

SUITES = sorted((ROOT / "suites").glob("*.yaml"))


def test_all_seven_suites_are_bundled() -> None:
    names = {p.stem for p in SUITES}
    assert {
        "smoke",
        "humaneval",
        "arithmetic",
        "instructions",
        "sweep-sampling",
        "latency",
        "ci-regression",
    } <= names


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.stem)
def test_bundled_suite_loads_and_its_scorers_prepare(path: Path) -> None:
    from evals.scoring import prepare_scorers
    from evals.suite_loader import load_suite

    loaded = load_suite(path)
    assert loaded.suite.scorers, "every bundled suite scores something"
    prepare_scorers(loaded.suite.scorers)
    text = path.read_text()
    assert text.startswith("#") and "Time:" in text and "Measures:" in text


def test_instructions_suite_has_fifty_checkable_prompts() -> None:
    import yaml

    from evals.scorers.instructions import parse_instruction

    data = yaml.safe_load((ROOT / "suites" / "instructions.yaml").read_text())
    samples = data["dataset"]["samples"]
    assert len(samples) >= 50 and len({s["id"] for s in samples}) == len(samples)
    for sample in samples:
        for item in sample["instructions"]:
            parse_instruction(item)


def test_aggregates_use_each_scorers_newest_pass(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    score_run(run_dir, [ScorerRef(name="numeric"), ScorerRef(name="finish_reason")])
    score_run(run_dir, [ScorerRef(name="numeric", params={"tolerance": 1.0})])
    groups = {(g.cell_id, g.sample_id, g.scorer): g for g in run_aggregates(run_dir)}
    assert groups[("c2", "q1", "numeric")].n_passed == 2  # pass 2
    assert groups[("c2", "q1", "finish_reason")].n_passed == 3  # still pass 1
    only_first = {(g.cell_id, g.sample_id, g.scorer): g for g in run_aggregates(run_dir, pass_id=1)}
    assert only_first[("c2", "q1", "numeric")].n_passed == 1


# -- majority vote over stored answers ------------------------------------------------------------

VOTES = {
    ("c1", "agree"): ["7", "7", "9"],  # passes 1, 1, 0: the majority answer 7 is right
    ("c1", "split"): ["9", "9", "7"],  # passes 0, 0, 1: the majority answer 9 is wrong, though any = 1
    ("c1", "tie"): ["7", "8", "9"],  # passes 1, 0, 0: a three-way tie goes to 7, given first
    ("c1", "tie_late"): ["8", "7", "9"],  # passes 0, 1, 0: the tie goes to 8, given first: wrong
    ("c1", "unanswered"): ["7", "none", "none"],  # only 7 was extracted: results without one do not vote
}


def vote_run(tmp_path: Path) -> Path:
    return make_run(tmp_path, answers=VOTES, targets={sample: 7 for _, sample in VOTES})


def test_stored_runs_vote_on_the_extracted_answers(tmp_path: Path) -> None:
    run_dir = vote_run(tmp_path)
    score_run(run_dir, [ScorerRef(name="numeric")])
    assert rows(
        run_dir, "SELECT result_index, answer, passed FROM scores WHERE task_id = 'c1-agree' ORDER BY 1"
    ) == [(0, "7", 1), (1, "7", 1), (2, "9", 0)]
    assert rows(
        run_dir, "SELECT answer FROM scores WHERE task_id = 'c1-unanswered' ORDER BY result_index"
    ) == [
        ("7",),
        (None,),
        (None,),
    ]
    groups = {g.sample_id: g for g in run_aggregates(run_dir)}
    assert (groups["agree"].n_passed, groups["agree"].any, groups["agree"].majority) == (2, 1.0, 1.0)
    assert (groups["split"].n_passed, groups["split"].any, groups["split"].majority) == (1, 1.0, 0.0)
    assert (groups["tie"].n_passed, groups["tie"].majority) == (1, 1.0)  # a verdict vote would say 0
    assert (groups["tie_late"].n_passed, groups["tie_late"].majority) == (1, 0.0)
    assert (groups["unanswered"].n_passed, groups["unanswered"].majority) == (1, 1.0)
    # The same rule as the in-memory aggregate, given the same scores in the same order.
    numeric = [ScorerRef(name="numeric")]
    for (_, sample_id), texts in VOTES.items():
        sample = Sample(id=sample_id, input="q", target=7)
        scored = [
            score_result(f"The answer is {t}", sample=sample, scorers=numeric)["numeric"] for t in texts
        ]
        assert aggregate(scored, "majority") == groups[sample_id].majority


def test_scorers_without_answers_and_old_rows_vote_on_verdicts(tmp_path: Path) -> None:
    run_dir = vote_run(tmp_path)
    score_run(run_dir, [ScorerRef(name="includes")])  # extracts no answer
    assert rows(run_dir, "SELECT COUNT(*) FROM scores WHERE answer IS NOT NULL") == [(0,)]
    groups = {g.sample_id: g for g in run_aggregates(run_dir)}
    assert (groups["agree"].majority, groups["tie"].majority, groups["unanswered"].majority) == (
        1.0,
        0.0,
        0.0,
    )


def test_scoring_a_version_3_run_migrates_it_first(tmp_path: Path) -> None:
    from evals.store import SCHEMA_VERSION, stored_version

    run_dir = vote_run(tmp_path)
    score_run(run_dir, [ScorerRef(name="numeric")])
    with sqlite3.connect(run_dir / "run.sqlite") as conn:  # make it a run scored by a version 3 harness
        conn.execute("ALTER TABLE scores DROP COLUMN answer")
        conn.execute("INSERT INTO schema_version(version) VALUES (3)")
    old = {g.sample_id: g.majority for g in run_aggregates(run_dir)}  # read as it is, not migrated
    assert old["tie"] == 0.0  # no answers stored: a vote on the verdicts
    score_run(run_dir, [ScorerRef(name="numeric")])
    with sqlite3.connect(run_dir / "run.sqlite") as conn:
        assert stored_version(conn) == SCHEMA_VERSION
    assert rows(run_dir, "SELECT pass_id, COUNT(answer), COUNT(*) FROM scores GROUP BY 1 ORDER BY 1") == [
        (1, 0, 15),
        (2, 13, 15),
    ]
    assert {g.sample_id: g.majority for g in run_aggregates(run_dir)}["tie"] == 1.0
    assert {g.sample_id: g.majority for g in run_aggregates(run_dir, pass_id=1)} == old
