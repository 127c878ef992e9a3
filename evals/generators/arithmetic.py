"""Seeded arithmetic word problems: a known answer for every question, no download needed.

``difficulty`` (1..5) sets both the number of steps (difficulty + 1 quantities) and the size of the
numbers (up to 10**difficulty). Each problem is drawn from its own random stream, keyed by the seed
and its index, so problem ``i`` is the same whatever ``n`` is.
"""

from __future__ import annotations

import random
from typing import Any

from evals.generators import generator

_ITEMS = ("apples", "books", "coins", "marbles", "stamps", "tickets", "pencils", "shells")
_NAMES = ("Ada", "Ben", "Chloe", "Dev", "Emil", "Farah", "Gus", "Hana")


def _problem(rng: random.Random, difficulty: int) -> tuple[str, str, int]:
    top = 10**difficulty
    name = rng.choice(_NAMES)
    item = rng.choice(_ITEMS)
    value = rng.randint(1, top)
    words = [f"{name} has {value} {item}."]
    expression = str(value)
    for _ in range(difficulty):
        op = rng.choice(("+", "-", "*") if difficulty >= 2 else ("+", "-"))
        if op == "+":
            amount = rng.randint(1, top)
            words.append(f"{name} gets {amount} more.")
            value += amount
        elif op == "-":
            # Never below zero: a count of things cannot go negative in a word problem.
            amount = rng.randint(0, value)
            words.append(f"{name} gives away {amount}.")
            value -= amount
        else:
            amount = rng.randint(2, 3 + difficulty)
            words.append(f"Then the number of {item} is multiplied by {amount}.")
            value *= amount
        expression = f"({expression} {op} {amount})"
    words.append(f"How many {item} does {name} have now?")
    return " ".join(words), expression, value


@generator("arithmetic")
def arithmetic(*, seed: int, n: int = 20, difficulty: int = 1) -> list[dict[str, Any]]:
    """``n`` word problems; ``target`` is the integer answer, ``expression`` the sum behind it."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(difficulty, bool) or not isinstance(difficulty, int) or not 1 <= difficulty <= 5:
        raise ValueError(f"difficulty must be an integer from 1 to 5, got {difficulty!r}")
    rows = []
    for index in range(n):
        rng = random.Random(f"arithmetic:{seed}:{difficulty}:{index}")
        question, expression, answer = _problem(rng, difficulty)
        rows.append(
            {
                "id": f"arithmetic-{seed}-{difficulty}-{index}",
                "input": question,
                "target": answer,
                "expression": expression,
                "difficulty": difficulty,
            }
        )
    return rows
