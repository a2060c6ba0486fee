"""Per-trainee history across exercises, in SQLite: one row per (trainee, exercise).

Scoring the same exercise again updates its figures and keeps the date it was first scored, so
the trend shows each exercise once, in the order the trainee took them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from backscatter.audit import utc_now
from backscatter.exercise import ExerciseError
from backscatter.exercise.score import Score

#: figures stored per exercise (columns, in order)
FIGURES: tuple[str, ...] = (
    "n_threat",
    "n_clean",
    "hit_rate",
    "false_alarm_rate",
    "d_prime",
    "a_prime",
    "located_rate",
    "mean_time_s",
    "median_time_s",
)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS history (
    trainee TEXT NOT NULL,
    exercise TEXT NOT NULL,
    scored_at TEXT NOT NULL,
    {", ".join(f"{f} REAL" for f in FIGURES)},
    report TEXT,
    PRIMARY KEY (trainee, exercise)
);
"""


class History:
    """An open history database (created when missing)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = sqlite3.connect(str(self.path), isolation_level=None, timeout=10.0)
            self._con.executescript(_SCHEMA)
            cols = [r[1] for r in self._con.execute("PRAGMA table_info(history)")]
        except sqlite3.DatabaseError as exc:
            raise ExerciseError(f"{self.path}: not a history database ({exc})") from None
        expected = ["trainee", "exercise", "scored_at", *FIGURES, "report"]
        if cols != expected:
            self._con.close()
            raise ExerciseError(f"{self.path}: expected history columns {expected}, got {cols}")

    def record(self, score: Score, *, report: str = "", scored_at: str | None = None) -> None:
        """Store (or update) the figures of ``score`` for its trainee and exercise."""
        if not score.trainee or not score.exercise:
            raise ExerciseError("history: a score needs a trainee and an exercise id")
        values = [getattr(score, f) for f in FIGURES]
        updates = ", ".join(f"{f} = excluded.{f}" for f in (*FIGURES, "report"))
        self._con.execute(
            f"INSERT INTO history (trainee, exercise, scored_at, {', '.join(FIGURES)}, report) "
            f"VALUES (?, ?, ?, {', '.join('?' * len(FIGURES))}, ?) "
            f"ON CONFLICT (trainee, exercise) DO UPDATE SET {updates}",
            [score.trainee, score.exercise, scored_at or utc_now(), *values, report],
        )

    def trend(self, trainee: str) -> list[dict[str, Any]]:
        """The trainee's exercises, oldest first, as dicts of the stored columns."""
        self._con.row_factory = sqlite3.Row
        rows = self._con.execute(
            "SELECT * FROM history WHERE trainee = ? ORDER BY scored_at, exercise", (trainee,)
        ).fetchall()
        self._con.row_factory = None
        return [dict(r) for r in rows]

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
