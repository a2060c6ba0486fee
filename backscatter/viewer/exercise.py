"""Exercise mode of the viewer: a trainee answers an exercise's scans against the clock.

Wraps the review session and :class:`~backscatter.viewer.window.Viewer` without changing them:
no machine overlays unless asked (no detector runs), a decision timer in the status bar, and an
optional time limit per scan. A scan left undecided when its time runs out is recorded as CLEAR
with the note ``time limit`` (the bag went through unsearched), exactly as an officer's decision
would be: audit row first, then the next scan. Only ``EX/scans/`` is opened; the answer key in
``EX/key/`` never is.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from backscatter.audit import AuditLog, SigningKey
from backscatter.viewer.review import Decision, ReviewItem, ReviewSession
from backscatter.viewer.state import StatusInfo
from backscatter.viewer.window import Viewer

TITLE = "backscatter exercise"
#: note stored on the audit row of a scan whose time ran out
TIME_LIMIT_NOTE = "time limit"


def exercise_items(exercise: str | Path) -> list[ReviewItem]:
    """Review items of the exercise's trainee scans (``EX/scans/*.dcm``, in name order)."""
    from backscatter.exercise import SCANS_DIR, ExerciseError

    folder = Path(exercise) / SCANS_DIR
    if not folder.is_dir():
        raise ExerciseError(f"{exercise}: not an exercise folder ({folder} missing)")
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() == ".dcm" and f.is_file())
    if not files:
        raise ExerciseError(f"{folder}: no scans")
    return [ReviewItem(source=str(f)) for f in files]


def audit_path(exercise: str | Path, trainee: str) -> Path:
    from backscatter.exercise import AUDIT_DIR

    return Path(exercise) / AUDIT_DIR / f"{trainee}.db"


class ExerciseViewer(Viewer):
    """A :class:`Viewer` with a decision timer and an optional per-scan time limit (seconds)."""

    def __init__(
        self, session: ReviewSession, *, time_limit_s: float | None = None, **kwargs: Any
    ) -> None:
        kwargs.setdefault("title", TITLE)
        super().__init__(session, **kwargs)
        if time_limit_s is not None and not time_limit_s > 0:
            raise ValueError(f"time limit: expected > 0 seconds, got {time_limit_s}")
        self.time_limit_s = time_limit_s
        self._tick = 0.0

    def elapsed(self) -> float:
        """Seconds the current scan has been on screen."""
        return time.monotonic() - self._shown_at

    def _status(self, item: ReviewItem | None, *, note: str = "") -> StatusInfo:
        base = super()._status(item, note=note)
        if item is None or item.decision is not None:
            clock = "EXERCISE"
        elif self.time_limit_s is not None:
            clock = f"EXERCISE {self.elapsed():4.1f} / {self.time_limit_s:g} s"
        else:
            clock = f"EXERCISE {self.elapsed():4.1f} s"
        return StatusInfo(**{**base.__dict__, "extra": (clock,)})

    def _poll_live(self) -> None:
        super()._poll_live()
        now = time.monotonic()
        if now - self._tick >= 0.25:  # repaint the clock
            self._tick = now
            self._dirty = True
        self.check_time_limit()

    def check_time_limit(self) -> bool:
        """Record CLEAR (note ``time limit``) when the current scan's time is up; True if so."""
        item = self.session.current
        if (
            self.time_limit_s is None
            or item is None
            or item.decision is not None
            or item.scan is None
            or self.elapsed() < self.time_limit_s
        ):
            return False
        item.note = "; ".join(s for s in (item.note, TIME_LIMIT_NOTE) if s)
        self.min_view_s, saved = 0.0, self.min_view_s
        try:
            self._decide(Decision.CLEAR)
        finally:
            self.min_view_s = saved
        self.message = f"time is up: {item.label} recorded as CLEAR"
        return True


def exercise_session(
    exercise: str | Path, trainee: str, audit: AuditLog, *, detector: Any = None
) -> ReviewSession:
    """The review session over the exercise's scans for ``trainee``.

    ``detector`` (a Detector) gives machine flags; with None (the default) no detector runs and
    every scan carries no flags (status ``NO MODEL``). Operator TDRs go to
    ``EX/audit/TRAINEE_tdr/``.
    """
    from backscatter.detections import Detections

    items = exercise_items(exercise)
    session = ReviewSession(
        items,
        operator=trainee,
        audit=audit,
        tdr_dir=audit_path(exercise, trainee).parent / f"{trainee}_tdr",
        detector=detector,
        detector_note="exercise: no machine flags",
    )
    if detector is None:
        for it in session.items:
            it.detections = Detections.empty()
            it.machine_alarm = "NO MODEL"
    return session


def run_exercise(
    exercise: str | Path,
    trainee: str,
    *,
    time_limit_s: float | None = None,
    detector: Any = None,
    size: tuple[int, int] = (760, 1280),
    max_seconds: float | None = None,
    key: SigningKey | None = None,
) -> ReviewSession:
    """Open the exercise's scans for ``trainee`` in the exercise window until they quit.

    Decisions go to ``EX/audit/TRAINEE.db``, signed with ``key`` when given (see
    :func:`exercise_session` for the rest).
    """
    from backscatter.viewer.state import ViewState

    with AuditLog(audit_path(exercise, trainee), key=key) as audit:
        session = exercise_session(exercise, trainee, audit, detector=detector)
        state = ViewState(threshold=float(getattr(detector, "threshold", 0.5)))
        ExerciseViewer(session, time_limit_s=time_limit_s, size=size, state=state).run(
            max_seconds=max_seconds
        )
    return session
